"""The [security] table: documented defaults, PAPERCHAIN_SECURITY_* variables, clear errors."""

import re
import tomllib
from pathlib import Path

import attrs
import pytest

from paperchain.config import SecuritySettings, load_config
from paperchain_sdk import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_documented_defaults_are_the_real_ones():
    text = (DOCS / "configuration.md").read_text()
    block = re.search(r"```toml\n(\[security\]\n.*?)```", text, re.S).group(1)
    assert tomllib.loads(block)["security"] == attrs.asdict(SecuritySettings())


def test_variables_override_the_table(tmp_path):
    (tmp_path / "plugins.toml").write_text('[security]\nmax_failures = 5\ndeny = ["192.0.2.0/24"]\n')
    env = {"PAPERCHAIN_SECURITY_MFA_ROLES": "admin, editor", "PAPERCHAIN_SECURITY_MAX_FAILURES": "7",
           "PAPERCHAIN_SECURITY_BLOCK_MINUTES": "2.5"}
    security = load_config(tmp_path / "plugins.toml", env=env).security
    assert security.mfa_roles == ["admin", "editor"] and security.max_failures == 7
    assert security.block_minutes == 2.5 and security.deny == ["192.0.2.0/24"]


@pytest.mark.parametrize("env, words", [
    ({"PAPERCHAIN_SECURITY_MAX_FAILURES": "ten"}, "PAPERCHAIN_SECURITY_MAX_FAILURES='ten' is not a whole number"),
    ({"PAPERCHAIN_SECURITY_MFA_ROLES": "boss"}, "mfa_roles: ['boss'] are not roles"),
    ({"PAPERCHAIN_SECURITY_PASSWORD_MIN_LENGTH": "6"}, "password_min_length"),
    ({"PAPERCHAIN_SECURITY_ALLOW": "10.0.0.1/8,example.com"}, "'example.com' is not an address or CIDR"),
])
def test_bad_values_name_the_key(tmp_path, env, words):
    with pytest.raises(ConfigError) as caught:
        load_config(None, env=env)
    assert words in caught.value.message
