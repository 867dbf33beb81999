"""A zero-copy NumPy view of a Pillow "L" image through Pillow's Arrow export.

``np.asarray(image)`` copies the pixels through ``tobytes()`` (chunked, then joined): on a
4000x2864 page that copy costs about as much as the grey conversion itself. Pillow (>= 11.2)
exports single-block images through the Arrow C data interface, a stable C ABI, so the pixels can
be read in place. Anything unexpected (an old Pillow, an image stored in several blocks, another
layout) falls back to ``np.asarray``.
"""

from __future__ import annotations

import ctypes

import numpy as np


class _ArrowSchema(ctypes.Structure):
    _fields_ = [("format", ctypes.c_char_p), ("name", ctypes.c_char_p), ("metadata", ctypes.c_char_p),
                ("flags", ctypes.c_int64), ("n_children", ctypes.c_int64), ("children", ctypes.c_void_p),
                ("dictionary", ctypes.c_void_p), ("release", ctypes.c_void_p), ("private_data", ctypes.c_void_p)]


class _ArrowArray(ctypes.Structure):
    _fields_ = [("length", ctypes.c_int64), ("null_count", ctypes.c_int64), ("offset", ctypes.c_int64),
                ("n_buffers", ctypes.c_int64), ("n_children", ctypes.c_int64),
                ("buffers", ctypes.POINTER(ctypes.c_void_p)), ("children", ctypes.c_void_p),
                ("dictionary", ctypes.c_void_p), ("release", ctypes.c_void_p), ("private_data", ctypes.c_void_p)]


_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def grey_view(image) -> np.ndarray:
    """The (height, width) uint8 pixels of an "L" image, read-only; shares memory when it can."""
    if image.mode != "L":
        raise ValueError(f"grey_view needs an 'L' image, got {image.mode!r}")
    width, height = image.size
    try:
        schema_capsule, array_capsule = image.__arrow_c_array__()
    except (AttributeError, ValueError):  # no Arrow export, or rows not in one block
        return np.asarray(image)
    schema = _ArrowSchema.from_address(_capsule_pointer(schema_capsule, b"arrow_schema"))
    array = _ArrowArray.from_address(_capsule_pointer(array_capsule, b"arrow_array"))
    if (schema.format != b"C" or array.length != width * height or array.offset or array.null_count
            or array.n_buffers != 2 or not array.buffers[1] or width * height == 0):
        return np.asarray(image)
    memory = (ctypes.c_uint8 * array.length).from_address(array.buffers[1])
    memory.capsules = (schema_capsule, array_capsule)  # released (by Pillow) only when the view dies
    view = np.frombuffer(memory, np.uint8).reshape(height, width)
    view.flags.writeable = False
    return view
