"""A content-addressed store on disk: bytes live at ``<root>/<aa>/<bb>/<sha256>``.

The same content put twice is stored once. Files are streamed in 1 MiB chunks, so a document of
any size is never held in memory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

_CHUNK = 1 << 20


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_file(self, source: str | os.PathLike, *, move: bool = False) -> tuple[str, int, Path]:
        """Store a file's content; return ``(sha256, size, stored path)``.

        With ``move`` the source is consumed (renamed when it is on the same filesystem).
        """
        source = Path(source)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            return self._commit(tmp_name, digest.hexdigest(), size)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            if move and source.exists():
                source.unlink()

    def put_bytes(self, data: bytes) -> tuple[str, int, Path]:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest, len(data), target
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            return self._commit(tmp_name, digest, len(data))
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)

    def _commit(self, tmp_name: str, digest: str, size: int) -> tuple[str, int, Path]:
        target = self.path(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp_name, 0o444)  # content-addressed: never edited in place
            os.replace(tmp_name, target)
        return digest, size, target

    def export(self, sha256: str, destination: Path) -> Path:
        """Place a blob at a friendly path (hard link when possible, else a copy)."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        if destination.exists():
            destination.unlink()
        try:
            os.link(self.path(sha256), destination)
        except OSError:
            shutil.copyfile(self.path(sha256), destination)
        return destination
