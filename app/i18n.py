"""Simplified Chinese by default, English on request (?lang=en), carried along every link and form.

The language is never guessed from Accept-Language: a reporter's page must be Chinese unless they ask,
and no cookie or header decides it.
"""

from functools import cache
from pathlib import Path

from babel import support
from flask import Flask, g, request
from flask_babel import Babel
from wtforms.i18n import messages_path

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


def select_locale() -> str:
    lang = request.args.get("lang", "") if request else ""
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


@cache
def _wtforms_catalog(lang: str) -> support.NullTranslations:
    return support.Translations.load(messages_path(), [lang], domain="wtforms")


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_locale=DEFAULT_LANGUAGE,
          default_translation_directories=str(TRANSLATIONS_DIR), default_timezone="Asia/Shanghai")

    @app.before_request
    def _remember_language() -> None:
        g.lang = select_locale()
        # WTForms' own messages: Flask-WTF would read and parse their catalogue from disk on every
        # request that builds a form (it caches it on the request); one parsed copy per language
        # serves every request of this process.
        request.wtforms_translations = _wtforms_catalog(g.lang)  # type: ignore[attr-defined]

    @app.url_defaults
    def _carry_language(endpoint: str, values: dict) -> None:
        lang = g.get("lang", DEFAULT_LANGUAGE)
        if lang != DEFAULT_LANGUAGE and "lang" not in values and endpoint != "static":
            values["lang"] = lang

    @app.context_processor
    def _languages() -> dict:
        return {"current_lang": g.get("lang", DEFAULT_LANGUAGE), "html_lang":
                "zh-Hans" if g.get("lang", DEFAULT_LANGUAGE) == "zh" else "en"}
