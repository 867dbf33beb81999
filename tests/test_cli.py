"""The command line as a user meets it: real subprocesses, real files, one-paragraph errors."""

from __future__ import annotations

import json
import zipfile

import pytest
from kernel_support import REPO, SHARED_DOCUMENTS, run_cli

EXAMPLES = REPO / "examples"


@pytest.mark.slow
def test_example_workflow_over_example_documents_writes_real_files(tmp_path):
    result = run_cli("run", EXAMPLES / "workflows" / "report.toml", EXAMPLES / "documents", cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Batch succeeded: 5 succeeded." in result.stdout
    out = next((tmp_path / "paperchain-output").iterdir())
    assert str(out.resolve()) in result.stdout.replace("\n", "")
    invoice = out / "0002-invoice-2026-031"
    assert "Invoice 2026-031" in (invoice / "invoice-2026-031.md").read_text()
    assert (invoice / "invoice-2026-031.pdf").read_bytes().startswith(b"%PDF-")
    bundle = next(out.glob("*.zip"))
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert len(manifest["documents"] if "documents" in manifest else manifest["items"]) == 5

    shown = run_cli("documents", "search", "invoice AND VAT", cwd=tmp_path)
    assert "invoice-2026-031.txt" in shown.stdout
    runs = run_cli("runs", "list", cwd=tmp_path)
    assert runs.returncode == 0 and runs.stdout.count("succeeded") >= 5


def test_bad_inputs_fail_their_own_runs_and_the_batch_goes_on(tmp_path):
    (tmp_path / "good.txt").write_text("fine text")
    (tmp_path / "fake.pdf").write_bytes((SHARED_DOCUMENTS / "typewriter.png").read_bytes()[:4096] if SHARED_DOCUMENTS.exists() else b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    (tmp_path / "empty.txt").write_text("")
    wf = tmp_path / "w.toml"
    wf.write_text('name = "w"\n[[steps]]\nid = "text"\nuses = "document.text"\n')
    result = run_cli("run", wf, tmp_path / "good.txt", tmp_path / "fake.pdf", tmp_path / "empty.txt",
                     tmp_path / "missing.txt", cwd=tmp_path)
    assert result.returncode == 1
    out = " ".join(result.stdout.split())
    assert "fake.pdf is named like application/pdf but its content is image/png" in out
    assert "empty.txt is empty (0 bytes)" in out
    assert "missing.txt does not exist" in out
    assert "1 succeeded" in out and "3 failed" in out


def test_invalid_pdf_gets_a_clear_step_error(tmp_path):
    if not SHARED_DOCUMENTS.exists():
        pytest.skip("shared test documents not found")
    wf = tmp_path / "w.toml"
    wf.write_text('name = "w"\n[[steps]]\nid = "text"\nuses = "document.text"\n')
    result = run_cli("run", wf, SHARED_DOCUMENTS / "invalid.pdf", cwd=tmp_path)
    assert result.returncode == 1
    assert "invalid.pdf is not a readable PDF" in " ".join(result.stdout.split())


def test_errors_are_one_paragraph_and_debug_shows_the_traceback(tmp_path):
    wf = tmp_path / "w.toml"
    wf.write_text('name = "w"\n[[steps]]\nid = "a"\nuses = "export.pfd"\n')
    plain = run_cli("run", wf, cwd=tmp_path)
    assert plain.returncode == 2
    assert plain.stderr.startswith("Error: workflow 'w'")
    assert "did you mean 'export.pdf'" in plain.stderr and "Traceback" not in plain.stderr
    debug = run_cli("--debug", "run", wf, cwd=tmp_path)
    assert "Traceback" in debug.stderr
    missing = run_cli("run", tmp_path / "nope.toml", cwd=tmp_path)
    assert missing.returncode == 2 and "nope.toml does not exist" in missing.stderr


def test_workflows_validate(tmp_path):
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text('name = "g"\n[[steps]]\nid = "a"\nuses = "document.text"\n')
    bad.write_text('name = "b"\n[[steps]]\nid = "a"\nuses = "document.text"\nneeds = ["zz"]\n')
    result = run_cli("workflows", "validate", good, bad, cwd=tmp_path)
    assert result.returncode == 1
    assert f"{good}: valid" in result.stdout and f"{bad}: invalid" in result.stdout


def test_plugins_and_components_listings(tmp_path):
    listing = json.loads(run_cli("plugins", "list", "--json", cwd=tmp_path).stdout)
    by_name = {p["name"]: p for p in listing["plugins"]}
    assert by_name["export"]["distribution"] == "paperchain-export"
    assert "export.pdf" in by_name["export"]["components"]["exporter"]
    components = json.loads(run_cli("components", "list", "--kind", "action", "--json", cwd=tmp_path).stdout)
    text = next(c for c in components if c["name"] == "document.text")
    assert text["cpu_bound"] and "max_pages" in text["settings"]


def test_bad_search_syntax_is_explained(tmp_path):
    result = run_cli("documents", "search", '"unclosed', cwd=tmp_path)
    assert result.returncode == 2 and "is not valid" in result.stderr


def test_run_with_inputs_and_no_files(tmp_path):
    wf = tmp_path / "w.toml"
    wf.write_text('name = "w"\n[[steps]]\nid = "t"\nuses = "document.text"\n')
    result = run_cli("run", wf, "-i", "lang=eng", cwd=tmp_path)
    assert result.returncode == 1
    assert "needs a document" in " ".join(result.stdout.split())
