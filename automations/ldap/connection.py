"""One bound ldap3 connection, reused under a lock and transparently re-opened after a drop.

A help desk makes a handful of directory calls a minute, so a single connection serialised by a lock is
enough and keeps the code simple (ldap3's SYNC strategy is not thread-safe by itself). Reads are retried
once on a fresh connection when a reused one turns out to be dead (idle timeouts on servers and firewalls);
writes are never retried automatically, because a write whose answer was lost may already have happened.
"""

from __future__ import annotations

import logging
import math
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.ciDict import CaseInsensitiveDict
from ldap3.utils.log import set_library_log_hide_sensitive_data

from automations.directory import DirectoryUnavailable
from automations.ldap import errors
from automations.ldap.config import LdapConfig

log = structlog.get_logger(__name__)

T = TypeVar("T")

PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"
PAGE_SIZE = 500


def quiet_ldap3_logger() -> None:
    """ldap3's PROTOCOL/EXTENDED debug lines contain new passwords (ldap3 #259): keep them off."""
    logger = logging.getLogger("ldap3")
    if logger.getEffectiveLevel() < logging.WARNING:
        logger.setLevel(logging.WARNING)
    set_library_log_hide_sensitive_data(True)


@dataclass(frozen=True)
class Entry:
    """One search result: its DN, text values and raw bytes (for SIDs and other binary attributes)."""

    dn: str
    attributes: Mapping[str, list[Any]] = field(default_factory=CaseInsensitiveDict)
    raw: Mapping[str, list[bytes]] = field(default_factory=CaseInsensitiveDict)

    def values(self, name: str) -> list[str]:
        return [str(value) for value in self.attributes.get(name) or [] if value is not None]

    def first(self, name: str) -> str:
        found = self.values(name)
        return found[0] if found else ""

    def number(self, name: str) -> int:
        try:
            return int(self.first(name))
        except ValueError:
            return 0


