"""Serve the API on a free loopback port and run schemathesis against its OpenAPI document.

Two modes:

- ``kernel`` (test_system.py): the kernel's routes and the API tests' plugin, examples and
  fuzzing phases.
- ``full`` (tests/reliability/test_api_fuzz.py): every installed plugin's routes too, with the
  stateful phase (schemathesis follows links between operations: create, then read, change and
  delete what was created), bounded by a time budget.

Checks: no 5xx (not_a_server_error) and every answer matching the document (status code, content
type, response schema). Rate limits are raised so the fuzzer measures the API, not the limiter.

Usage: schemathesis_run.py DATA_DIR [--mode kernel|full] [--examples N] [--max-time S] [--report PATH]
"""

import argparse
import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api_support import TestPlugin  # noqa: E402

from paperchain.harness import ApiHarness  # noqa: E402

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# Streams never end, so a fuzzer request on them only times out.
STREAMS = "^/api/v1/(events|runs/[^/]+/events)"
FUZZER = "fuzzer"  # the admin user owning the fuzzer's API key
LIMITS = {"rate": 100_000.0, "burst": 100_000, "ip_rate": 100_000.0, "ip_burst": 100_000, "max_upload": 1_000_000}


async def fuzzer_key(api: ApiHarness) -> tuple[str, str]:
    """An admin API key of the fuzzer's own user, and its id.

    The fuzzer works as admin, so it may revoke keys and disable or demote users; were it to hit
    its own key or user, every later case would answer 401/403 and the run would test nothing.
    schemathesis_hooks.py drops the cases that name this key's id or this user (and only those),
    so revoking keys and changing users stay fuzzed on every other key and user.
    """
    token = await api.user(FUZZER, "admin")
    reply = await api.request("POST", "/api/v1/keys", token=token, json={"name": "fuzzer", "role": "admin"})
    assert reply.status == 201, reply
    return reply.json["key"], reply.json["id"]


async def seed(api: ApiHarness) -> None:
    """A workflow and a document, so reads of existing resources have something to find."""
    step = {"id": "a", "uses": "document.text"}  # a built-in action: present in both modes
    await api.request("PUT", "/api/v1/workflows/w", json={"name": "w", "steps": [step]})
    await api.request("POST", "/api/v1/documents?name=a.txt", data=b"a document to find")


def command(url: str, key: str, args) -> list[str]:
    line = [str(Path(sys.executable).with_name("schemathesis")), "run", f"{url}/api/v1/openapi.json",
            "--checks", CHECKS, "-H", f"X-API-Key: {key}", "--request-timeout", "20", "--seed", str(args.seed),
            "--exclude-path-regex", STREAMS, "--workers", "1", "--no-color"]
    if args.mode == "full":
        line += ["--phases", "examples,coverage,fuzzing,stateful", "--max-time", str(args.max_time),
                 "-n", str(args.examples), "--suppress-health-check", "all"]
    else:
        line += ["-n", str(args.examples)]
    if args.report:
        line += ["--report", "json", "--report-json-path", args.report]
    return line


async def main(args) -> int:
    plugins = None if args.mode == "full" else [TestPlugin()]  # None: every installed plugin, as `serve` loads
    api = ApiHarness(plugins, data_dir=Path(args.data_dir), triggers=False, api=LIMITS)
    await api.start()
    try:
        await seed(api)
        key, key_id = await fuzzer_key(api)
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks", "PAPERCHAIN_FUZZ_KEY_ID": key_id,
               "PAPERCHAIN_FUZZ_USER": FUZZER,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))}
        process = await asyncio.create_subprocess_exec(*command(api.url, key, args), env=env)
        code = await process.wait()
        me = await api.request("GET", "/api/v1/auth/me", token=None, headers={"X-API-Key": key})
        if me.status != 200:  # the run would have tested nothing but 401s from the moment it lost its key
            print(f"the fuzzer's own key stopped working during the run: {me}", file=sys.stderr)
            return code or 1
        return code
    finally:
        await api.close()


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--mode", choices=("kernel", "full"), default="kernel")
    parser.add_argument("--examples", type=int, default=25, help="cases per operation and phase")
    parser.add_argument("--max-time", type=int, default=150, help="seconds for the whole run (full mode)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--report", help="write schemathesis' JSON report here")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse(sys.argv[1:]))))
