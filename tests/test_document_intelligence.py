"""Issue 4's whole chain: OCR -> text analyzers -> vision analyzers -> export, over the shared
test documents, through the command line with the installed plugins."""

import json

import pytest
from kernel_support import REPO, SHARED_DOCUMENTS, run_cli

for plugin in ("paperchain_ocr", "paperchain_text", "paperchain_vision", "paperchain_export"):
    pytest.importorskip(plugin, reason=f"{plugin} is not installed (make setup installs every plugin)")


@pytest.mark.slow
def test_intelligence_workflow_over_the_shared_documents(tmp_path):
    (tmp_path / "plugins.toml").write_text('[paperchain]\ndata_dir = "data"\n')
    result = run_cli("run", REPO / "examples" / "workflows" / "intelligence.toml", SHARED_DOCUMENTS,
                     "--out", tmp_path / "out", cwd=tmp_path, timeout=580)
    assert result.returncode == 1, result.stdout + result.stderr  # the batch holds bad files
    output = result.stdout + result.stderr
    assert "invalid.pdf: step 'ocr' failed: invalid.pdf is not a readable PDF" in output
    assert "Batch failed: 2 failed, 8 succeeded." in output
    batch = next((tmp_path / "out").iterdir())
    searchable = sorted(p.name for p in batch.rglob("*.searchable.pdf"))
    assert "typewriter.searchable.pdf" in searchable and "multipage.searchable.pdf" in searchable
    findings = json.loads(next(batch.rglob("typewriter.json")).read_text())
    text = json.dumps(findings)
    for analyzer in ("text.language", "text.keywords", "text.entities", "text.summary", "text.near_duplicates",
                     "vision.colors", "vision.quality", "vision.hashes"):
        assert analyzer in text, analyzer
