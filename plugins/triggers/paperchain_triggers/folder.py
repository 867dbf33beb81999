"""``folder``: start a run for each new or changed file in a folder, then file it in done/ or failed/."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import shutil
from pathlib import Path

from paperchain_sdk import ConfigError, RunRequest

from .base import HostedTrigger, log, parse_duration
from .state import store_for


class FolderTrigger(HostedTrigger):
    name = "folder"

    def __init__(self, settings=None):
        super().__init__(settings)
        self._settling: set[Path] = set()
        self._waiting: dict[str, Path] = {}  # batch id -> file, until its run finishes

    async def begin(self) -> None:
        s = self.settings
        if not s.path:
            raise ConfigError(f"{self.where}: 'path' is required.", hint='name the folder to watch, e.g. path = "inbox"')
        self.root = Path(os.path.expanduser(s.path)).resolve()
        if not self.root.is_dir():
            raise ConfigError(f"{self.where}: the folder {str(self.root)!r} does not exist.",
                              hint="create it, or fix 'path'")
        self.stable = parse_duration(s.stable, where=f"{self.where}, stable")
        self.poll_interval = parse_duration(s.poll_interval, where=f"{self.where}, poll_interval")
        self.outboxes = {(self.root / s.done_dir).resolve(), (self.root / s.failed_dir).resolve()}
        if self.kernel is not None and s.move:
            self.listen(self._on_event)
        present = set(self._candidates())
        if s.existing:
            for path in sorted(present):
                self._settle(path)
        self.spawn(self._watch())
        # The OS watcher starts in the background; a file created before it was ready is caught here.
        self.spawn(self._rescan(set() if s.existing else present))

    # -- which files ------------------------------------------------------------------------

    def _wanted(self, path: Path) -> bool:
        if any(outbox == path.parent or outbox in path.parents for outbox in self.outboxes):
            return False
        if path.name.startswith("."):  # editors' and copiers' temporary files
            return False
        if not self.settings.recursive and path.parent != self.root:
            return False
        return any(fnmatch.fnmatch(path.name, pattern) for pattern in self.settings.glob)

    def _candidates(self):
        walker = self.root.rglob("*") if self.settings.recursive else self.root.iterdir()
        return [p for p in walker if p.is_file() and self._wanted(p)]

    # -- watching ---------------------------------------------------------------------------

    async def _watch(self) -> None:
        import watchfiles

        force = self.settings.force_polling
        try:
            async for changes in watchfiles.awatch(
                self.root, stop_event=self._stopped, recursive=self.settings.recursive,
                force_polling=force, poll_delay_ms=int(self.poll_interval * 1000), debounce=200,
                step=50, rust_timeout=1000, yield_on_timeout=False,
            ):
                self._take(changes)
        except (OSError, RuntimeError) as exc:
            if force:
                raise
            # inotify limits or an unsupported file system: poll instead.
            log.warning("folder %s: OS notifications failed (%s); polling every %.1fs", self.root, exc, self.poll_interval)
            async for changes in watchfiles.awatch(self.root, stop_event=self._stopped, force_polling=True,
                                                   recursive=self.settings.recursive,
                                                   poll_delay_ms=int(self.poll_interval * 1000)):
                self._take(changes)

    async def _rescan(self, skip: set[Path]) -> None:
        await asyncio.sleep(max(0.5, self.poll_interval))
        for path in sorted(set(self._candidates()) - skip):
            self._settle(path)

    def _take(self, changes) -> None:
        import watchfiles

        for change, name in changes:
            path = Path(name)
            if change != watchfiles.Change.deleted and path.is_file() and self._wanted(path):
                self._settle(path)

    def _settle(self, path: Path) -> None:
        if path not in self._settling:
            self._settling.add(path)
            self.spawn(self._when_stable(path))

    async def _when_stable(self, path: Path) -> None:
        """Wait until the file stops growing, then start its run."""
        try:
            last, unchanged = None, 0.0
            step = min(self.stable / 4, 0.25)
            while unchanged < self.stable:
                await asyncio.sleep(step)
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    return  # moved away or deleted while being written
                current = (stat.st_size, stat.st_mtime_ns)
                unchanged = unchanged + step if current == last else 0.0
                last = current
            key = f"folder:{self.workflow}:{path}:{last[0]}:{last[1]}"
            batch = await self.fire(RunRequest(workflow=self.workflow, paths=(str(path),), inputs=dict(self.settings.inputs),
                                               idempotency_key=key, source="trigger:folder"))
            if batch and self.settings.move and self.kernel is not None:
                self._waiting[batch] = path
                await self._file_if_finished(batch)  # a repeat of a batch that finished before a restart
        finally:
            self._settling.discard(path)

    # -- filing ---------------------------------------------------------------------------

    def _on_event(self, event) -> None:
        if event.type in ("run.succeeded", "run.failed") and event.data.get("batch") in self._waiting:
            path = self._waiting.pop(event.data["batch"])
            self._file(path, succeeded=event.type == "run.succeeded")

    async def _file_if_finished(self, batch: str) -> None:
        statuses = await store_for(self.kernel).run_statuses(batch)
        if statuses and all(s in ("succeeded", "failed", "cancelled") for s in statuses) and batch in self._waiting:
            self._file(self._waiting.pop(batch), succeeded=all(s == "succeeded" for s in statuses))

    def _file(self, path: Path, *, succeeded: bool) -> None:
        folder = self.root / (self.settings.done_dir if succeeded else self.settings.failed_dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / path.name
            counter = 1
            while target.exists():
                target = folder / f"{path.stem}.{counter}{path.suffix}"
                counter += 1
            shutil.move(str(path), target)
        except OSError as exc:
            log.error("folder trigger of workflow %r could not move %s: %s", self.workflow, path, exc)
