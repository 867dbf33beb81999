"""Blob store throughput with encryption at rest against without, same input, same run.

Upload is what ``POST /api/v1/documents`` does once the body is spooled: ``stage(move=True)`` (read,
SHA-256, [AES-256-GCM], write the blob) and ``commit``. Download is what ``GET .../content`` does:
``open(name, sha256=...)`` and read to the end (plaintext checked against its SHA-256; decrypted
and authenticated when encrypted). The two stores take turns, round by round, so machine noise hits
both alike; the best round of each is reported. A third row reads the unencrypted blob files with
no check at all (what downloads did before reads were checked), for reference.

    .venv/bin/python bench/blobs.py            # 200 MB: 100 files of 1 MB and 5 of 20 MB, 7 rounds (~20 s)
    .venv/bin/python bench/blobs.py --quick    # 40 MB, 2 rounds

Results: bench/results/blobs.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
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


def new_store(root: Path, encrypt: bool):
    from paperchain.store.blobs import DiskBlobStore as BlobStore
    from paperchain.store.keys import KeyringThread

    root.mkdir(parents=True)
    keys = KeyringThread(root)  # its thread ends with the process (a daemon)
    return BlobStore(root / "blobs", keyring=keys.open(), encrypt=encrypt)


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
    args = parser.parse_args()
    small, large = (20, 1) if args.quick else (100, 5)
    rounds = args.rounds or (2 if args.quick else 7)
    total = (small + 20 * large) * MB
    os.environ.pop("PAPERCHAIN_MASTER_KEY", None)

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


if __name__ == "__main__":
    sys.exit(main())
