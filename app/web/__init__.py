"""The web map and officer workbench served at ``/`` (static files; uses the public API only)."""
