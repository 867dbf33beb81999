"""``paperchain ledger …``: verification needs no server; the offline ones need no kernel either."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from paperchain_sdk import InputError


def _read(value: str, what: str) -> str:
    """A file's text, ``-`` for stdin, or the value itself when it is not a file."""
    if value == "-":
        return sys.stdin.read()
    path = Path(value)
    if path.is_file():
        return path.read_text()
    if what == "key" and "+" in value:
        return value
    raise InputError(f"{what} file {value!r} does not exist.", hint=f"give the path of the {what} file")


def _with_book(body):
    from paperchain_sdk.cli import with_kernel

    async def run(kernel):
        from . import runtime

        return body(runtime.book_for_kernel(kernel))

    return with_kernel(run)


@click.group(name="ledger")
def ledger():
    """The ledger: verify it, its receipts and checkpoints; show its key."""


@ledger.command("verify")
@click.option("--path", type=click.Path(file_okay=False), help="Ledger directory (default: <data_dir>/ledger).")
@click.pass_context
def verify(ctx, path):
    """Re-compute the whole tree from the stored entries; report the first entry that does not match."""
    from .integrity import verify_log

    if path is None:  # the deployment's log, in whichever database it uses
        import asyncio

        from paperchain_sdk.cli import with_kernel

        async def check(kernel):
            from . import runtime

            log = runtime.book_for_kernel(kernel).log
            return await asyncio.to_thread(verify_log, log.directory, log.database)

        report = with_kernel(check)
    else:
        if not (Path(path) / "ledger.db").exists():
            raise InputError(f"there is no ledger in {path}.", hint="check --path or the deployment's data_dir")
        report = verify_log(path)
    if report.ok:
        click.echo(f"OK: {report.size} entries and {report.checkpoints} signed checkpoints match.")
        return
    first = report.first_bad_entry
    click.echo(f"FAILED: {len(report.problems)} problem(s)" + (f"; first bad entry: {first}" if first is not None else ""))
    for problem in report.problems:
        click.echo(f"  - {problem.message}")
    ctx.exit(1)


@ledger.command("verify-receipt")
@click.argument("receipt")
@click.option("--key", "key", required=True, help="The log's verifier key, or a file holding it (log.vkey).")
@click.option("--earlier", help="A checkpoint you trusted before (file): also check the log only grew since.")
@click.option("--proof", "proof_file", help="JSON file with the consistency proof from --earlier (a list of base64 hashes).")
@click.pass_context
def verify_receipt_command(ctx, receipt, key, earlier, proof_file):
    """Check RECEIPT (a JSON file, - for stdin) offline: signature, checkpoint and inclusion proof."""
    from .verifier import VerificationError, verify_receipt

    text, vkey = _read(receipt, "receipt"), _read(key, "key")
    earlier_note = _read(earlier, "checkpoint") if earlier else None
    proof = json.loads(_read(proof_file, "proof")) if proof_file else None
    if isinstance(proof, dict):
        proof = proof.get("proof")
    try:
        summary = verify_receipt(text, vkey, earlier_checkpoint=earlier_note, consistency_proof=proof)
    except VerificationError as exc:
        click.echo(f"INVALID: {exc}")
        ctx.exit(1)
    click.echo(json.dumps({"valid": True, **summary}, indent=2))


@ledger.command("verify-checkpoint")
@click.argument("earlier")
@click.argument("later")
@click.option("--key", "key", required=True, help="The log's verifier key, or a file holding it.")
@click.option("--proof", "proof_file", required=True, help="JSON file with the consistency proof (list of base64).")
@click.pass_context
def verify_checkpoint(ctx, earlier, later, key, proof_file):
    """Check that checkpoint LATER extends checkpoint EARLIER (both files), offline."""
    from .verifier import VerificationError, verify_extension

    proof = json.loads(_read(proof_file, "proof"))
    if isinstance(proof, dict):
        proof = proof.get("proof")
    try:
        old, new = verify_extension(_read(earlier, "checkpoint"), _read(later, "checkpoint"), proof, _read(key, "key"))
    except VerificationError as exc:
        click.echo(f"INVALID: {exc}")
        ctx.exit(1)
    click.echo(f"OK: the tree of size {new.size} extends the tree of size {old.size}.")


@ledger.command("key")
def key():
    """Print the log's verifier key (give it to whoever verifies receipts)."""
    click.echo(_with_book(lambda book: str(book.log.signer.verifier)))


@ledger.command("checkpoint")
def checkpoint():
    """Print the latest signed checkpoint."""
    click.echo(_with_book(lambda book: book.log.latest()[2]), nl=False)


@ledger.command("receipt")
@click.argument("index", type=int)
def receipt(index):
    """Print a receipt for entry INDEX against the latest checkpoint."""
    click.echo(json.dumps(_with_book(lambda book: book.log.receipt(index)), indent=2))


@ledger.command("consistency")
@click.argument("first", type=int)
@click.argument("second", type=int, required=False)
def consistency(first, second):
    """Print a consistency proof from tree size FIRST to SECOND (default: latest)."""
    import base64

    def prove(book):
        second_size = book.log.size if second is None else second
        proof = book.log.consistency_proof(first, second_size)
        return {"first": first, "second": second_size, "proof": [base64.b64encode(p).decode() for p in proof]}

    click.echo(json.dumps(_with_book(prove), indent=2))


@ledger.command("notarize")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def notarize(file):
    """Record FILE's SHA-256 in the ledger and print its receipt."""
    from paperchain_sdk import sha256_file

    digest, size = sha256_file(file)
    receipt_data = _with_book(lambda book: book.notarize(digest, {"name": Path(file).name, "size": size}))
    click.echo(json.dumps(receipt_data, indent=2))
