"""The deployment recipe (Containerfile, compose.yaml, deploy/) is checked without a container daemon:
the compose file by `docker-compose config` (Debian's docker-compose, in the Makefile's
DEBIAN_PACKAGES; `docker compose config` where that plugin is installed), the image's build steps
against the Makefile targets CI runs, and every command the recipe starts against the CLI."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from paperchain.cli.main import main
from paperchain.config import load_config

ROOT = Path(__file__).resolve().parent.parent
SERVICES_OF_THE_IMAGE = ("api-1", "api-2", "worker", "worker-ocr")


def compose_command() -> list[str]:
    """`docker compose` where the plugin is installed, else Debian's `docker-compose`; neither needs a daemon."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    message = "no compose validator: apt-get install docker-compose (the Makefile's DEBIAN_PACKAGES has it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def recipe_copy(tmp_path) -> Path:
    """compose.yaml and deploy/ with each deploy/*.env.example copied to its .env, as the docs say."""
    folder = tmp_path / "recipe"
    shutil.copytree(ROOT / "deploy", folder / "deploy", ignore=shutil.ignore_patterns("*.env"))
    for example in (folder / "deploy").glob("*.env.example"):
        shutil.copy(example, example.with_suffix(""))
    for name in ("compose.yaml", "Containerfile"):
        shutil.copy(ROOT / name, folder / name)
    return folder


def compose_config(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*compose_command(), "-f", "compose.yaml", "config"], cwd=folder, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"})


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict:
    """compose.yaml as the validator resolved it (anchors merged, env files read)."""
    import yaml

    done = compose_config(recipe_copy(tmp_path_factory.mktemp("compose")))
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_the_compose_file_is_valid_without_a_daemon(resolved):
    services = resolved["services"]
    assert {"postgres", "redis", "s3", *SERVICES_OF_THE_IMAGE} <= set(services)
    for name, service in services.items():
        if name != "s3-bucket":  # a one-shot job
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in ("postgres", "redis", "s3", "api-1", "api-2", "worker", "worker-ocr"):
        assert services[name].get("volumes"), f"{name} keeps no volume"


def test_the_validator_refuses_a_broken_compose_file(tmp_path):
    folder = recipe_copy(tmp_path)
    text = (folder / "compose.yaml").read_text()
    (folder / "compose.yaml").write_text(text.replace("      interval: 5s\n", "      interval: 5s\n      intervall: 5s\n", 1))
    done = compose_config(folder)
    assert done.returncode != 0 and "intervall" in done.stderr


def test_servers_and_workers_are_the_image_with_secrets_from_env_files(resolved):
    services = resolved["services"]
    for name in SERVICES_OF_THE_IMAGE:
        service = services[name]
        assert service["build"]["dockerfile"] == "Containerfile"
        assert service["environment"]["PAPERCHAIN_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert service["environment"]["PAPERCHAIN_BROKER_URL"].startswith("redis://")
    assert "--queues" in services["worker-ocr"]["command"] and "ocr" in services["worker-ocr"]["command"]
    admins = [name for name, service in services.items() if "PAPERCHAIN_ADMIN_PASSWORD" in service.get("environment", {})]
    assert admins == ["api-1"]  # the first admin is made once, by one server
    keys = {services[name]["environment"]["PAPERCHAIN_MASTER_KEY"] for name in SERVICES_OF_THE_IMAGE}
    assert len(keys) == 1  # one master key for every server and worker
    raw = (ROOT / "compose.yaml").read_text()
    assert not re.search(r"(PASSWORD|SECRET|_URL)\s*[:=]", raw), "secrets belong in deploy/*.env, not compose.yaml"
    ignored = subprocess.run(["git", "check-ignore", "deploy/paperchain.env"], cwd=ROOT, capture_output=True)
    assert ignored.returncode == 0, "deploy/*.env (the real secrets) must be ignored by git"


@pytest.mark.parametrize("service", SERVICES_OF_THE_IMAGE)
def test_each_command_the_recipe_starts_exists(resolved, service, capsys):
    """The image's entry point is `paperchain`: each service's command must parse (here: with --help)."""
    command = resolved["services"][service]["command"]
    assert main([*command, "--help"]) == 0, capsys.readouterr()
    healthcheck = resolved["services"][service]["healthcheck"]["test"]
    if healthcheck[1] == "paperchain":
        assert main([*healthcheck[2:], "--help"]) == 0


def test_the_deployment_config_loads_with_the_example_secrets():
    env = dict(line.split("=", 1) for line in (ROOT / "deploy" / "paperchain.env.example").read_text().splitlines()
               if line and not line.startswith("#"))
    config = load_config(ROOT / "deploy" / "plugins.toml", env=env)
    assert config.executor == "celery" and config.broker_url.startswith("redis://")
    assert config.database_url.startswith("postgresql+asyncpg://") and config.kernel.blob_url.startswith("s3://")


# -- the Containerfile ----------------------------------------------------------------------------


def containerfile() -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Containerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def makefile_targets(name: str) -> list[str]:
    """The prerequisites of a Makefile rule, e.g. `test: setup lint`."""
    match = re.search(rf"^{name}:([^\n=]*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, f"the Makefile has no {name} target"
    return match.group(1).split()


def test_the_image_is_built_by_the_makefile_steps_ci_runs():
    steps = containerfile()
    assert steps[0] == ("FROM", "docker.io/library/python:3.11-bookworm")  # CI's Debian and Python
    makes = [shlex.split(command) for kind, arguments in steps if kind == "RUN"
             for command in arguments.split("&&") if shlex.split(command)[:1] == ["make"]]
    assert makes, "the Containerfile builds nothing with make"
    ci_targets = {target for line in (ROOT / ".ci" / "run").read_text().splitlines()
                  if line.startswith("make ") for target in line.split()[1:]}
    run_by_ci = set(ci_targets).union(*(makefile_targets(target) for target in ci_targets))
    for make in makes:
        targets = [word for word in make[1:] if "=" not in word and not word.startswith("-")]
        assert targets and set(targets) <= run_by_ci, f"{make}: not a target CI runs ({sorted(run_by_ci)})"
        dry = subprocess.run(["make", "-n", *make[1:]], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert dry.returncode == 0, dry.stderr  # the Makefile has it, with those variables


def test_the_image_runs_paperchain_as_a_user_not_root():
    steps = containerfile()
    users = [arguments for kind, arguments in steps if kind == "USER"]
    assert users and users[-1] not in ("root", "0")
    entry = [arguments for kind, arguments in steps if kind == "ENTRYPOINT"]
    assert entry == ['["paperchain"]']
    command = [arguments for kind, arguments in steps if kind == "CMD"][-1]
    assert main([*json.loads(command), "--help"]) == 0


def test_the_two_workers_take_every_queue_and_ocr_runs_apart(resolved):
    from paperchain.engine.celery.app import queue_for
    from paperchain.kernel import Kernel

    kernel = Kernel(load_config(ROOT / "deploy" / "plugins.toml", env={"PAPERCHAIN_BROKER_URL": "redis://h/0"}))
    every = {"default", *(queue_for(entry.spec.name) for entry in kernel.registry.entries())}

    def queues(service: str) -> set[str]:
        command = resolved["services"][service]["command"]
        return set(command[command.index("--queues") + 1].split(","))

    assert queues("worker-ocr") == {"ocr"}
    assert "ocr" not in queues("worker") and queues("worker") | queues("worker-ocr") == every
