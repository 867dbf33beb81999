"""`executor` and `broker_url` in plugins.toml and PAPERCHAIN_EXECUTOR / PAPERCHAIN_BROKER_URL."""

from __future__ import annotations

import pytest

from paperchain.config import load_config, masked_url
from paperchain_sdk import ConfigError


def config_file(tmp_path, body: str = ""):
    path = tmp_path / "plugins.toml"
    path.write_text("[paperchain]\n" + body)
    return path


def error_of(path, env=None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env or {})
    return f"{caught.value.message} How to fix: {caught.value.hint}"


def test_default_is_the_local_executor_without_a_broker(tmp_path):
    config = load_config(config_file(tmp_path), env={})
    assert (config.executor, config.broker_url) == ("local", "")


def test_celery_with_a_redis_broker_from_the_file_and_from_the_environment(tmp_path):
    config = load_config(config_file(tmp_path, 'executor = "celery"\nbroker_url = "redis://127.0.0.1:6379/0"\n'), env={})
    assert (config.executor, config.broker_url) == ("celery", "redis://127.0.0.1:6379/0")
    config = load_config(config_file(tmp_path), env={"PAPERCHAIN_EXECUTOR": "celery",
                                                     "PAPERCHAIN_BROKER_URL": "rediss://:pw@cache.example:6380/2"})
    assert (config.executor, config.broker_url) == ("celery", "rediss://:pw@cache.example:6380/2")


def test_the_environment_overrides_the_file(tmp_path):
    path = config_file(tmp_path, 'executor = "celery"\nbroker_url = "redis://10.0.0.1/0"\n')
    config = load_config(path, env={"PAPERCHAIN_EXECUTOR": "local", "PAPERCHAIN_BROKER_URL": "redis://10.0.0.2/0"})
    assert (config.executor, config.broker_url) == ("local", "redis://10.0.0.2/0")


def test_celery_without_a_broker_says_what_to_set(tmp_path):
    message = error_of(config_file(tmp_path, 'executor = "celery"\n'))
    assert 'executor = "celery" needs a broker, and broker_url is empty' in message
    assert "broker_url = \"redis://127.0.0.1:6379/0\"" in message and "PAPERCHAIN_BROKER_URL" in message
    assert "table [paperchain]" in message


def test_an_unknown_executor_names_the_choices(tmp_path):
    message = error_of(config_file(tmp_path), env={"PAPERCHAIN_EXECUTOR": "dask"})
    assert "'dask' is not an executor" in message and '"local"' in message and '"celery"' in message


@pytest.mark.parametrize("url", ["amqp://guest:hunter2@rabbit:5672//", "http://user:hunter2@redis:6379",
                                 "redis:///0", "redis://:hunter2@host:port/0"])
def test_a_broker_that_is_not_redis_is_refused_and_its_password_never_shown(tmp_path, url):
    message = error_of(config_file(tmp_path, f'executor = "celery"\nbroker_url = "{url}"\n'))
    assert "broker_url" in message and "redis://" in message
    assert "hunter2" not in message
    if "@" in url:
        assert ":***@" in message


@pytest.mark.parametrize("url, shown", [
    ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
    ("redis://user:p@ss@host/0", "redis://user:***@host/0"),
    ("redis://token@host/0", "redis://***@host/0"),
    ("redis://host:6379/0", "redis://host:6379/0"),
    ("postgresql+asyncpg://pc:secret@db:5432/pc?x=a@b", "postgresql+asyncpg://pc:***@db:5432/pc?x=a@b"),
])
def test_masked_url(url, shown):
    assert masked_url(url) == shown
