"""One writing process per data directory: a second writer is refused, readers are not."""

import os
import signal
import subprocess
import sys

import pytest
from kernel_support import run_cli

from paperchain.store.owner import DataDirOwner
from paperchain_sdk import ConfigError


def test_a_second_owner_is_refused_naming_the_first_and_released_on_exit(tmp_path):
    with DataDirOwner(tmp_path):
        with pytest.raises(ConfigError) as refused:
            DataDirOwner(tmp_path).acquire()
        assert f"pid {os.getpid()}" in refused.value.message and "serve" in refused.value.hint
    DataDirOwner(tmp_path).acquire().release()  # free again


def test_a_killed_owner_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from paperchain.store.owner import DataDirOwner; "
        f"DataDirOwner({str(tmp_path)!r}).acquire(); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError):
            DataDirOwner(tmp_path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    DataDirOwner(tmp_path).acquire().release()


@pytest.mark.slow
def test_commands_that_change_are_refused_while_another_owns_the_data_and_readers_are_not(tmp_path):
    (tmp_path / "plugins.toml").write_text('[paperchain]\ndata_dir = "data"\n')
    with DataDirOwner(tmp_path / "data"):  # as `paperchain serve` holds it
        refused = run_cli("users", "create", "ana", "--role", "viewer", cwd=tmp_path,
                          env={"PAPERCHAIN_NEW_PASSWORD": "a long enough passphrase"})
        assert refused.returncode != 0
        assert "in use by pid" in refused.stderr and "Traceback" not in refused.stderr
        listed = run_cli("runs", "list", cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
    created = run_cli("users", "create", "ana", "--role", "viewer", cwd=tmp_path,
                      env={"PAPERCHAIN_NEW_PASSWORD": "a long enough passphrase"})
    assert created.returncode == 0, created.stderr
