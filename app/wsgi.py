"""WSGI entry points for production servers: `app.wsgi:reporter` and `app.wsgi:inspector`."""

from app import create_inspector_app, create_reporter_app

reporter = create_reporter_app()
inspector = create_inspector_app()
