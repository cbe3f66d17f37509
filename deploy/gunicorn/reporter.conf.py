"""gunicorn configuration of the reporter site: `gunicorn -c deploy/gunicorn/reporter.conf.py app.wsgi:reporter`.

The settings (bind, workers, timeouts, limits, address-free logging) are in app/gunicorn_config.py;
deploy/README.md explains the environment variables.
"""

from app.gunicorn_config import site_settings

globals().update(site_settings("reporter"))
