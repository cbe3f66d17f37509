"""Input hygiene shared by both sites.

PostgreSQL text cannot hold NUL, and no person types one: NUL in form fields, query strings and
path parts becomes U+FFFD before any view sees it (the text is kept, the byte is not). A database
DataError that still comes from bad input is answered with a clear 400, never a 500.
"""

from urllib.parse import parse_qsl

from flask import Flask, Request, render_template, request
from sqlalchemy.exc import DataError
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

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


URLENCODED_MAX = 1024 * 1024


class TolerantFormDataParser(FormDataParser):
    """Werkzeug decodes a urlencoded body strictly and, when that fails, silently drops the whole
    form: one raw byte that is not UTF-8 would throw away the CSRF token and everything the reporter
    typed (promise 5). Here such a byte becomes U+FFFD, as it does in a multipart text part; and
    the body is bounded, which Werkzeug does not do for urlencoded forms."""

    def _parse_urlencoded(self, stream, mimetype, content_length, options):
        # Werkzeug applies no memory limit to a urlencoded body (it may be MAX_CONTENT_LENGTH, 110 MiB,
        # and decoding percent-escapes costs ~80 bytes of memory per byte). The longest urlencoded
        # forms are the reporter's preview (a valid tip: at most DESCRIPTION_MAX characters, ~9
        # bytes each escaped) and the inspectors' notes and replies; forms with files are multipart.
        limit = URLENCODED_MAX
        if content_length is not None and content_length > limit:
            raise RequestEntityTooLarge()
        raw = stream.read(limit + 1)
        if len(raw) > limit or (self.max_form_parts is not None and raw.count(b"&") >= self.max_form_parts):
            raise RequestEntityTooLarge()
        items = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True,
                          errors="werkzeug.url_quote")
        return stream, self.cls(items), self.cls()


class BoundedRequest(Request):
    """The inspector site's request: the same bounded, tolerant urlencoded parsing."""

    form_data_parser_class = TolerantFormDataParser


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
