"""AsyncAPI 3.0 documents generated from the same pydantic models the services validate with."""

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from .contracts.topics import TopicNames

DLQ_HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The original record's headers, unchanged, followed by these.",
    "properties": {
        "x-dlq-kind": {"type": "string", "enum": ["unreadable", "handler_failed"]},
        "x-dlq-reasons": {
            "type": "string",
            "description": 'JSON list of {"loc": [...], "code": "...", "message": "..."}; never personal data',
        },
        "x-dlq-consumer": {"type": "string"},
        "x-dlq-original-topic": {"type": "string"},
        "x-dlq-original-partition": {"type": "string"},
        "x-dlq-original-offset": {"type": "string"},
    },
}


@dataclass(frozen=True)
class ChannelDoc:
    topic: str
    action: Literal["send", "receive"]
    description: str
    model: type[BaseModel] | None = None  # None: the exact bytes of another channel (a DLQ)
    key: str = "any"


def build_document(title: str, version: str, description: str, channels: list[ChannelDoc],
                   topics: TopicNames, bootstrap: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    doc_channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for channel in channels:
        name = topics(channel.topic)
        channel_id = name.replace(".", "_")
        if channel.model is not None:
            schema = channel.model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[channel.model.__name__] = schema
            message = {
                "name": channel.model.__name__,
                "contentType": "application/json",
                "payload": {"$ref": f"#/components/schemas/{channel.model.__name__}"},
            }
        else:
            message = {
                "name": f"{channel_id}_dead_letter",
                "contentType": "application/octet-stream",
                "payload": {"type": "string", "format": "binary",
                            "description": "the rejected record's value, byte for byte"},
                "headers": DLQ_HEADERS_SCHEMA,
            }
        message_id = f"{channel_id}_message"
        messages[message_id] = message
        doc_channels[channel_id] = {
            "address": name,
            "description": f"{channel.description} Key: {channel.key}.",
            "messages": {message_id: {"$ref": f"#/components/messages/{message_id}"}},
        }
        operations[f"{channel.action}_{channel_id}"] = {
            "action": channel.action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message_id}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": title, "version": version, "description": description},
        "defaultContentType": "application/json",
        "servers": {"development": {"host": bootstrap, "protocol": "kafka"}},
        "channels": doc_channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def render_markdown(document: dict[str, Any]) -> str:
    """A readable rendering of an AsyncAPI document for partners: channels, then every schema's fields."""
    lines = [f"# {document['info']['title']} — AsyncAPI {document['asyncapi']}", "",
             document["info"]["description"], "",
             "Generated from the pydantic models intake validates with; do not edit by hand.", "",
             "## Channels", "", "| topic | direction (from the service) | message | description |",
             "|---|---|---|---|"]
    messages = document["components"]["messages"]
    for operation in document["operations"].values():
        channel_id = operation["channel"]["$ref"].rsplit("/", 1)[1]
        channel = document["channels"][channel_id]
        message_id = next(iter(channel["messages"]))
        lines.append(f"| `{channel['address']}` | {operation['action']} | {messages[message_id]['name']} | "
                     f"{channel['description']} |")
    lines += ["", "## Schemas", ""]
    for name, schema in document["components"]["schemas"].items():
        lines += [f"### {name}", ""]
        if "enum" in schema:
            lines += ["One of: " + ", ".join(f"`{v}`" for v in schema["enum"]), ""]
            continue
        required = set(schema.get("required", []))
        lines += ["| field | type | required | notes |", "|---|---|---|---|"]
        for field, spec in schema.get("properties", {}).items():
            notes = []
            merged = {**next((s for s in spec.get("anyOf", []) if s.get("type") != "null"), {}), **spec}
            for key in ("maxLength", "minLength", "maxItems", "default", "format", "x-data-category"):
                if key in merged:
                    notes.append(f"{key}: {merged[key]}")
            lines.append(f"| `{field}` | {_type_of(spec)} | {'yes' if field in required else 'no'} | "
                         f"{'; '.join(str(n) for n in notes)} |")
        lines.append("")
    return "\n".join(lines)


def _type_of(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[1]
    if "anyOf" in spec:
        return " \\| ".join(_type_of(s) for s in spec["anyOf"])
    if "const" in spec:
        return f"`{spec['const']}`"
    if "enum" in spec:
        return " \\| ".join(f"`{v}`" for v in spec["enum"])
    if spec.get("type") == "array":
        return f"list of {_type_of(spec.get('items', {}))}"
    return str(spec.get("type", "any"))
