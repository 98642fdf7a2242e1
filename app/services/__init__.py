"""Service functions: the SQL and transactions behind the routers (routers stay thin)."""
