"""``paperchain quantum …``: run circuits, print final states, list and run algorithms."""

from __future__ import annotations

import json

import click


def _fail(exc) -> None:
    raise click.ClickException(str(exc))  # a PaperchainError's text already ends with its hint


@click.group()
def quantum():
    """Quantum circuits and algorithms on the fused state-vector simulator."""


@quantum.command("run")
@click.argument("circuit", type=click.Path(dir_okay=False))
@click.option("--shots", type=click.IntRange(1, 1_000_000), default=1000, show_default=True)
@click.option("--backend", type=click.Choice(["paperchain", "cirq"]), default="paperchain", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["auto", "qasm", "cirq-json", "gates"]), default="auto")
@click.option("--seed", type=int, default=None)
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def run(circuit, shots, backend, fmt, seed, as_json):
    """Simulate CIRCUIT (OpenQASM 2.0, Cirq JSON or a JSON gate list) and print the counts."""
    from paperchain_sdk import PaperchainError

    from . import circuits, service

    try:
        result = service.run_circuit(circuits.load_file(circuit, fmt), shots=shots, backend=backend, seed=seed)
    except PaperchainError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps({k: v for k, v in result.items() if k != "svg"}, indent=2))
        return
    click.echo(result["circuit"])
    for key, counts in result["counts"].items():
        click.echo(f"\n{key}: {shots} shots on {backend}")
        peak = max(counts.values())
        for bits, count in list(counts.items())[:16]:
            click.echo(f"  {bits}  {count:>7}  {'#' * max(1, round(40 * count / peak))}")


@quantum.command("state")
@click.argument("circuit", type=click.Path(dir_okay=False))
@click.option("--backend", type=click.Choice(["paperchain", "cirq"]), default="paperchain", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["auto", "qasm", "cirq-json", "gates"]), default="auto")
@click.option("--json", "as_json", is_flag=True, help="print the amplitudes as JSON")
def state(circuit, backend, fmt, as_json):
    """Print CIRCUIT's final amplitudes (complex128; measurements collapse the state)."""
    from paperchain_sdk import PaperchainError

    from . import circuits, service

    try:
        result = service.final_state(circuits.load_file(circuit, fmt), backend=backend)
    except PaperchainError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    width = len(result["qubits"])
    for i, (re, im) in enumerate(result["amplitudes"]):
        if abs(re) > 1e-9 or abs(im) > 1e-9:
            click.echo(f"|{i:0{width}b}>  {re:+.6f} {im:+.6f}i")


@quantum.command("algorithms")
@click.argument("name", required=False)
@click.option("--param", "params", multiple=True, metavar="KEY=JSON", help="an algorithm parameter, e.g. number=21")
def algorithms(name, params):
    """List the algorithms, or run NAME with --param KEY=VALUE and print its result as JSON."""
    from paperchain_sdk import PaperchainError

    from .algorithms import ALGORITHMS
    from .service import run_algorithm

    if not name:
        for key, (_, summary) in ALGORITHMS.items():
            click.echo(f"{key:<20} {summary}")
        return
    parsed = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--param")
        try:
            parsed[key] = json.loads(value)
        except ValueError:
            parsed[key] = value
    try:
        click.echo(json.dumps(run_algorithm(name, parsed), indent=2))
    except PaperchainError as exc:
        _fail(exc)
