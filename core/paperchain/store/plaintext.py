"""Transient plaintext copies of encrypted blobs, for what needs a real file path.

Components read documents through ``Document.path`` (tesseract and PDF libraries take a path), so
an encrypted blob is decrypted into a private folder on first use: ``<data dir>/plain/<process>/``,
mode 0700, its files 0400. Each process has its own folder, removed when it stops; folders of
processes that are gone are removed when another starts. The folder is bounded: past ``limit``
bytes the least recently used copies are deleted (a reader that already opened one keeps reading).
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections import OrderedDict
from pathlib import Path


class PlainCache:
    def __init__(self, root: Path, *, limit: int):
        self.parent = Path(root)
        self.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.parent, 0o700)
        self._sweep()
        self.root = self.parent / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.root.mkdir(mode=0o700)
        self.spool = self.root / "spool"  # uploads and staged plaintext on their way in
        self.spool.mkdir(mode=0o700)
        self.limit = limit
        self._sizes: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def _sweep(self) -> None:
        for folder in self.parent.iterdir():
            pid = folder.name.split("-", 1)[0]
            if not pid.isdigit() or not _alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)

    def get(self, name: str) -> Path | None:
        path = self.root / name
        with self._lock:
            if name in self._sizes and path.exists():
                self._sizes.move_to_end(name)
                return path
            self._sizes.pop(name, None)
        return None

    def slot(self, name: str) -> Path:
        """Where a copy of ``name`` is kept (write it under a temporary name, then ``add``)."""
        return self.root / name

    def add(self, name: str, tmp: str | os.PathLike) -> Path:
        """Keep the plaintext file ``tmp`` (consumed) as the copy of ``name``."""
        path = self.root / name
        os.chmod(tmp, 0o400)
        os.replace(tmp, path)
        with self._lock:
            self._sizes[name] = path.stat().st_size
            self._sizes.move_to_end(name)
            total = sum(self._sizes.values())
            while total > self.limit and len(self._sizes) > 1:
                oldest, size = self._sizes.popitem(last=False)
                (self.root / oldest).unlink(missing_ok=True)
                total -= size
        return path

    def drop(self, name: str) -> None:
        with self._lock:
            self._sizes.pop(name, None)
        (self.root / name).unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
