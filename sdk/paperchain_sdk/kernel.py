"""What plugins may rely on from the kernel object handed to lifecycle hooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from .records import Event


class KernelAPI(Protocol):
    data_dir: Path

    async def emit(self, event: Event) -> None:
        """Record an event durably and pass it to every ``paperchain_event`` implementation."""

    def component(self, name: str) -> Any:
        """The instance of an installed component, by name (imported on first use)."""
