"""``evstore ui``: a read-only dashboard over a store, extended by plugins.

Everything a plugin needs to contribute pages and panels (``evstore.ui``) is pure
Python and lives in the modules here that import nothing outside the standard library
and ``evstore``; the server (``_server``, ``_pages``, ``_live``) imports Starlette and
Jinja2, which only the ``ui`` extra installs, and is imported only when it starts.
"""
