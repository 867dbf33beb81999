"""Serve the API on a free loopback port and run schemathesis against its OpenAPI document.

Used by test_system.py (slow). Checks: no 5xx (not_a_server_error) and every answer matching the
document (status code, content type, response schema). Rate limits are raised so the fuzzer
measures the API, not the limiter. Usage: schemathesis_run.py DATA_DIR [MAX_EXAMPLES]
"""

import asyncio
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api_support import TestPlugin  # noqa: E402

from paperchain.harness import ApiHarness  # noqa: E402

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


async def main(data_dir: Path, examples: int) -> int:
    api = ApiHarness([TestPlugin()], data_dir=data_dir, triggers=False,
                     api={"rate": 100_000.0, "burst": 100_000, "ip_rate": 100_000.0, "ip_burst": 100_000,
                          "max_upload": 1_000_000})
    await api.start()
    try:
        await api.request("PUT", "/api/v1/workflows/w", json={"name": "w", "steps": [{"id": "a", "uses": "test.wait"}]})
        await api.request("POST", "/api/v1/documents?name=a.txt", data=b"a document to find")
        command = [
            str(Path(sys.executable).with_name("schemathesis")), "run", f"{api.url}/api/v1/openapi.json",
            "--checks", CHECKS, "-H", f"Authorization: Bearer {api.token}", "-n", str(examples),
            "--generation-deterministic", "--request-timeout", "20",
            "--exclude-path-regex", "^/api/v1/(events|auth/logout)",  # streams; logging out the fuzzer's own token
        ]
        process = await asyncio.create_subprocess_exec(*command)
        return await process.wait()
    finally:
        await api.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 25)))
