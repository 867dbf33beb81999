"""The ``manual`` trigger: runs are started by a person (the CLI or the API), never by itself."""

from paperchain_sdk.contracts import Trigger


class ManualTrigger(Trigger):
    async def start(self, emit) -> None:
        self.emit = emit  # kept so the API can start runs through the same path as other triggers

    async def stop(self) -> None:
        self.emit = None
