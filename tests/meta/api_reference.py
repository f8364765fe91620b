"""Render the committed OpenAPI document (docs/openapi.json) as docs/API_REFERENCE.md.

The site is built offline, so it cannot load Swagger UI or ReDoc from a CDN:
this page is the rendered contract instead. Every route with its parameters,
request body and responses, every schema with its fields, and the error codes
the envelope can carry. ``tests/meta/test_site.py`` fails when the committed
page is not what this renders; regenerate it with

    python -m tests.meta.api_reference
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import treeframe.errors as errors

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPENAPI = DOCS / "openapi.json"
PAGE = DOCS / "API_REFERENCE.md"

METHODS = ("get", "put", "post", "delete", "patch")


def _anchor(name: str) -> str:
    """The slug mkdocs' toc gives a heading that is just ``name`` (lowercase, no punctuation)."""
    return "".join(c for c in name.lower() if c.isalnum() or c in "-_")


def _cell(text: str) -> str:
    """One table cell: a single line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _type(schema: dict[str, Any]) -> str:
    """A schema as a short type expression, schemas linked to their section."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{_anchor(name)})"
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return (" \\| " if key != "allOf" else " & ").join(_type(s) for s in schema[key])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {_type(schema['additionalProperties'])}"
    if kind is None:
        return "any"
    text = str(kind)
    if "format" in schema:
        text += f" ({schema['format']})"
    return text


def _constraints(schema: dict[str, Any]) -> str:
    """Bounds and defaults a field states, as text."""
    parts = []
    for key, label in (
        ("minimum", ">="),
        ("maximum", "<="),
        ("exclusiveMinimum", ">"),
        ("minLength", "length >="),
        ("maxLength", "length <="),
        ("minItems", "items >="),
        ("maxItems", "items <="),
        ("pattern", "pattern"),
    ):
        if key in schema:
            parts.append(f"{label} `{schema[key]}`")
    if "default" in schema and "const" not in schema:
        parts.append(f"default `{json.dumps(schema['default'])}`")
    return ", ".join(parts)


def _describe(schema: dict[str, Any]) -> str:
    text = schema.get("description", "")
    extra = _constraints(schema)
    return _cell(f"{text} ({extra})" if text and extra else text or extra)


def _body_schema(content: dict[str, Any]) -> str:
    lines = []
    for media, spec in sorted(content.items()):
        schema = spec.get("schema")
        lines.append(f"`{media}`" + (f": {_type(schema)}" if schema else ""))
    return "; ".join(lines)


def _operation(path: str, method: str, op: dict[str, Any]) -> list[str]:
    out = [f"### `{method.upper()} {path}`", ""]
    if op.get("summary"):
        out += [f"**{op['summary']}**", ""]
    if op.get("description"):
        out += [op["description"].strip(), ""]
    if op.get("deprecated"):
        out += ["**Deprecated.**", ""]
    params = op.get("parameters", [])
    if params:
        out += [
            "| parameter | in | required | type | description |",
            "| --- | --- | --- | --- | --- |",
        ]
        for p in params:
            schema = p.get("schema", {})
            described = _describe({**schema, "description": p.get("description", "")})
            out.append(
                f"| `{p['name']}` | {p['in']} | {'yes' if p.get('required') else 'no'} "
                f"| {_type(schema)} | {described} |"
            )
        out.append("")
    body = op.get("requestBody")
    if body:
        required = " (required)" if body.get("required") else ""
        out += [f"Request body{required}: {_body_schema(body.get('content', {}))}", ""]
    out += ["| status | meaning | body |", "| --- | --- | --- |"]
    for status, response in sorted(op.get("responses", {}).items()):
        headers = ", ".join(f"`{h}`" for h in sorted(response.get("headers", {})))
        meaning = _cell(response.get("description", "")) + (
            f" (headers: {headers})" if headers else ""
        )
        out.append(f"| {status} | {meaning} | {_body_schema(response.get('content', {}))} |")
    out.append("")
    return out


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    out = [f"### {name}", ""]
    if schema.get("description"):
        out += [schema["description"].strip(), ""]
    props = schema.get("properties", {})
    if not props:
        out += [f"Type: {_type({k: v for k, v in schema.items() if k != 'title'})}", ""]
        return out
    required = set(schema.get("required", []))
    out += ["| field | type | required | description |", "| --- | --- | --- | --- |"]
    for field, spec in sorted(props.items()):
        yes = "yes" if field in required else "no"
        out.append(f"| `{field}` | {_type(spec)} | {yes} | {_describe(spec)} |")
    if schema.get("additionalProperties") is False:
        out += ["", "No other fields are accepted."]
    out.append("")
    return out


def _error_codes() -> list[str]:
    classes = sorted(
        (
            cls
            for cls in vars(errors).values()
            if isinstance(cls, type) and issubclass(cls, errors.TreeframeError)
        ),
        key=lambda cls: (cls.http_status, cls.code),
    )
    out = [
        "## Error codes",
        "",
        "Every 4xx and 5xx answer is the [ErrorResponse](#errorresponse) envelope; its",
        "`error.code` is one of these (causes in [ERRORS.md](ERRORS.md), what to do in",
        "[TROUBLESHOOTING.md](TROUBLESHOOTING.md)).",
        "",
        "| HTTP | code | class |",
        "| --- | --- | --- |",
    ]
    out += [f"| {cls.http_status} | `{cls.code}` | `{cls.__name__}` |" for cls in classes]
    out.append("")
    return out


def render(document: dict[str, Any]) -> str:
    """The whole page for one OpenAPI document (deterministic: sorted paths and schemas)."""
    info = document.get("info", {})
    out = [
        "# API reference",
        "",
        "<!-- Generated from openapi.json by `python -m tests.meta.api_reference`; do not edit. -->",
        "",
        f"{info.get('title', '')} API version {info.get('version', '')}"
        f" (OpenAPI {document.get('openapi', '')}): {info.get('summary', '')}",
        "The prose, the rules behind each route and examples are in [API.md](API.md);",
        "the machine-readable document is [openapi.json](openapi.json) (also served at",
        "`GET /v1/openapi.json`).",
        "",
        "## Routes",
        "",
    ]
    for path, item in sorted(document.get("paths", {}).items()):
        for method in METHODS:
            if method in item:
                out += _operation(path, method, item[method])
    out += _error_codes()
    out += ["## Schemas", ""]
    for name, schema in sorted(document.get("components", {}).get("schemas", {}).items()):
        out += _schema(name, schema)
    return "\n".join(out).rstrip("\n") + "\n"


def main() -> None:
    """Rewrite docs/API_REFERENCE.md from docs/openapi.json."""
    PAGE.write_text(render(json.loads(OPENAPI.read_text(encoding="utf-8"))), encoding="utf-8")
    sys.stdout.write(f"wrote {PAGE.name}\n")


if __name__ == "__main__":
    main()
