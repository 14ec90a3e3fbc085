"""`unembed serve`: the REST API and the demo page (needs the `server` extra)."""
from .app import create_app, serve

__all__ = ["create_app", "serve"]
