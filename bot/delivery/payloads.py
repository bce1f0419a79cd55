"""What a message looks like in an outbox row: the neutral `Reply` (or an `Email`) as plain JSON.

Generic over Reply's fields, so a field added to Reply travels without a change here. A secret never
reaches this module: the engine delivers those from memory.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.delivery.port import Email, Payload
from bot.messages import Button, Card, Form, FormField, Reply

_EMAIL = "email"


def dump(payload: Payload) -> dict[str, Any]:
    if isinstance(payload, Email):
        email = {"type": _EMAIL, "to": payload.to, "subject": payload.subject, "body": payload.body}
        return {**email, "attachment": payload.attachment} if payload.attachment else email
    if payload.secret is not None:
        raise ValueError("a secret is never written to the outbox")
    data: dict[str, Any] = {"type": "reply"}
    for field in dataclasses.fields(Reply):
        value = getattr(payload, field.name)
        if value == field.default:
            continue  # rows stay small and readable: only what differs from a plain reply
        data[field.name] = _plain(value)
    return data


def load(data: dict[str, Any]) -> Payload:
    if data.get("type") == _EMAIL:
        return Email(data["to"], data["subject"], data["body"], data.get("attachment", ""))
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Reply):
        if field.name not in data:
            continue
        value = data[field.name]
        if field.name == "buttons":
            value = tuple(Button(**button) for button in value)
        elif field.name == "card":
            value = Card(value["title"], tuple(tuple(row) for row in value["fields"]))
        elif field.name == "form":
            value = _form(value)
        elif field.name == "form_errors":
            value = tuple(tuple(pair) for pair in value)
        elif isinstance(value, list):
            value = tuple(value)
        values[field.name] = value
    return Reply(**values)


def _form(data: dict[str, Any]) -> Form:
    fields = tuple(
        FormField(**{**f, "choices": tuple(tuple(choice) for choice in f.get("choices", ()))})
        for f in data["fields"]
    )
    return Form(**{**data, "fields": fields})


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value