class Session:
    """The operations the flavors need, on a live connection, each checked and turned into typed errors."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def search(
        self,
        base: str,
        search_filter: str,
        attributes: list[str],
        *,
        scope: str = SUBTREE,
        size_limit: int = 0,
    ) -> list[Entry]:
        """Entries matching `search_filter`; a missing base finds nothing; a size limit returns what came."""
        self.conn.search(base, search_filter, scope, attributes=attributes, size_limit=size_limit)
        code = errors.result_code(self.conn.result)
        if code == errors.NO_SUCH_OBJECT:
            return []
        if code not in (errors.SUCCESS, errors.SIZE_LIMIT_EXCEEDED):
            raise errors.error_for_result(self.conn.result, "search")
        return _entries(self.conn.response)

    def paged_search(self, base: str, search_filter: str, attributes: list[str]) -> list[Entry]:
        """Every match, page by page: AD returns at most 1000 entries per plain search."""
        found: list[Entry] = []
        cookie: bytes | None = None
        while True:
            self.conn.search(
                base, search_filter, SUBTREE, attributes=attributes, paged_size=PAGE_SIZE, paged_cookie=cookie
            )
            code = errors.result_code(self.conn.result)
            if code == errors.NO_SUCH_OBJECT:
                return found
            if code != errors.SUCCESS:
                raise errors.error_for_result(self.conn.result, "search")
            found += _entries(self.conn.response)
            control = (self.conn.result.get("controls") or {}).get(PAGED_RESULTS_OID) or {}
            cookie = (control.get("value") or {}).get("cookie")
            if not cookie:
                return found

    def read(self, dn: str, attributes: list[str], search_filter: str = "(objectClass=*)") -> Entry | None:
        """The entry at `dn` if it exists and matches `search_filter`."""
        found = self.search(dn, search_filter, attributes, scope=BASE)
        return found[0] if found else None

    def modify(self, dn: str, changes: dict[str, Any], action: str) -> None:
        if not self.conn.modify(dn, changes):
            raise errors.error_for_result(self.conn.result, action)

    def check(
        self, succeeded: object, action: str, *, password_change: bool = False, secret: str = ""
    ) -> None:
        """Raise for an `extend.*` call. Some helpers return a truthy dict on failure: only `True` is ok."""
        if succeeded is not True:
            raise errors.error_for_result(
                self.conn.result or {}, action, password_change=password_change, secret=secret
            )


def _entries(response: list[dict[str, Any]] | None) -> list[Entry]:
    # Referrals and continuation references carry no "dn"/"attributes": we never follow them.
    return [
        Entry(item["dn"], item.get("attributes") or CaseInsensitiveDict(), item.get("raw_attributes") or {})
        for item in response or []
        if item.get("type") == "searchResEntry"
    ]


class LdapConnection:
    """Owns the server description and the one bound connection; hands out `Session`s under its lock."""

    def __init__(self, config: LdapConfig) -> None:
        self._config = config
        self._lock = threading.RLock()
        self._conn: Connection | None = None
        quiet_ldap3_logger()

    def read(self, action: str, operation: Callable[[Session], T]) -> T:
        """Run a read-only operation; retried once on a new connection if a reused one had dropped."""
        with self._lock:
            reused = self._conn is not None
            try:
                return self._run(action, operation)
            except _Dropped as dropped:
                if not reused or dropped.timed_out:
                    raise dropped.error from None
                log.info("ldap_reconnect", action=action, reason=dropped.error.reason)
            return self._attempt(action, operation)

    def write(self, action: str, operation: Callable[[Session], T]) -> T:
        """Run an operation that may change the directory; never retried (see the module docstring)."""
        with self._lock:
            return self._attempt(action, operation)

    def close(self) -> None:
        with self._lock:
            self._discard()

    def _attempt(self, action: str, operation: Callable[[Session], T]) -> T:
        try:
            return self._run(action, operation)
        except _Dropped as dropped:
            raise dropped.error from None

    def _run(self, action: str, operation: Callable[[Session], T]) -> T:
        """Raises `_Dropped` when the connection failed underneath the operation."""
        with self._session(action) as session:
            return operation(session)

    @contextmanager
    def _session(self, action: str) -> Iterator[Session]:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._open()
            yield Session(self._conn)
        except (LDAPException, OSError) as error:
            # The socket is in an unknown state after any ldap3 exception: start again next time.
            self._discard()
            raise _Dropped(
                errors.error_for_exception(error, action), timed_out=errors.is_timeout(error)
            ) from None

    def _open(self) -> Connection:
        started = time.monotonic()
        conn = Connection(
            # A new Server each time: ldap3 marks an address that failed once as unavailable for 5 s on
            # the Server object, which would stall reconnecting after the directory comes back.
            _make_server(self._config),
            user=self._config.bind_dn,
            password=self._config.bind_password,
            # ldap3 packs this into SO_RCVTIMEO as an unsigned long: whole seconds only.
            receive_timeout=math.ceil(self._config.receive_timeout),
            raise_exceptions=False,
            auto_referrals=False,  # never send our credentials to a server a referral names
            return_empty_attributes=False,
        )
        try:
            conn.open()
            _no_delay(conn)
            if not self._config.use_ldaps and not conn.start_tls():
                raise DirectoryUnavailable(f"StartTLS was refused (rc {conn.result.get('result')})")
            if not conn.bind():
                raise errors.bind_error(dict(conn.result or {}))
        except BaseException:
            _unbind_quietly(conn)
            raise
        log.debug("ldap_connected", url=self._config.url, ms=round((time.monotonic() - started) * 1000, 1))
        return conn

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            _unbind_quietly(conn)


def _no_delay(conn: Connection) -> None:
    """Disable Nagle: with it, every TLS handshake and bind stalled ~40 ms on delayed ACKs (measured)."""
    with suppress(OSError, AttributeError):
        conn.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _unbind_quietly(conn: Connection) -> None:
    with suppress(LDAPException):  # already gone: nothing to tidy
        conn.unbind()


class _Dropped(Exception):
    """Internal: the connection failed at the socket level; carries the typed error to raise."""

    def __init__(self, error: DirectoryUnavailable, *, timed_out: bool) -> None:
        super().__init__(error.reason)
        self.error = error
        self.timed_out = timed_out


def _make_server(config: LdapConfig) -> Server:
    tls = Tls(
        validate=ssl.CERT_REQUIRED if config.tls_verify else ssl.CERT_NONE,
        ca_certs_file=config.ca_file,
        valid_names=list(config.valid_names) or None,
        version=None,  # ssl.create_default_context(): modern protocol versions only
    )
    return Server(
        config.host,
        port=config.port,
        use_ssl=config.use_ldaps,
        tls=tls,
        get_info=NONE,  # no schema/DSE read on every connect; attributes come back as strings/bytes
        connect_timeout=config.connect_timeout,
    )
