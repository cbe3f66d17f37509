"""Chinese is the source language; the English catalog must be complete and compiled."""

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "app/translations/en/LC_MESSAGES/messages.po"
MO = ROOT / "app/translations/en/LC_MESSAGES/messages.mo"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}


def _source_messages() -> set[str]:
    found: set[str] = set()
    for subdir, method in (("app", "python"), ("templates", "jinja2")):
        pattern = "**.py" if method == "python" else "**.html"
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / subdir, method_map=[(pattern, method)], keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog():
    with PO.open("rb") as handle:
        return read_po(handle, locale="en")


def test_every_message_in_the_source_has_an_english_translation():
    catalog = _catalog()
    missing = sorted(m for m in _source_messages() if not (catalog.get(m) and catalog.get(m).string))
    assert not missing, f"{len(missing)} untranslated (run `make translations`, then translate): {missing[:10]}"


def test_no_fuzzy_or_empty_entries():
    bad = [m.id for m in _catalog() if m.id and (m.fuzzy or not m.string)]
    assert not bad, bad[:10]


def test_compiled_catalog_matches_the_po_file():
    with MO.open("rb") as handle:
        compiled = read_mo(handle)
    po = {m.id: m.string for m in _catalog() if m.id and m.string and not m.fuzzy}
    mo = {m.id: m.string for m in compiled if m.id}
    assert po == mo, "run `pybabel compile -d app/translations`"


def test_english_pages_are_english(reporter):
    page = reporter.get("/tip?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Burden type" in page or "burden" in page.lower()
    assert "请至少" not in page


def test_po_is_valid_utf8():
    io.StringIO(PO.read_text(encoding="utf-8"))
