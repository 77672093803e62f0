"""``/api/docs``: the OpenAPI and AsyncAPI documents rendered as one self-contained HTML page.

Rendered on the server, with inline CSS and no script, so the page works where no CDN can be
reached. Every value taken from the documents is escaped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from html import escape
from typing import Any

_CODE = re.compile(r"``?([^`]+)``?")
_METHOD_ORDER = ("get", "put", "post", "patch", "delete")
_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2330;background:#fafbfc}
main{max-width:72rem;margin:auto;padding:1rem 2rem 4rem}
h1{margin-bottom:0}h2{border-bottom:2px solid #d7dce3;padding-top:1.5rem}
section.op,section.schema,section.event{background:#fff;border:1px solid #d7dce3;
border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
h3{margin:.4rem 0;font-size:1.05rem}.m{display:inline-block;min-width:4.5rem;text-align:center;
border-radius:4px;color:#fff;font-size:.8rem;padding:.1rem .4rem;margin-right:.5rem}
.get{background:#2f7dd1}.post{background:#2e9d5b}.put{background:#b7791f}
.patch{background:#8b5cf6}.delete{background:#c53030}.pub{background:#0f766e}
table{border-collapse:collapse;width:100%;margin:.4rem 0}
td,th{border-top:1px solid #e4e7eb;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{font-weight:600;background:#f3f5f7}code{background:#f0f2f5;padding:0 .2rem;border-radius:3px}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;font-size:.8rem}.muted{color:#5b6472}
nav ul{columns:2}details summary{cursor:pointer;color:#2f5f9e}
"""


def _text(value: Any) -> str:
    """Escape a description and show ``code`` spans as code."""
    return _CODE.sub(r"<code>\1</code>", escape(str(value)))


