"""Pure domain core: units, CRS, geometry, jurisdictions, categories and rules.

Nothing in this package imports FastAPI or SQLAlchemy; ``app/`` adapts it to HTTP and the database.
"""
