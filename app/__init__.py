"""Application factories: the reporter site and the inspector site are separate WSGI apps.

They share the database and the templates, and can run on different hosts.
"""

from pathlib import Path
from typing import Any

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app import db, i18n, inputs, security
from app.config import ConfigError, load_config
from app.flood import services as flood
from app.sessions import EncryptedSessionInterface

_PACKAGE_DIR = Path(__file__).resolve().parent


def _templates_dir() -> str:
    # Installed wheels carry the templates inside the package; a source checkout has them at the top.
    for candidate in (_PACKAGE_DIR / "_templates", _PACKAGE_DIR.parent / "templates"):
        if candidate.is_dir():
            return str(candidate)
    raise RuntimeError("templates not found")


def _create_app(site: str, cookie_name: str, config: dict[str, Any] | None) -> Flask:
    app = Flask(site, template_folder=_templates_dir(), static_folder=str(_PACKAGE_DIR / "static"))
    settings = load_config(config)
    app.config.update(settings)
    app.config.update(
        SITE=site,
        # The Referer is suppressed everywhere (Referrer-Policy: no-referrer), so Flask-WTF's
        # HTTPS referrer check would refuse every form; SameSite=Strict cookies + token do the work.
        WTF_CSRF_SSL_STRICT=False,
        WTF_CSRF_TIME_LIMIT=settings["WTF_CSRF_TIME_LIMIT"],
        # Room for an over-long text to reach the validator and come back to the reporter intact.
        MAX_FORM_MEMORY_SIZE=8 * 1024 * 1024,
        SEND_FILE_MAX_AGE_DEFAULT=0,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.session_interface = EncryptedSessionInterface(
        site=site,
        cookie_name=cookie_name,
        idle_seconds=settings["SESSION_IDLE_MINUTES"] * 60,
        absolute_seconds=settings["INSPECTOR_SESSION_ABSOLUTE_HOURS"] * 3600,
    )
    try:
        app.extensions["tipline_flood"] = flood.settings_from_config(app.config)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    db.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    inputs.init_app(app)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        return render_template("errors/error.html", error=error), error.code

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError):
        return render_template("errors/error.html", error=error), 400

    return app


def create_reporter_app(config: dict[str, Any] | None = None) -> Flask:
    app = _create_app("reporter", "tl_r", config)
    from app.analytics.public import bp as transparency_bp
    from app.evidence.spool import SpoolingRequest
    from app.reporting.views import bp as reporting_bp

    # Uploads go into encrypted spools, never into Werkzeug's plaintext temporary files.
    app.request_class = SpoolingRequest

    app.register_blueprint(reporting_bp)
    app.register_blueprint(transparency_bp)
    return app


def create_inspector_app(config: dict[str, Any] | None = None) -> Flask:
    app = _create_app("inspector", "tl_i", config)
    from app.analytics.services import derive_facts
    from app.triage.index import TipIndex

    app.request_class = inputs.BoundedRequest
    index = app.extensions["tipline_index"] = TipIndex(idle_seconds=app.config["SESSION_IDLE_MINUTES"] * 60,
                                                       complete=derive_facts)
    app.before_request(index.sweep)
    from app.admin.views import bp as admin_bp
    from app.analytics.views import bp as analytics_bp
    from app.evidence.views import bp as evidence_bp
    from app.inspectors.views import bp as inspectors_bp
    from app.triage.views import bp as triage_bp

    app.register_blueprint(inspectors_bp)
    app.register_blueprint(triage_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(evidence_bp)
    app.register_blueprint(analytics_bp)
    return app
