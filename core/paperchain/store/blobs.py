"""A content-addressed store on disk: bytes live at ``<root>/<aa>/<bb>/<name>``.

A blob's name is its SHA-256, or a name derived from it (a document's id, keyed per tenant). The
same content put twice under one name is stored once. Files are streamed in 1 MiB chunks, so a document of
any size is never held in memory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import attrs

_CHUNK = 1 << 20


@attrs.frozen
class Staged:
    tmp: str
    sha256: str
    size: int


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_file(self, source: str | os.PathLike, *, move: bool = False) -> tuple[str, int, Path]:
        """Store a file's content under its SHA-256; return ``(sha256, size, stored path)``.

        With ``move`` the source is consumed (renamed when it is on the same filesystem).
        """
        staged = self.stage(source, move=move)
        return staged.sha256, staged.size, self.commit(staged, staged.sha256)

    def stage(self, source: str | os.PathLike, *, move: bool = False) -> "Staged":
        """Copy a file into the store's scratch folder, hashing it on the way; ``commit`` then
        files it under a name chosen from its digest, or ``discard`` drops it."""
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
        except BaseException:
            os.unlink(tmp_name)
            raise
        finally:
            if move and source.exists():
                source.unlink()
        return Staged(tmp_name, digest.hexdigest(), size)

    def commit(self, staged: "Staged", name: str) -> Path:
        """File a staged blob as ``name`` (kept once: an existing blob of that name wins)."""
        try:
            return self._commit(staged.tmp, name, staged.size)[2]
        finally:
            self.discard(staged)

    def discard(self, staged: "Staged") -> None:
        if os.path.exists(staged.tmp):
            os.unlink(staged.tmp)

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
