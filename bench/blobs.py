"""Blob store throughput with encryption at rest against without, same input, same run.

Upload is what ``POST /api/v1/documents`` does once the body is spooled: ``stage(move=True)`` (read,
SHA-256, [AES-256-GCM], write the blob) and ``commit``. Download is what ``GET .../content`` does:
``open(name, sha256=...)`` and read to the end (plaintext checked against its SHA-256; decrypted
and authenticated when encrypted). The two stores take turns, round by round, so machine noise hits
both alike; the best round of each is reported. A third row reads the unencrypted blob files with
no check at all (what downloads did before reads were checked), for reference.

    .venv/bin/python bench/blobs.py            # 200 MB: 100 files of 1 MB and 5 of 20 MB, 7 rounds (~20 s)
    .venv/bin/python bench/blobs.py --quick    # 40 MB, 2 rounds
    .venv/bin/python bench/blobs.py --s3       # local disk against S3 on moto, both encrypted

Results: bench/results/blobs.json (``--s3``: blobs-s3.json).

With ``--s3`` the same upload and download run against ``S3BlobStore`` on a ``moto_server`` process
on loopback (MinIO is not installable here). moto is an S3 stand-in written in Python, not a real
S3: its figures say what the store's own work (staging, encryption, checks, requests) costs on top
of a slow server, and nothing about S3's speed. Performance claims hold for local disk only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MB = 1_000_000


def make_input(folder: Path, small: int, large: int) -> list[Path]:
    folder.mkdir(parents=True)
    files = []
    for i in range(small):
        files.append(folder / f"small-{i:03}.bin")
        files[-1].write_bytes(os.urandom(MB))
    for i in range(large):
        files.append(folder / f"large-{i:03}.bin")
        with open(files[-1], "wb") as out:
            for _ in range(20):
                out.write(os.urandom(MB))
    return files


def new_store(root: Path, encrypt: bool, blob_url: str = ""):
    from paperchain.store.blobs import DiskBlobStore as BlobStore
    from paperchain.store.blobs_s3 import S3BlobStore
    from paperchain.store.keys import KeyringThread

    root.mkdir(parents=True)
    keys = KeyringThread(root)  # its thread ends with the process (a daemon)
    if blob_url:
        return S3BlobStore(blob_url, root / "scratch", keyring=keys.open(), encrypt=encrypt)
    return BlobStore(root / "blobs", keyring=keys.open(), encrypt=encrypt)


def start_moto() -> tuple[subprocess.Popen, str]:
    """``moto_server`` on a free loopback port, in its own process (not sharing this one's GIL)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit("moto_server did not start: pip install 'moto[server]'") from None
            time.sleep(0.1)


def compare_s3(files: list[Path], total: int, rounds: int, tmp: Path) -> dict:
    """Disk and S3 on moto (both encrypted) in turns, round by round; the best round of each."""
    import boto3

    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_EC2_METADATA_DISABLED": "true",
                       "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    server, endpoint = start_moto()
    best = {"upload disk": 0.0, "upload s3 (moto)": 0.0, "download disk": 0.0, "download s3 (moto)": 0.0}
    try:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        for r in range(rounds):
            for kind in ("disk", "s3 (moto)"):
                url = ""
                if kind != "disk":
                    client.create_bucket(Bucket=f"bench-{r}")
                    url = f"s3://bench-{r}?endpoint={endpoint}&region=us-east-1"
                folder = tmp / f"round-{r}-{kind.split()[0]}"
                store = new_store(folder, True, url)
                try:
                    up, names = upload(store, files, store.spool)
                    down = download(store, names)
                    best[f"upload {kind}"] = max(best[f"upload {kind}"], total / up / MB)
                    best[f"download {kind}"] = max(best[f"download {kind}"], total / down / MB)
                finally:
                    store.close()
                    shutil.rmtree(folder)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return best


def upload(store, files: list[Path], spool: Path) -> tuple[float, list[str]]:
    copies = []
    for f in files:  # the spooled uploads (not timed: the network's part)
        copies.append(spool / f.name)
        shutil.copyfile(f, copies[-1])
    names = []
    start = time.perf_counter()
    for copy in copies:
        staged = store.stage(copy, move=True)
        store.commit(staged, staged.sha256)
        names.append(staged.sha256)
    return time.perf_counter() - start, names


def download(store, names: list[str]) -> float:
    start = time.perf_counter()
    for name in names:
        with store.open(name, sha256=name) as reader:
            while reader.read(1 << 20):
                pass
    return time.perf_counter() - start


def raw_read(store, names: list[str]) -> float:
    start = time.perf_counter()
    for name in names:
        with open(store.stored_path(name), "rb") as fh:
            while fh.read(1 << 20):
                pass
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 MB (20 x 1 MB, 1 x 20 MB), 2 rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--s3", action="store_true", help="local disk against S3 on moto (not a real S3)")
    args = parser.parse_args()
    small, large = (20, 1) if args.quick else (100, 5)
    rounds = args.rounds or (2 if args.quick else 7)
    total = (small + 20 * large) * MB
    os.environ.pop("PAPERCHAIN_MASTER_KEY", None)
    if args.s3:
        return main_s3(small, large, rounds, total)

    best = {"upload plain": 0.0, "upload encrypted": 0.0, "download plain": 0.0, "download encrypted": 0.0,
            "read blob files, unchecked": 0.0}
    with tempfile.TemporaryDirectory(prefix="paperchain-bench-blobs-") as tmp:
        tmp = Path(tmp)
        files = make_input(tmp / "input", small, large)
        for r in range(rounds):
            for encrypt in (False, True):
                label = "encrypted" if encrypt else "plain"
                store = new_store(tmp / f"round-{r}-{label}", encrypt)
                try:
                    up, names = upload(store, files, store.spool)
                    down = download(store, names)
                    best[f"upload {label}"] = max(best[f"upload {label}"], total / up / MB)
                    best[f"download {label}"] = max(best[f"download {label}"], total / down / MB)
                    if not encrypt:
                        best["read blob files, unchecked"] = max(best["read blob files, unchecked"],
                                                                  total / raw_read(store, names) / MB)
                finally:
                    store.close()
                    shutil.rmtree(tmp / f"round-{r}-{label}")

    ratios = {"upload": best["upload encrypted"] / best["upload plain"],
              "download": best["download encrypted"] / best["download plain"]}
    load = os.getloadavg()[0]
    print(f"{total // MB} MB in {small} files of 1 MB and {large} of 20 MB; best of {rounds} rounds; "
          f"{os.cpu_count()} CPUs, load average {load:.1f} (encryption overlaps hashing only on an idle core)")
    print(f"{'':32} {'MB/s':>8}")
    for name, value in best.items():
        print(f"{name:32} {value:8.0f}")
    for name, value in ratios.items():
        print(f"{name} with encryption / without: {value:.2f}  (goal >= 0.9)")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "blobs.json").write_text(json.dumps({
        "mb": total // MB, "files": {"1MB": small, "20MB": large}, "rounds": rounds, "mb_per_s": best,
        "ratios": ratios, "python": sys.version.split()[0], "machine": platform.machine(),
        "cpus": os.cpu_count(), "load_average": load,
    }, indent=2))
    return 0


def main_s3(small: int, large: int, rounds: int, total: int) -> int:
    with tempfile.TemporaryDirectory(prefix="paperchain-bench-blobs-s3-") as tmp:
        files = make_input(Path(tmp) / "input", small, large)
        best = compare_s3(files, total, rounds, Path(tmp))
    print(f"{total // MB} MB in {small} files of 1 MB and {large} of 20 MB; best of {rounds} rounds; both encrypted; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print("moto is a Python stand-in for S3 on this machine, not a real S3: these S3 figures say nothing of S3's speed")
    print(f"{'':32} {'MB/s':>8}")
    for name, value in best.items():
        print(f"{name:32} {value:8.0f}")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "blobs-s3.json").write_text(json.dumps({
        "mb": total // MB, "files": {"1MB": small, "20MB": large}, "rounds": rounds, "mb_per_s": best,
        "note": "S3 here is moto_server on loopback, not a real S3; performance claims hold for local disk only",
        "python": sys.version.split()[0], "machine": platform.machine(), "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
