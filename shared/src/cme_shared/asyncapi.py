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
