"""``paperchain models …``: the registry, training, predictions and recommendations from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import click

from paperchain_sdk.cli import with_kernel


async def _service(kernel):
    from .service import ModelService

    found = kernel.plugin_state("models").get("service")  # what paperchain_startup installed
    # None: the plugin did not start with this kernel (disabled in the config)
    return found if found is not None else await ModelService(kernel).open()


async def _registry(kernel):
    return (await _service(kernel)).registry


def _ref(ref: str) -> dict:
    """The shell is the deployment's operator: NAME is the deployment's model, TENANT:NAME a tenant's."""
    from .registry import scope

    tenant, name = scope(ref, "")
    return {"name": name, "tenant": tenant}


def _echo(value) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


@click.group()
def models():
    """Model registry, training, predictions and recommendations.

    NAME is a model of the deployment's own (shared read-only with every tenant); TENANT:NAME
    names a tenant's model.
    """


@models.command("list")
def list_models():
    """List registered models with their production and staging versions."""
    async def body(kernel):
        return await (await _registry(kernel)).names()
    _echo(with_kernel(body))


@models.command()
@click.argument("name")
def show(name):
    """Show a model's versions, metadata and metrics."""
    async def body(kernel):
        model = _ref(name)
        return [v.to_json() for v in await (await _registry(kernel)).versions(model["name"], tenant=model["tenant"])]
    _echo(with_kernel(body))


@models.command("import")
@click.argument("name")
@click.argument("onnx_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--labels", default="", help="comma-separated class labels, in the model's output order")
def import_model(name, onnx_file, labels):
    """Import an ONNX file as a new version of NAME."""
    async def body(kernel):
        model = _ref(name)
        registry = await _registry(kernel)
        version = await registry.import_onnx(model["name"], onnx_file.read_bytes(), created_by="cli",
                                             labels=[s for s in labels.split(",") if s], tenant=model["tenant"])
        return version.to_json()
    _echo(with_kernel(body, changes=True))


@models.command()
@click.argument("name")
@click.argument("version", type=int)
@click.argument("stage", type=click.Choice(["staging", "production"]), default="production")
def promote(name, version, stage):
    """Put VERSION of NAME in STAGE (production by default)."""
    async def body(kernel):
        model = _ref(name)
        registry = await _registry(kernel)
        return (await registry.promote(model["name"], version, stage, by="cli", tenant=model["tenant"])).to_json()
    _echo(with_kernel(body, changes=True))


@models.command()
@click.argument("name")
def rollback(name):
    """Put the previous production version of NAME back."""
    async def body(kernel):
        model = _ref(name)
        return (await (await _registry(kernel)).rollback(model["name"], by="cli", tenant=model["tenant"])).to_json()
    _echo(with_kernel(body, changes=True))


@models.command()
@click.argument("name")
@click.argument("version", type=int, required=False)
@click.option("--force", is_flag=True, help="also delete a version in production")
def delete(name, version, force):
    """Delete VERSION of NAME (or every version)."""
    async def body(kernel):
        model = _ref(name)
        return await (await _registry(kernel)).delete(model["name"], version, force=force, tenant=model["tenant"])
    _echo({"deleted": with_kernel(body, changes=True)})


@models.command()
@click.argument("name")
@click.argument("text", nargs=-1, required=True)
@click.option("--version", default="", help="a version number, 'staging' or 'production'")
def classify(name, text, version):
    """Classify TEXT (one or more strings) with the text model NAME."""
    async def body(kernel):
        svc = await _service(kernel)
        model = await svc.registry.resolve(**_ref(name), version=version)
        return [{"label": p.label, "probabilities": p.probabilities}
                for p in svc.predictor.predict_batch(model, texts=list(text))]
    _echo(with_kernel(body))


@models.command()
@click.argument("name")
@click.option("--field", default="tags", help="labels from 'tags' or 'metadata.<key>'")
@click.option("--algorithm", type=click.Choice(["logistic", "svm"]), default="logistic")
@click.option("--records", "records_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="train a tabular model from a CSV or JSON file instead of labeled documents")
@click.option("--task", type=click.Choice(["classification", "regression", "clustering"]), default="classification",
              help="with --records")
@click.option("--target", default=None, help="with --records: the column to predict")
@click.option("--clusters", default=3, help="with --task clustering")
@click.option("--promote/--no-promote", default=False, help="put the new version in production")
def train(name, field, algorithm, records_file, task, target, clusters, promote):
    """Train a new version of NAME and wait for it (labeled documents of its tenant, or --records)."""
    request = {"task": "text", "field": field, "algorithm": algorithm, "promote": promote}
    if records_file is not None:
        content = records_file.read_text(encoding="utf-8")
        data = {"csv": content} if records_file.suffix.lower() == ".csv" else {"records": json.loads(content)}
        request = {"task": task, "target": target, "clusters": clusters, "promote": promote,
                   "algorithm": "linear", **data}

    async def body(kernel):
        return await (await _service(kernel)).train_now(**_ref(name), request=request, by="cli")
    job = with_kernel(body, changes=True)
    _echo(job)
    if job["status"] != "succeeded":
        raise click.ClickException(job["error"] or job["status"])


@models.command()
@click.argument("user")
@click.option("-n", default=10, show_default=True)
@click.option("--method", type=click.Choice(["hybrid", "als", "item", "content", "popular"]), default="hybrid")
@click.option("--include-seen", is_flag=True)
def recommend(user, n, method, include_seen):
    """Documents recommended to USER."""
    async def body(kernel):
        return await (await _service(kernel)).recommender.recommend(user, n, not include_seen, method)
    _echo(with_kernel(body))


@models.command()
@click.option("-k", default=10, show_default=True)
def evaluate(k):
    """Precision@k of each recommender on a held-out split of the recorded interactions."""
    async def body(kernel):
        return await (await _service(kernel)).recommender.evaluate(k)
    _echo(with_kernel(body))
