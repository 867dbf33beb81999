"""Fuzz the whole served API: the kernel and every installed plugin's routes, with stateful links.

schemathesis generates cases from the served OpenAPI document (positive and negative), follows
links from what it creates to the operations that read, change and delete it, and checks every
answer: never a 5xx, and always the documented status code, content type and body schema. It
calls as an admin through an API key of its own that it is kept from revoking (see
tests/api/schemathesis_run.py). The run is bounded by schemathesis' time budget.
"""

import json
import subprocess
import sys

import pytest
from kernel_support import REPO

BUDGET_S = 120  # schemathesis' own --max-time; start-up and shutdown come on top


@pytest.mark.slow
def test_full_app_fuzz_finds_no_server_errors_or_schema_violations(tmp_path):
    report = tmp_path / "schemathesis.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "tests" / "api" / "schemathesis_run.py"), str(tmp_path / "data"), "--mode", "full",
         "--max-time", str(BUDGET_S), "--examples", "20", "--report", str(report)],
        capture_output=True, text=True, timeout=BUDGET_S + 240,
    )
    output = result.stdout[-6000:] + result.stderr[-3000:]
    summary = json.loads(report.read_text())
    cases = summary["test_cases"]
    print(f"fuzzed {summary['operations']['tested']} operations, {cases['generated']} cases, "
          f"{cases['unique_failures']} unique failures, {cases['errored']} errors")
    assert summary["operations"]["tested"] >= 60, output  # every plugin's routes were served and fuzzed
    assert summary["phases"]["stateful"]["status"] != "skip", output
    assert result.returncode == 0, output
