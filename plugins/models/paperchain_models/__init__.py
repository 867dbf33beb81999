"""Paperchain models: a versioned ONNX registry, inference, training, auto-classification, recommendations.

The entry point loads this module, so it stays light: implementations are named by import string
and numpy, onnxruntime, numba, scikit-learn and aiohttp load only when they are used.
"""

from __future__ import annotations

from paperchain_sdk import ActionSpec, CommandSpec, ModelSpec, hookimpl

from .settings import ClassifySettings, ModelSettings, TrainSettings

__version__ = "0.1.0"


@hookimpl
def paperchain_models():
    return [
        ModelSpec(name="models.predict", impl="paperchain_models.components:RegisteredModel",
                  summary="Predict with a registered model (text, record or raw inputs) through onnxruntime",
                  settings=ModelSettings, task="predict"),
    ]


@hookimpl
def paperchain_actions():
    return [
        ActionSpec(name="models.classify", impl="paperchain_models.components:ClassifyDocument",
                   summary="Label the document (tag or metadata) with a text classifier, through ONNX",
                   settings=ClassifySettings),
        ActionSpec(name="models.train", impl="paperchain_models.components:TrainFromDocuments",
                   summary="Retrain a text classifier from the documents users have labeled",
                   settings=TrainSettings),
    ]


@hookimpl
def paperchain_commands():
    return [CommandSpec(name="models", impl="paperchain_models.cli:models",
                        summary="Model registry, training, predictions and recommendations")]


@hookimpl
def paperchain_startup(kernel):
    async def start():
        from paperchain_sdk.contracts import bind_kernel

        from .service import ModelService, install

        settings = kernel.component("models.predict").settings if _has_component(kernel) else ModelSettings()
        service = ModelService(kernel, intra_op_threads=settings.intra_op_threads,
                               inter_op_threads=settings.inter_op_threads, cache_size=settings.cache_size)
        await service.open()
        install(kernel, service)
        bind_kernel(kernel, "models.predict", "models.classify", "models.train")  # they use this kernel's service

    return start()


@hookimpl
def paperchain_shutdown(kernel):
    from .service import uninstall

    uninstall(kernel)


@hookimpl
def paperchain_routes(kernel):
    from .routes import routes

    return routes()


def _has_component(kernel) -> bool:
    try:
        kernel.component("models.predict")
        return True
    except Exception:  # noqa: BLE001 - the component may be disabled
        return False


@hookimpl
def paperchain_ui(kernel):
    from .ui import plugin_ui

    return plugin_ui()
