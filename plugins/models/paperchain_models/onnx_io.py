"""Reading an ONNX graph's declared inputs and outputs, and checking values against them."""

from __future__ import annotations

from typing import Any

import numpy as np

from paperchain_sdk import InputError

# ONNX element types we accept as inputs, with the NumPy dtype we build for each.
DTYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
    "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(string)": np.object_,
}


def describe_onnx(data: bytes) -> tuple[list[dict], list[dict]]:
    """Validate with ``onnx.checker`` and return the graph's (inputs, outputs) as plain dicts."""
    import onnx

    try:
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - onnx raises several unrelated types
        raise InputError(f"the file is not a valid ONNX model: {str(exc).strip().splitlines()[0][:300]}",
                         hint="export the model with onnx / skl2onnx / torch.onnx and check it with onnx.checker") from None
    initializers = {i.name for i in model.graph.initializer}
    inputs = [_value_info(v) for v in model.graph.input if v.name not in initializers]
    return inputs, [_value_info(v) for v in model.graph.output]


def _value_info(value) -> dict:
    import onnx

    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        return {"name": value.name, "type": kind or "unknown", "shape": None}
    tensor = value.type.tensor_type
    element = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type) if tensor.elem_type else None
    type_name = {np.dtype(np.float32): "tensor(float)", np.dtype(np.float64): "tensor(double)",
                 np.dtype(np.int64): "tensor(int64)", np.dtype(np.int32): "tensor(int32)",
                 np.dtype(np.bool_): "tensor(bool)", np.dtype(object): "tensor(string)"}.get(
        np.dtype(element) if element is not None else None, f"tensor(elem_type={tensor.elem_type})")
    shape = None
    if tensor.HasField("shape"):
        shape = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    return {"name": value.name, "type": type_name, "shape": shape}


def coerce_inputs(values: Any, declared: list[dict]) -> dict[str, np.ndarray]:
    """Build the arrays onnxruntime gets, or raise InputError saying which input is wrong and how.

    A single example may omit the batch axis: it is added.
    """
    if not isinstance(values, dict):
        raise InputError(f"inputs must be an object mapping input names to values, got {type(values).__name__}.",
                         hint=f"send {{{', '.join(repr(d['name']) for d in declared)}: ...}}")
    names = [d["name"] for d in declared]
    missing = [n for n in names if n not in values]
    extra = [n for n in values if n not in names]
    if missing or extra:
        raise InputError(f"the model takes inputs {names}; missing {missing}, unknown {extra}.",
                         hint="name each input exactly as the model declares it")
    return {d["name"]: _coerce_one(values[d["name"]], d) for d in declared}


def _coerce_one(value: Any, declared: dict) -> np.ndarray:
    name, type_name, shape = declared["name"], declared["type"], declared["shape"]
    dtype = DTYPES.get(type_name)
    if dtype is None:
        raise InputError(f"input {name!r} has type {type_name}, which this server cannot build from JSON.",
                         hint="serve models whose inputs are float, double, int32, int64, bool or string tensors")
    if dtype is np.object_:
        array = np.asarray(value, dtype=object)
        flat = array.reshape(-1)
        bad = next((v for v in flat if not isinstance(v, str)), None)
        if bad is not None or array.dtype != object:
            raise InputError(f"input {name!r} takes strings, got {type(bad).__name__} {bad!r:.60}.",
                             hint="send text values")
    else:
        try:
            array = np.asarray(value)
        except ValueError as exc:
            raise InputError(f"input {name!r} is not a rectangular array: {exc}.", hint="give rows of equal length") from None
        if array.dtype == object or array.dtype.kind in "USV":
            raise InputError(f"input {name!r} takes numbers ({type_name}), got {array.dtype.kind == 'U' and 'text' or 'mixed values'}.",
                             hint="send numbers only, as nested lists")
        if dtype is not np.bool_ and array.dtype.kind == "f" and np.dtype(dtype).kind == "i" and \
                not np.all(np.mod(array, 1) == 0):
            raise InputError(f"input {name!r} takes integers ({type_name}), got fractional numbers.", hint="send integers")
        array = array.astype(dtype)
    if shape is not None:
        if array.ndim == len(shape) - 1:
            array = array[np.newaxis, ...]
        if array.ndim != len(shape):
            raise InputError(f"input {name!r} must have {len(shape)} dimensions {_shape_text(shape)}, "
                             f"got {array.ndim} (shape {list(array.shape)}).", hint="check the nesting of the lists")
        for axis, (want, got) in enumerate(zip(shape, array.shape)):
            if want not in (None, 0) and want != got:
                raise InputError(f"input {name!r} must have shape {_shape_text(shape)}, got {list(array.shape)} "
                                 f"(axis {axis}: {got} instead of {want}).", hint="send values of the declared shape")
    if array.size == 0:
        raise InputError(f"input {name!r} is empty.", hint="send at least one example")
    return array


def _shape_text(shape: list) -> str:
    return "[" + ", ".join("N" if d in (None, 0) else str(d) for d in shape) + "]"
