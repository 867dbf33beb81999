"""Which client addresses may reach the API: allow and deny lists, and temporary blocks.

- ``[security] deny`` (CIDR networks, IPv4 or IPv6) is always refused; a non-empty ``allow``
  refuses every address outside it. Both come from plugins.toml and change with it.
- Blocks are made by admins (API or CLI, for a time or until lifted) or automatically, for
  ``block_minutes``, when an address crosses ``ip_max_failures`` failed logins or
  ``ip_max_unauthorized`` refused credentials (401s) within ``window_minutes``. They live in
  the ``ip_blocks`` table; a running server re-reads it every few seconds, so a block lifted
  from the command line takes effect without a restart.
- ``exempt`` addresses (loopback by default) are never blocked, by hand or automatically: the
  local admin always keeps a way in. The allow and deny lists still apply to them.

Every request is checked, so the verdict for an address is remembered until the lists or
blocks change (or its block runs out): one dictionary look-up per request.

Several servers on one PostgreSQL database: a block made or lifted on one is announced to the
others (``BLOCKS_CHANNEL``), which re-read the table at once, and each refused credential is counted
on every server (``count_elsewhere``), so an address spreading its attempts over them is blocked
at the same total.
"""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import UTC, datetime

import attrs
import sqlalchemy as sa

from paperchain_sdk import InputError

from ...store.tables import ip_blocks

RELOAD_SECONDS = 5.0
BLOCKS_CHANNEL = "paperchain_blocks"  # {"changed": 1}: re-read the blocks; {"address": a}: a refused credential
_MAX_REMEMBERED = 50_000
_BLOCKS = sa.select(ip_blocks.c.network, ip_blocks.c.reason, ip_blocks.c.created, ip_blocks.c.created_by,
                    ip_blocks.c.expires)
_LIFT = sa.delete(ip_blocks).where(ip_blocks.c.network == sa.bindparam("lifted"))


