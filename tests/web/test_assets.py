"""The UI's files: vendored files match their recorded hashes, every string has its Spanish
translation, and no template carries what the Content-Security-Policy would block."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from paperchain.web import i18n, vendor

WEB = Path(vendor.__file__).parent


def test_vendored_files_match_the_vendor_list():
    assert vendor.entries() and vendor.check() == []


def test_a_changed_vendored_file_is_caught(tmp_path, monkeypatch):
    (tmp_path / "VENDOR").write_text((vendor.VENDOR_DIR / "VENDOR").read_text())
    for entry in vendor.entries():
        (tmp_path / entry.file).write_bytes((vendor.VENDOR_DIR / entry.file).read_bytes())
    (tmp_path / "htmx.min.js").write_bytes(b"alert(1)")
    monkeypatch.setattr(vendor, "VENDOR_DIR", tmp_path)
    monkeypatch.setattr(vendor, "LIST", tmp_path / "VENDOR")
    assert vendor.check() == ["htmx.min.js does not match its SHA-256 in VENDOR"]


def _messages() -> set[str]:
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    return {m[2] if isinstance(m[2], str) else m[2][0]
            for m in extract_from_dir(str(WEB), method_map, keywords={"_": None, "gettext": None})}


def test_every_string_of_the_ui_has_a_spanish_translation():
    with (i18n.CATALOGS / "es" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        spanish = {m.id: m.string for m in read_po(f) if m.id}
    def translated(message) -> bool:  # a plural needs every one of Spanish's forms
        found = spanish.get(message)
        return bool(found) and (isinstance(found, str) or all(found))

    untranslated = sorted((m for m in _messages() if not translated(m)), key=str)
    assert untranslated == [], "run `make messages` and translate these in catalogs/es/LC_MESSAGES/messages.po"
    assert i18n.translations("es").gettext("Runs") == "Ejecuciones"


def test_templates_have_no_inline_script_style_or_event_handlers():
    for template in (WEB / "templates").glob("*.html"):
        text = template.read_text()
        # data for a script (type="application/json") is never run, so the CSP allows it
        assert not re.search(r'<script(?![^>]*\bsrc=)(?![^>]*type="application/json")[^>]*>', text), template.name
        assert not re.search(r"<style|\sstyle=|\shx-on|\son[a-z]+=", text), template.name


def test_the_language_comes_from_the_switch_then_the_browser():
    assert i18n.choose(None, "es-MX,es;q=0.9,en;q=0.8") == "es"
    assert i18n.choose(None, "fr, en;q=0.5, es;q=0.8") == "es"
    assert i18n.choose(None, "es;q=0, en") == "en"
    assert i18n.choose("en", "es") == "en"
    assert i18n.choose(None, None) == "en"
    assert i18n.Formatter("es").number(1234567) == "1.234.567"
    assert i18n.Formatter("en").number(1234567) == "1,234,567"
