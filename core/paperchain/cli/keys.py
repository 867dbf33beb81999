"""``keys status/encrypt-existing/rotate``: the blob store's encryption at rest."""

from __future__ import annotations

import click

from .common import console, table, with_open_kernel
from .main import cli


@cli.group()
def keys():
    """Encryption at rest: the master key, per-tenant data keys, encrypting and rotating."""


@keys.command("status")
@click.pass_context
def keys_status(ctx):
    """Where the master key comes from, whether new blobs are encrypted, and what is stored how."""
    import os

    from ..store.keys import ENV, fingerprint

    async def body(kernel):
        ring, blobs = kernel.keyring, kernel.blobs
        source = f"the environment variable {ENV}" if os.environ.get(ENV) else str(ring.key_file)
        plain = encrypted = 0
        for _, is_encrypted in blobs.names():
            encrypted += is_encrypted
            plain += not is_encrypted
        out = console()
        out.print(f"master key {fingerprint(ring.master)} from {source}")
        out.print(f"new blobs are {'encrypted (AES-256-GCM)' if blobs.encrypt else 'NOT encrypted'}")
        out.print(f"blobs: {encrypted} encrypted, {plain} not encrypted")
        if plain:
            out.print("`paperchain keys encrypt-existing` encrypts the rest.")
        t = table("tenant", "data key in use")
        for tenant in await ring.tenants():
            t.add_row(tenant or "(none)", str(ring.current_version(tenant)))
        out.print(t)

    with_open_kernel(ctx, body)


@keys.command("encrypt-existing")
@click.pass_context
def keys_encrypt_existing(ctx):
    """Turn encryption on and encrypt every blob stored without it (each checked against its
    SHA-256, then replaced; safe to stop and run again). Stop `paperchain serve` first."""

    async def body(kernel):
        import asyncio

        await kernel.keyring.set_encrypt_blobs(True)
        kernel.blobs.encrypt = True
        owners = await _document_owners(kernel)
        done = await asyncio.to_thread(_encrypt_plain, kernel.blobs, owners)
        click.echo(f"Encrypted {done} blob(s); new blobs are encrypted from now on.")

    with_open_kernel(ctx, body, changes=True)


@keys.command("rotate")
@click.option("--data-keys", is_flag=True,
              help="Also give every tenant a new data key and re-encrypt every blob under it.")
@click.pass_context
def keys_rotate(ctx, data_keys):
    """Replace the master key and rewrap every data key with it. With the key file, a new key is
    written in its place (the old one stops working: update your backups of it). With
    PAPERCHAIN_MASTER_KEY, give the new key in PAPERCHAIN_NEW_MASTER_KEY. Stop `paperchain serve`
    first: it keeps keys in memory."""
    import os

    from ..store.keys import ENV, NEW_ENV, decode_key

    async def body(kernel):
        import asyncio

        ring = kernel.keyring
        new = os.environ.get(NEW_ENV)
        new_key = decode_key(new, f"the environment variable {NEW_ENV}") if new else None
        fp, count = await ring.rotate_master(new_key)
        click.echo(f"Master key is now {fp}; {count} key(s) rewrapped.")
        if os.environ.get(ENV):
            click.echo(f"Set {ENV} to the new key before the next start.")
        if data_keys:
            versions = await ring.rotate_data_keys()
            done = await asyncio.to_thread(_reencrypt_older, kernel.blobs, ring)
            click.echo(f"New data keys for {len(versions)} tenant(s); {done} blob(s) re-encrypted.")

    with_open_kernel(ctx, body, changes=True)


async def _document_owners(kernel) -> dict[str, tuple[str, str]]:
    """Document id -> (tenant, sha256), to encrypt each document's blob under its own tenant."""
    import sqlalchemy as sa

    from ..store.tables import documents

    rows = await kernel.sql.read(sa.select(documents.c.id, documents.c.tenant, documents.c.sha256))
    return {row.id: (row.tenant or "", row.sha256) for row in rows}


def _encrypt_plain(blobs, owners: dict[str, tuple[str, str]]) -> int:
    done = 0
    for name, encrypted in list(blobs.names()):
        if not encrypted:
            tenant, sha256 = owners.get(name, ("", name))  # anything not a document is named by its digest
            blobs.rewrite(name, tenant, sha256=sha256)
            done += 1
    return done


def _reencrypt_older(blobs, ring) -> int:
    done = 0
    for name, encrypted in list(blobs.names()):
        if encrypted:
            tenant, version = blobs.key_version(name)
            if version < ring.current_version(tenant):
                blobs.rewrite(name, tenant)
                done += 1
    return done
