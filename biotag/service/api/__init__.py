"""HTTP only: app factory, routes, schemas, the error table, middleware, app state, and the
web page (``page.py`` and the static files it serves)."""
