"""`frontdesk access list [--json]`: access grants and requests, for operators."""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy import select

from bot.cli_support import friendly_errors
from bot.store.models import AccessGrant, AccessRequest
from bot.textsafety import printable


@click.group()
def access() -> None:
    """Access granted through the bot, and requests."""


@access.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per grant or request.")
@click.option("--all", "everything", is_flag=True, help="Also ended grants and decided requests.")
@friendly_errors
def access_list(as_json: bool, everything: bool) -> None:
    """Active grants (with their end) and open requests; --all adds the finished ones."""
    from bot.cli import _session

    with _session() as session:
        grants = select(AccessGrant).order_by(AccessGrant.id)
        requests = select(AccessRequest).order_by(AccessRequest.id)
        if not everything:
            grants = grants.where(AccessGrant.status == "active")
            requests = requests.where(AccessRequest.status.in_(("pending", "approved", "granting")))
        for grant in session.scalars(grants):
            _emit(as_json, _grant_json(grant), _grant_line(grant))
        for request in session.scalars(requests):
            _emit(as_json, _request_json(request), _request_line(request))


def _emit(as_json: bool, record: dict[str, Any], line: str) -> None:
    click.echo(json.dumps(record) if as_json else printable(line))


def _when(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def _grant_json(g: AccessGrant) -> dict[str, Any]:
    return {
        "kind": "grant",
        "id": g.id,
        "person": g.person_email,
        "entry": g.entry_id,
        "group": g.group,
        "status": g.status,
        "pre_existing": g.pre_existing,
        "granted_at": _when(g.granted_at),
        "expires_at": _when(g.expires_at),
        "removal_attempts": g.removal_attempts,
        "last_error": g.last_error,
        "ended_at": _when(g.ended_at),
        "end_reason": g.end_reason,
    }


def _grant_line(g: AccessGrant) -> str:
    ends = f"{g.expires_at:%Y-%m-%d %H:%M} UTC" if g.expires_at else "never"
    note = " (pre-existing: never removed)" if g.pre_existing else ""
    failing = f" removal failed {g.removal_attempts}x: {g.last_error}" if g.removal_attempts else ""
    return f"grant #{g.id} {g.status} {g.person_email} {g.entry_id} ({g.group}) ends {ends}{note}{failing}"


def _request_json(r: AccessRequest) -> dict[str, Any]:
    return {
        "kind": "request",
        "id": r.id,
        "correlation_id": r.correlation_id,
        "person": r.person_email,
        "entry": r.entry_id,
        "group": r.group,
        "status": r.status,
        "duration_seconds": r.duration_seconds,
        "approvals": r.approvals,
        "approvals_needed": r.approvals_needed,
        "created_at": _when(r.created_at),
        "expires_at": _when(r.expires_at),
    }


def _request_line(r: AccessRequest) -> str:
    return (
        f"request #{r.id} {r.status} {r.person_email} {r.entry_id} approvals {len(r.approvals)}/"
        f"{r.approvals_needed} waits until {r.expires_at:%Y-%m-%d %H:%M} UTC"
    )
