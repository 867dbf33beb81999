"""The SDK on its own: records, media sniffing, settings errors and the test helpers."""

import attrs
import pytest

from paperchain_sdk import Artifact, ConfigError, Document, ExporterSpec, sniff_media_type
from paperchain_sdk.settings import structure_settings
from paperchain_sdk.testing import check_spec


def test_document_from_path_hashes_in_chunks(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"x" * (3 * 1024 * 1024 + 5))
    doc = Document.from_path(path)
    import hashlib

    assert doc.id == hashlib.sha256(path.read_bytes()).hexdigest() and doc.size == path.stat().st_size
    assert doc.media_type == "text/plain" and doc.stem == "a"


@pytest.mark.parametrize("head, expected", [
    (b"%PDF-1.7", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff\xe0", "image/jpeg"),
    (b"II*\x00", "image/tiff"), ("héllo".encode(), "text/plain"), (b"\x00\x01", "application/octet-stream"),
])
def test_sniffing(tmp_path, head, expected):
    path = tmp_path / "f"
    path.write_bytes(head)
    assert sniff_media_type(path) == expected


def test_artifact_needs_exactly_one_source():
    with pytest.raises(ValueError, match="neither data nor path"):
        Artifact(name="a", media_type="text/plain")
    with pytest.raises(ValueError, match="both data and path"):
        Artifact(name="a", media_type="text/plain", data=b"x", path="/tmp/x")


@attrs.define
class Options:
    size: int = 1
    mode: str = attrs.field(default="a", validator=attrs.validators.in_(("a", "b")))


def test_settings_errors_are_readable():
    assert structure_settings(Options, {"size": 3}, where="x") == Options(size=3)
    with pytest.raises(ConfigError) as info:
        structure_settings(Options, {"size": 1.5, "mode": "c", "extra": 1}, where="step 's'")
    message = str(info.value)
    assert "size: expected int, got 1.5 (float)" in message and "unknown key(s) extra" in message
    with pytest.raises(ConfigError, match=r"Invalid settings in x: 'mode' must be in \('a', 'b'\) \(got 'c'\)\."):
        structure_settings(Options, {"mode": "c"}, where="x")


def test_spec_names_are_validated():
    with pytest.raises(ValueError, match="is not valid"):
        ExporterSpec(name="Bad Name", impl="x:y")
    with pytest.raises(ValueError, match="must look like"):
        ExporterSpec(name="ok.name", impl="no_colon")


def test_check_spec_catches_an_implementation_that_misses_its_method():
    from paperchain_sdk.contracts import Exporter

    class Half(Exporter):
        pass

    with pytest.raises(AssertionError, match="must implement export"):
        check_spec(ExporterSpec(name="half.export", impl=Half, format="x", media_type="text/x"))
