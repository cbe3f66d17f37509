"""Input hygiene shared by both sites.

PostgreSQL text cannot hold NUL, and no person types one: NUL in form fields, query strings and
path parts becomes U+FFFD before any view sees it (the text is kept, the byte is not). A database
DataError that still comes from bad input is answered with a clear 400, never a 500.
"""

from flask import Flask, render_template, request
from sqlalchemy.exc import DataError
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import BadRequest

from app.db import get_session

_NUL = "\x00"


def _clean(value):
    return value.replace(_NUL, "\ufffd") if isinstance(value, str) and _NUL in value else value


def _clean_multidict(data):
    # A multipart part without a usable name (no name=, or name="x\") comes with the key None.
    if not any((isinstance(key, str) and _NUL in key) or (isinstance(v, str) and _NUL in v)
               for key, v in data.items(multi=True)):
        return data
    return ImmutableMultiDict([(_clean(k), _clean(v)) for k, v in data.items(multi=True)])


def init_app(app: Flask) -> None:
    @app.before_request
    def _scrub_nul() -> None:
        if request.view_args:
            request.view_args = {k: _clean(v) for k, v in request.view_args.items()}
        request.args = _clean_multidict(request.args)
        if request.method in {"POST", "PUT", "PATCH"}:
            request.form = _clean_multidict(request.form)

    @app.errorhandler(DataError)
    def _data_error(_error: DataError):
        get_session().rollback()
        return render_template("errors/error.html", error=BadRequest()), 400