def _schema_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_label(schema: Any) -> str:
    """A short HTML label of a JSON Schema: its type, with links to named schemas."""
    if not isinstance(schema, dict):
        return "any"
    if "$ref" in schema:
        name = escape(_schema_name(schema["$ref"]))
        return f'<a href="#schema-{name}">{name}</a>'
    for combinator, joiner in (("anyOf", " | "), ("oneOf", " | "), ("allOf", " &amp; ")):
        if combinator in schema:
            return joiner.join(type_label(part) for part in schema[combinator])
    if "const" in schema:
        return f"<code>{escape(json.dumps(schema['const']))}</code>"
    if "enum" in schema:
        return " | ".join(f"<code>{escape(json.dumps(value))}</code>" for value in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {type_label(schema.get('items'))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {type_label(schema['additionalProperties'])}"
    label = escape(str(kind))
    return f"{label} ({escape(schema['format'])})" if "format" in schema else label


def constraints(schema: Any) -> str:
    """The constraints of a schema in words: bounds, pattern, default."""
    if not isinstance(schema, dict):
        return ""
    parts = [
        f"{word} {escape(json.dumps(schema[key]))}"
        for key, word in (
            ("minLength", "min length"),
            ("maxLength", "max length"),
            ("minimum", "≥"),
            ("maximum", "≤"),
            ("minItems", "min items"),
            ("default", "default"),
        )
        if key in schema
    ]
    if "pattern" in schema:
        parts.append(f"pattern <code>{escape(schema['pattern'])}</code>")
    if schema.get("description"):
        parts.append(_text(schema["description"]))
    return "; ".join(parts)


def _table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    if not rows:
        return ""
    header = "".join(f"<th>{cell}</th>" for cell in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{header}</tr>{body}</table>"


def _resolve(document: dict[str, Any], node: Any) -> Any:
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target: Any = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return target
    return node


def _responses(document: dict[str, Any], operation: dict[str, Any]) -> str:
    rows = []
    for status, given in operation.get("responses", {}).items():
        response = _resolve(document, given)
        content = response.get("content", {})
        media = "<br>".join(
            f"<code>{escape(media_type)}</code> {type_label(body.get('schema'))}"
            for media_type, body in content.items()
        )
        headers = ", ".join(f"<code>{escape(name)}</code>" for name in response.get("headers", {}))
        rows.append((escape(status), _text(response.get("description", "")), media, headers))
    return _table(("status", "meaning", "body", "headers"), rows)


def _operation(document: dict[str, Any], path: str, method: str, operation: dict[str, Any]) -> str:
    security = " or ".join(
        f"<code>{escape(name)}</code>"
        + "".join(f" with scope <code>{escape(role)}</code>" for role in roles)
        for requirement in operation["security"]
        for name, roles in requirement.items()
    )
    params = [
        (
            f"<code>{escape(param['name'])}</code>",
            escape(param["in"]),
            "yes" if param.get("required") else "no",
            type_label(param.get("schema")),
            _text(param.get("description", "")) or constraints(param.get("schema")),
        )
        for param in operation.get("parameters", [])
    ]
    body = operation.get("requestBody")
    body_html = ""
    if body is not None:
        rows = [
            (f"<code>{escape(media_type)}</code>", type_label(content.get("schema")))
            for media_type, content in body["content"].items()
        ]
        body_html = "<h4>Request body</h4>" + _text(body.get("description", ""))
        body_html += _table(("media type", "schema"), rows)
    return (
        f'<section class="op" id="op-{escape(operation["operationId"])}">'
        f'<h3><span class="m {method}">{method.upper()}</span><code>{escape(path)}</code></h3>'
        f"<p>{_text(operation.get('summary', ''))}. {_text(operation.get('description', ''))}</p>"
        f'<p class="muted">Auth: {security or "none"}</p>'
        + ("<h4>Parameters</h4>" if params else "")
        + _table(("name", "in", "required", "type", "notes"), params)
        + body_html
        + "<h4>Responses</h4>"
        + _responses(document, operation)
        + "</section>"
    )


def _schema(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = [
        (
            f"<code>{escape(prop)}</code>",
            type_label(sub),
            "yes" if prop in required else "no",
            constraints(sub),
        )
        for prop, sub in schema.get("properties", {}).items()
    ]
    raw = escape(json.dumps(schema, indent=2, ensure_ascii=False))
    return (
        f'<section class="schema" id="schema-{escape(name)}"><h3>{escape(name)}</h3>'
        f"<p>{_text(schema.get('description', ''))}</p>"
        + (_table(("field", "type", "required", "notes"), rows) or f"<p>{type_label(schema)}</p>")
        + f"<details><summary>JSON Schema</summary><pre>{raw}</pre></details></section>"
    )


def _events(asyncapi: dict[str, Any]) -> str:
    parts = []
    for key, channel in asyncapi["channels"].items():
        exchange = channel["bindings"]["amqp"]["exchange"]
        for ref in channel["messages"].values():
            message = _resolve(asyncapi, ref)
            payload = message["payload"]
            envelope = type_label(payload.get("allOf", [payload])[0])
            raw = escape(json.dumps(payload, indent=2, ensure_ascii=False))
            parts.append(
                f'<section class="event" id="event-{escape(key)}"><h3><span class="m pub">'
                f"EVENT</span><code>{escape(key)}</code></h3>"
                f"<p>{_text(channel.get('description', ''))}</p>"
                f"<p>Payload: {envelope} with <code>type</code> = <code>{escape(key)}</code>. "
                f'<span class="muted">Exchange <code>{escape(exchange["name"])}</code> '
                f"({escape(exchange['type'])}, durable), routing key <code>{escape(key)}</code>."
                f"</span></p><details><summary>Payload schema</summary><pre>{raw}</pre></details>"
                "</section>"
            )
    return "".join(parts)


def _properties_note(asyncapi: dict[str, Any]) -> str:
    messages = asyncapi["components"]["messages"]
    return _text(next(iter(messages.values()))["description"]) if messages else ""


def render_docs_page(openapi: dict[str, Any], asyncapi: dict[str, Any]) -> str:
    """The whole page: operations by tag, schemas, then events and their schemas."""
    by_tag: dict[str, list[str]] = {tag["name"]: [] for tag in openapi.get("tags", [])}
    links: list[str] = []
    for path, methods in openapi["paths"].items():
        for method in sorted(methods, key=_METHOD_ORDER.index):
            operation = methods[method]
            tag = operation["tags"][0]
            by_tag.setdefault(tag, []).append(_operation(openapi, path, method, operation))
            links.append(
                f'<li><a href="#op-{escape(operation["operationId"])}">{method.upper()} '
                f"{escape(path)}</a></li>"
            )
    tags = {tag["name"]: tag.get("description", "") for tag in openapi.get("tags", [])}
    sections = "".join(
        f"<h2>{escape(tag)}</h2><p>{_text(tags.get(tag, ''))}</p>{''.join(ops)}"
        for tag, ops in by_tag.items()
        if ops
    )
    schemas = "".join(
        _schema(name, schema) for name, schema in openapi["components"]["schemas"].items()
    )
    event_schemas = "".join(
        _schema(name, schema)
        for name, schema in asyncapi["components"]["schemas"].items()
        if name not in openapi["components"]["schemas"]
    )
    info = openapi["info"]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(info['title'])} API</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>{escape(info['title'])} <small class='muted'>{escape(info['version'])}</small></h1>"
        f"<p>{_text(info.get('description', ''))}</p>"
        '<p>Machine-readable: <a href="/api/openapi.json">OpenAPI 3.1</a> · '
        '<a href="/api/asyncapi.json">AsyncAPI 3.0</a> · <a href="#events">events</a> · '
        '<a href="#schemas">schemas</a></p>'
        f"<nav><ul>{''.join(links)}</ul></nav>{sections}"
        f'<h2 id="events">Events</h2><p>{_text(asyncapi["info"].get("description", ""))}</p>'
        f"<p>{_properties_note(asyncapi)}</p>"
        f"{_events(asyncapi)}"
        f'<h2 id="schemas">Schemas</h2>{schemas}{event_schemas}'
        "</main></body></html>"
    )
