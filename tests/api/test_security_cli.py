"""`paperchain users unlock|password|mfa` and `paperchain security block|blocks|unblock|lockouts`, for real."""

import json
import sqlite3
import time

import pytest
from kernel_support import run_cli

pytestmark = pytest.mark.slow  # each command is a process of its own


def _db(tmp_path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "data" / "paperchain.db")


def _ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_recovering_a_locked_out_admin_from_the_command_line(tmp_path):
    (tmp_path / "plugins.toml").write_text('[paperchain]\ndata_dir = "data"\n')
    weak = run_cli("users", "create", "root-admin", "--role", "admin", cwd=tmp_path,
                   env={"PAPERCHAIN_NEW_PASSWORD": "password12345"})
    assert weak.returncode != 0 and "too common" in weak.stderr and "How to fix" in weak.stderr
    _ok(run_cli("users", "create", "root-admin", "--role", "admin", cwd=tmp_path,
                env={"PAPERCHAIN_NEW_PASSWORD": "choose-a-long-one"}))
    with _db(tmp_path) as db:  # what ten wrong passwords leave behind
        db.execute("INSERT INTO login_failures VALUES ('user:root-admin', 0, ?, ?, ?)",
                   (time.time(), time.time(), time.time() + 900))
        db.execute("INSERT INTO user_mfa VALUES ('root-admin', 'JBSWY3DPEHPK3PXP', '2026-01-01', 0, '[]', '2026-01-01')")
    assert "root-admin" in _ok(run_cli("security", "lockouts", cwd=tmp_path))
    assert "Unlocked 'root-admin'" in _ok(run_cli("users", "unlock", "root-admin", cwd=tmp_path))
    assert "on" in _ok(run_cli("users", "mfa", "status", "root-admin", cwd=tmp_path))
    assert "Removed" in _ok(run_cli("users", "mfa", "reset", "root-admin", cwd=tmp_path))
    _ok(run_cli("users", "password", "root-admin", cwd=tmp_path, env={"PAPERCHAIN_NEW_PASSWORD": "another long passphrase"}))
    with _db(tmp_path) as db:
        assert db.execute("SELECT count(*) FROM login_failures").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM user_mfa").fetchone()[0] == 0
        audit = [(row[0], row[1], json.loads(row[2])) for row in db.execute("SELECT actor, action, details FROM audit")]
    assert [a for _, a, _ in audit] == ["cli users unlock", "cli users mfa reset", "cli users password"]
    assert all(actor.startswith("cli") for actor, _, _ in audit)


def test_blocking_and_lifting_addresses_from_the_command_line(tmp_path):
    (tmp_path / "plugins.toml").write_text('[paperchain]\ndata_dir = "data"\n')
    _ok(run_cli("security", "block", "203.0.113.0/24", "--minutes", "10", "--reason", "scanner", cwd=tmp_path))
    _ok(run_cli("security", "block", "2001:db8::1", cwd=tmp_path))
    listed = _ok(run_cli("security", "blocks", cwd=tmp_path))
    assert "203.0.113.0/24" in listed and "2001:db8::1/128" in listed and "lifted by hand" in listed
    loopback = run_cli("security", "block", "127.0.0.1", cwd=tmp_path)
    assert loopback.returncode != 0 and "exempt" in loopback.stderr
    bad = run_cli("security", "block", "not-an-address", cwd=tmp_path)
    assert bad.returncode != 0 and "CIDR" in bad.stderr
    assert "Lifted" in _ok(run_cli("security", "unblock", "203.0.113.0/24", cwd=tmp_path))
    assert "was not blocked" in _ok(run_cli("security", "unblock", "203.0.113.0/24", cwd=tmp_path))
    with _db(tmp_path) as db:
        assert [row[0] for row in db.execute("SELECT network FROM ip_blocks")] == ["2001:db8::1/128"]


def test_a_tenant_name_with_a_colon_is_refused_from_the_command_line(tmp_path):
    (tmp_path / "plugins.toml").write_text('[paperchain]\ndata_dir = "data"\n')
    refused = run_cli("users", "create", "bob", "--tenant", "acme:flow", cwd=tmp_path,
                      env={"PAPERCHAIN_NEW_PASSWORD": "choose-a-long-one"})
    assert refused.returncode != 0 and "':'" in refused.stderr and "How to fix" in refused.stderr
    assert "bob" not in _ok(run_cli("users", "list", cwd=tmp_path))