@attrs.define
class Block:
    network: str
    reason: str
    created: str
    created_by: str
    expires: float | None  # epoch seconds; None: until lifted

    def view(self, now: float) -> dict:
        return {"network": self.network, "reason": self.reason, "created": self.created,
                "created_by": self.created_by, "expires": _iso(self.expires) if self.expires else None,
                "automatic": self.created_by == "automatic",
                "seconds_left": round(self.expires - now, 3) if self.expires else None}


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR network (or one address) from user input; InputError when it is neither."""
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        raise InputError(f"{text!r} is not an address or CIDR network.",
                         hint="write e.g. '192.0.2.7', '198.51.100.0/24' or '2001:db8::/32'") from None


def _address(text: str | None):
    try:
        address = ipaddress.ip_address(text or "")
    except ValueError:
        return None  # not an IP peer (e.g. a Unix socket): the lists cannot name it
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


class AddressGuard:
    def __init__(self, kernel, settings):
        self.k = kernel
        self.blocks: dict[str, Block] = {}
        self._verdicts: dict[str | None, tuple[str | None, float]] = {}  # address -> (refusal, valid until)
        self._unauthorized: dict[str, list[float]] = {}  # address -> [window start, count]
        self._reload_at = 0.0
        self._changes = 0
        self._task: asyncio.Task | None = None
        self.configure(settings)

    def configure(self, settings) -> None:
        self.settings = settings
        self.allow = [ipaddress.ip_network(n, strict=False) for n in settings.allow]
        self.deny = [ipaddress.ip_network(n, strict=False) for n in settings.deny]
        self.exempt_networks = [ipaddress.ip_network(n, strict=False) for n in settings.exempt]
        self._changed()

    async def load(self, now: float) -> None:
        self._reload_at = now + RELOAD_SECONDS
        await self.k.sql.write(sa.delete(ip_blocks).where(ip_blocks.c.expires.is_not(None), ip_blocks.c.expires <= now))
        self.blocks = {row.network: _block(row) for row in await self.k.sql.read(_BLOCKS)}
        self._changed()

    def exempt(self, address: str | None) -> bool:
        parsed = _address(address)
        return parsed is None or any(parsed in n for n in self.exempt_networks)

    # -- the check made on every request --------------------------------------------------------

    def refusal(self, address: str | None, now: float) -> str | None:
        """Why requests from ``address`` are refused now, or None."""
        if now >= self._reload_at:
            self._reload_soon(now)
        verdict = self._verdicts.get(address)
        if verdict is None or verdict[1] <= now:
            verdict = self._verdict(address, now)
            if len(self._verdicts) >= _MAX_REMEMBERED:
                self._verdicts.clear()
            self._verdicts[address] = verdict
        return verdict[0]

    def _verdict(self, address: str | None, now: float) -> tuple[str | None, float]:
        parsed = _address(address)
        forever = float("inf")
        if parsed is None:
            return None, forever
        if any(parsed in n for n in self.deny):
            return f"the address {address} is on the deny list ([security] deny)", forever
        if self.allow and not any(parsed in n for n in self.allow):
            return f"the address {address} is not on the allow list ([security] allow)", forever
        if any(parsed in n for n in self.exempt_networks):
            return None, forever
        for block in self.blocks.values():
            if (block.expires is None or block.expires > now) and parsed in ipaddress.ip_network(block.network):
                if block.expires is None:
                    return f"the address {address} is blocked ({block.reason}) until an admin lifts the block", forever
                return (f"the address {address} is blocked ({block.reason}) until {_iso(block.expires)}",
                        block.expires)
        return None, forever

    def block_of(self, address: str | None, now: float) -> Block | None:
        parsed = _address(address)
        for block in self.blocks.values():
            if parsed is not None and (block.expires is None or block.expires > now) \
                    and parsed in ipaddress.ip_network(block.network):
                return block
        return None

    # -- automatic blocks -----------------------------------------------------------------------

    def unauthorized(self, address: str | None, now: float) -> Block | None:
        """Count a refused credential from ``address``; the block made when it crosses the limit."""
        if address is None or self.exempt(address):
            return None
        _announce(self.k, {"address": address})
        counter = self._count(address, now)
        if counter[1] < self.settings.ip_max_unauthorized:
            return None
        del self._unauthorized[address]
        return self.add(address, minutes=self.settings.block_minutes, by="automatic", now=now,
                        reason=f"{self.settings.ip_max_unauthorized} refused credentials within "
                               f"{self.settings.window_minutes:g} minutes")

    def count_elsewhere(self, address: str, now: float) -> None:
        """Count a credential another server refused from ``address`` (that server blocks, if due)."""
        if not self.exempt(address):
            self._count(address, now)

    def _count(self, address: str, now: float) -> list:
        counter = self._unauthorized.get(address)
        if counter is None or now - counter[0] > self.settings.window_minutes * 60:
            if len(self._unauthorized) >= _MAX_REMEMBERED:
                self._unauthorized.clear()
            counter = self._unauthorized[address] = [now, 0]
        counter[1] += 1
        return counter

    def reload_now(self, now: float) -> None:
        """Re-read the blocks (another server changed them)."""
        self._reload_at = 0.0
        self._reload_soon(now)

    # -- changes --------------------------------------------------------------------------------

    def add(self, network: str, *, minutes: float | None, reason: str, by: str, now: float) -> Block:
        """Block ``network`` (an address or CIDR) for ``minutes`` (None: until lifted)."""
        parsed = parse_network(network)
        if minutes is not None and not 0 < minutes <= 525_600:
            raise InputError("minutes must be between 1 and 525600 (a year).",
                             hint="leave it out to block until an admin lifts the block")
        exempt = [str(n) for n in self.exempt_networks if n.version == parsed.version and n.overlaps(parsed)]
        if exempt:
            raise InputError(f"{parsed} covers exempt addresses {exempt}, which are never blocked.",
                             hint="block a narrower network, or change [security] exempt in plugins.toml")
        block = Block(network=str(parsed), reason=reason or "blocked by an admin",
                      created=_iso(now), created_by=by, expires=now + minutes * 60 if minutes else None)
        self.blocks[block.network] = block
        from ...cluster import announce_when_committed

        announce_when_committed(self.k, self.k.journal.upsert("ip_blocks", attrs.asdict(block)), BLOCKS_CHANNEL,
                                {"changed": 1})
        self._changed()
        return block

    async def remove(self, network: str) -> Block | None:
        """Lift the block on ``network``; the block that was lifted, or None."""
        key = str(parse_network(network))
        block = self.blocks.pop(key, None)
        self._changed()  # a re-read already under way must not put the block back
        await self.k.journal.flush()
        row = await self.k.sql.first(_BLOCKS.where(ip_blocks.c.network == key))
        await self.k.journal.execute(_LIFT, {"lifted": key})
        self.blocks.pop(key, None)  # nor one that read the row before the delete was committed
        self._changed()
        _announce(self.k, {"changed": 1})
        return block or (_block(row) if row else None)

    def listing(self, now: float) -> list[dict]:
        live = [b for b in self.blocks.values() if b.expires is None or b.expires > now]
        return [b.view(now) for b in sorted(live, key=lambda b: b.created)]

    def _changed(self) -> None:
        self._changes += 1
        self._verdicts.clear()

    def _reload_soon(self, now: float) -> None:
        """Re-read the blocks in the background (the command line may have changed them)."""
        self._reload_at = now + RELOAD_SECONDS
        if self._task is None or self._task.done():
            try:
                self._task = asyncio.get_running_loop().create_task(self._reload(now))
            except RuntimeError:  # no running loop: nothing to re-read with
                pass

    async def _reload(self, now: float) -> None:
        changes = self._changes
        try:
            await self.k.journal.flush()
            blocks = {row.network: _block(row) for row in await self.k.sql.read(_BLOCKS)}
        except Exception:  # noqa: BLE001 - a closed store at shutdown: keep what we have
            return
        if changes == self._changes and blocks != self.blocks:  # else a change made here meanwhile: next time
            self.blocks = blocks
            self._changed()


def _announce(kernel, message: dict) -> None:
    from ...cluster import announce

    announce(kernel, BLOCKS_CHANNEL, message)


def _block(row) -> Block:
    return Block(**row._mapping)
