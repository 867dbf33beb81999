"""The OpenAPI 3.1 document, generated from the live routes and the attrs classes they name.

Each handler carries an :class:`paperchain_sdk.web.EndpointDoc` (set by ``@endpoint``); plugin
routes are described the same way, so the document always matches what the server serves.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

import attrs

from paperchain_sdk.web import endpoint_doc

from .schemas import Error

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def type_schema(tp: Any, components: dict) -> dict:
    """JSON Schema (2020-12, as OpenAPI 3.1 uses) for a type annotation."""
    if tp is Any or tp is None:
        return {} if tp is Any else {"type": "null"}
    if tp is type(None):
        return {"type": "null"}
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        options = [type_schema(a, components) for a in args]
        return {"anyOf": options}
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        item = args[0] if args else Any
        return {"type": "array", "items": type_schema(item, components)}
    if origin is dict or tp is dict:
        value = args[1] if len(args) == 2 else Any
        return {"type": "object", "additionalProperties": type_schema(value, components)}
    if attrs.has(tp):
        name = tp.__name__
        if name not in components:
            components[name] = {}  # reserve first: recursive types terminate
            components[name] = class_schema(tp, components)
        return {"$ref": f"#/components/schemas/{name}"}
    return {}


def class_schema(cls: type, components: dict) -> dict:
    hints = typing.get_type_hints(cls)
    properties, required = {}, []
    for field in attrs.fields(cls):
        schema = type_schema(hints.get(field.name, Any), components)
        default = field.default
        if default is attrs.NOTHING:
            required.append(field.name)
        elif isinstance(default, (str, int, float, bool)):  # a Factory is none of these
            schema = {**schema, "default": default}
        properties[field.name] = schema
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("):
        schema["description"] = cls.__doc__.strip()
    return schema


def settings_schema(cls: type | None) -> dict:
    """A component's settings class as one self-contained JSON Schema."""
    if cls is None:
        return {"type": "object"}
    components: dict = {}
    schema = class_schema(cls, components)
    if components:
        schema["$defs"] = components
    return _rebase(schema)


def _rebase(node):
    if isinstance(node, dict):
        return {k: (v.replace("#/components/schemas/", "#/$defs/") if k == "$ref" else _rebase(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


def build(app, *, title: str, version: str) -> dict:
    components: dict = {}
    error_ref = type_schema(Error, components)
    paths: dict = {}
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS", "*"):
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path")
        if not path or not path.startswith(("/api/", "/hooks/", "/health", "/ready", "/metrics")):
            continue
        doc = endpoint_doc(route.handler)
        path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)
        operation: dict = {
            "operationId": f"{route.method.lower()}_{re.sub(r'[^a-zA-Z0-9]+', '_', path).strip('_')}",
            "summary": doc.summary or (route.handler.__doc__ or "").strip().split("\n")[0],
            "tags": list(doc.tags) or [_tag(path)],
            "responses": {"default": {"description": "an error", "content": {"application/json": {"schema": error_ref}}}},
        }
        if not doc.public:
            operation["security"] = [{"bearer": []}, {"apiKey": []}]
            # the least role that may call it (the guard's rule), for clients and the auth matrix test
            operation["x-paperchain-role"] = doc.role or ("viewer" if route.method in ("GET", "HEAD") else "editor")
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[^/]+$"}}
                  for n in _PARAM.findall(path)]
        if doc.query is not None:
            query_schema = class_schema(doc.query, components)
            for name, schema in query_schema["properties"].items():
                params.append({"name": name, "in": "query", "required": name in query_schema.get("required", []),
                               "schema": schema})
        if params:
            operation["parameters"] = params
        if doc.request is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {"application/json": {"schema": type_schema(doc.request, components)}}}
        elif doc.body:
            operation["requestBody"] = {"required": True, "content": {
                media: {"schema": {"type": "string", "format": "binary"}} for media in doc.body.split(",")}}
        operation["responses"][str(doc.status)] = _success(doc, components)
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a JWT from /api/v1/auth/login, or an API key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def _success(doc, components: dict) -> dict:
    if doc.status == 204:
        return {"description": "done"}
    if doc.produces != "application/json":
        media = doc.produces.split(",")
        return {"description": "the file", "content": {m: {"schema": {"type": "string"}} for m in media}}
    if doc.response is None:
        return {"description": "done", "content": {"application/json": {"schema": {}}}}
    schema = type_schema(doc.response, components)
    if doc.many:
        schema = {"type": "object", "required": ["items", "next"],
                  "properties": {"items": {"type": "array", "items": schema}, "next": {"type": ["string", "null"]}}}
    return {"description": "success", "content": {"application/json": {"schema": schema}}}


def _tag(path: str) -> str:
    parts = [p for p in path.split("/") if p and p not in ("api", "v1")]
    return parts[0] if parts else "system"
