"""gunicorn configuration of the inspector site: `gunicorn -c deploy/gunicorn/inspector.conf.py app.wsgi:inspector`.

The settings (bind, workers, timeouts, limits, address-free logging) are in app/gunicorn_config.py;
deploy/README.md explains the environment variables.
"""

from app.gunicorn_config import site_settings

globals().update(site_settings("inspector"))
