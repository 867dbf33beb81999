"""The SDK's database fixtures: without PostgreSQL the PostgreSQL half skips naming the package to
install, except under CI=true, where it fails; ``-m "not postgres"`` runs the SQLite half alone."""

from __future__ import annotations

import os
import subprocess
import sys

TEST = '''
def test_either(database_url):
    assert database_url.startswith(("sqlite+aiosqlite:///", "postgresql+asyncpg://"))
'''


def _pytest(tmp_path, *args, **env):
    (tmp_path / "test_it.py").write_text(TEST)
    environment = {**os.environ, "PAPERCHAIN_POSTGRES_BIN": str(tmp_path / "no-postgresql"), "CI": "", **env}
    done = subprocess.run([sys.executable, "-m", "pytest", "-rs", "-q", "-p", "no:cacheprovider", "test_it.py", *args],
                          cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout


def test_without_postgresql_its_half_is_skipped_naming_the_package(tmp_path):
    code, out = _pytest(tmp_path)
    assert code == 0 and "1 passed, 1 skipped" in out
    assert "apt-get install postgresql" in out


def test_under_ci_a_missing_postgresql_fails(tmp_path):
    code, out = _pytest(tmp_path, CI="true")
    assert code == 1 and "PostgreSQL is not installed" in out


def test_not_postgres_runs_only_the_sqlite_half(tmp_path):
    code, out = _pytest(tmp_path, "-m", "not postgres", CI="true")
    assert code == 0 and "1 passed, 1 deselected" in out
