"""Real directory servers for the suite and the benchmark: a throwaway OpenLDAP slapd and Samba AD DC.

Fixtures (session-scoped, started once):
    slapd      → DirectoryServer for OpenLDAP (ppolicy + memberof), free ports, any user
    samba_ad   → DirectoryServer for a Samba AD DC (needs root and free ports 389/636)
    fresh_slapd → a private slapd for one test (for stopping and restarting it)

A server that cannot start skips its tests with the reason; with CI=true it fails them instead, with the
reason and the tail of the server's log. `start_slapd()` / `start_samba_ad()` are plain functions so that
`bench/ldap_bench.py` starts the servers the same way.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

import pytest
import structlog
import structlog.testing
from ldap3 import BASE, MODIFY_ADD, MODIFY_REPLACE, NONE, Connection, Server, Tls
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from automations.ldap import LdapConfig
from tests.servers.support import free_port, in_ci

HERE = Path(__file__).resolve().parent
SLAPD_UP = HERE / "slapd_up.sh"
SAMBA_UP = HERE / "samba_ad_up.sh"
AD_FIXED_PORTS = (389, 636, 3268, 3269)
AD_GLOBAL_SECURITY_GROUP = -2147483646  # groupType: global scope | security enabled
AD_GLOBAL_DISTRIBUTION_GROUP = 2
AD_NORMAL_ACCOUNT = 0x200
AD_ACCOUNT_DISABLED = 0x2
OPENLDAP_DISABLED = "000001010000Z"  # ppolicy: "permanently locked by an administrator"


class ServerUnavailable(Exception):
    """The server could not be started; `log_tail` says what it printed."""

    def __init__(self, reason: str, log_tail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.log_tail = log_tail


@dataclass(frozen=True)
class TestUser:
    __test__ = False  # not a test class, despite the name

    dn: str
    email: str
    password: str
    username: str
    name: str


@dataclass(frozen=True)
class BindOutcome:
    ok: bool
    code: int | None
    message: str


@dataclass
class DirectoryServer:
    """A running server and what tests need to talk to it. Same shape for OpenLDAP and AD."""

    flavor: Literal["openldap", "ad"]
    url: str  # ldap:// (the backend upgrades with StartTLS)
    ldaps_url: str
    ca_file: str
    base_dn: str
    people_dn: str  # where users are created (AD: the OU the bot is delegated on)
    groups_dn: str
    bot_dn: str
    bot_password: str
    admin_dn: str
    admin_password: str
    valid_names: tuple[str, ...]
    workdir: Path
    log_file: Path
    pid: int
    restart_command: list[str] = field(default_factory=list)
    _counter: int = 0

    # --- configuration for the backend under test -----------------------------------------------------

    def config(self, **overrides: Any) -> LdapConfig:
        values: dict[str, Any] = {
            "url": self.ldaps_url,
            "bind_dn": self.bot_dn,
            "bind_password": self.bot_password,
            "base_dn": self.base_dn,
            "flavor": self.flavor,
            "ca_file": self.ca_file,
            "valid_names": self.valid_names,
            "connect_timeout": 3.0,
            "receive_timeout": 5.0,
        }
        return LdapConfig(**(values | overrides))

    # --- binds as anybody ------------------------------------------------------------------------------

    def connect(self, user: str, password: str) -> Connection:
        """A connection over validated LDAPS, not yet bound."""
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=self.ca_file, valid_names=list(self.valid_names))
        server = Server(self.ldaps_url, tls=tls, get_info=NONE, connect_timeout=5)
        return Connection(server, user, password, receive_timeout=10, raise_exceptions=False)

    def try_bind(self, dn: str, password: str) -> BindOutcome:
        conn = self.connect(dn, password)
        try:
            conn.open()
            conn.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stall
            ok = conn.bind()
            return BindOutcome(ok, (conn.result or {}).get("result"), str((conn.result or {}).get("message")))
        finally:
            conn.unbind()

    def admin(self) -> Connection:
        conn = self.connect(self.admin_dn, self.admin_password)
        conn.open()
        conn.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not conn.bind():
            raise RuntimeError(f"admin bind failed: {conn.result}")
        return conn

    def read(self, dn: str, attributes: Sequence[str]) -> dict[str, list[Any]]:
        conn = self.admin()
        try:
            conn.search(dn, "(objectClass=*)", BASE, attributes=list(attributes))
            return dict(conn.response[0]["attributes"]) if conn.response else {}
        finally:
            conn.unbind()

    def count_matches(self, search_filter: str) -> int:
        """Entries under base_dn matching a raw, unescaped filter, searched as the administrator: proves
        that a test's hostile input WOULD select someone if a backend forgot to escape it."""
        conn = self.admin()
        try:
            conn.search(self.base_dn, search_filter, attributes=["cn"])
            return len([entry for entry in conn.response or [] if entry.get("type") == "searchResEntry"])
        finally:
            conn.unbind()

    def revoke_bot_write(self, attribute: str) -> None:
        """OpenLDAP only: restart slapd with the bot allowed to read but not write `attribute`, e.g. pwdReset
        to make the second step of a reset fail after the password has changed."""
        if self.flavor != "openldap":
            raise RuntimeError("only the slapd server's ACLs can be changed")
        conf = self.workdir / "slapd.conf"
        first_rule = "access to attrs=userPassword"
        rule = (
            f'access to attrs={attribute}\n  by dn.exact="{self.bot_dn}" read\n  by users read\n  by * none\n'
        )
        conf.write_text(conf.read_text().replace(first_rule, rule + first_rule, 1))
        self.stop()
        self.start_again()

    def lock_out(self, dn: str, attempts: int = 3) -> None:
        """Bad binds until the policy (3 failures on both servers) locks the account."""
        for attempt in range(attempts):
            self.try_bind(dn, f"Wrong-Passw0rd!{attempt}")

    # --- creating test data (as the administrator) -----------------------------------------------------

    def unique(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}{uuid.uuid4().hex[:6]}"

    def create_user(
        self,
        *,
        email: str | None = None,
        password: str = "Start-Passw0rd!1",
        name: str | None = None,
        groups: Sequence[str] = (),
        recovery_email: str | None = None,
        manager: str | None = None,
        title: str = "Tester",
        department: str = "QA",
        location: str = "Lisbon",
    ) -> TestUser:
        """A new person under people_dn; `groups` are names (under groups_dn, or AD built-ins) or DNs."""
        username = self.unique("u")
        email = email or f"{username}@{'example.test' if self.flavor == 'ad' else 'example.org'}"
        name = name or f"Test {username}"
        if self.flavor == "ad":
            dn = self._create_ad_user(
                username, email, password, name, recovery_email, manager, title, department, location
            )
        else:
            dn = self._create_openldap_user(
                username, email, password, name, recovery_email, manager, title, department, location
            )
        for group in groups:
            self.add_to_group(dn, group)
        return TestUser(dn=dn, email=email, password=password, username=username, name=name)

    def create_group(
        self, name: str | None = None, *, members: Sequence[str] = (), security: bool = True
    ) -> str:
        """A new group under groups_dn; returns its DN. OpenLDAP groupOfNames needs one member at birth.

        AD: `security=False` makes a distribution group, which never appears in tokenGroups.
        """
        name = name or self.unique("g")
        dn = f"{'CN' if self.flavor == 'ad' else 'cn'}={name},{self.groups_dn}"
        conn = self.admin()
        try:
            if self.flavor == "ad":
                group_type = AD_GLOBAL_SECURITY_GROUP if security else AD_GLOBAL_DISTRIBUTION_GROUP
                attributes: dict[str, Any] = {"sAMAccountName": name, "groupType": group_type}
                _ok(conn, conn.add(dn, ["top", "group"], attributes))
            else:
                _ok(
                    conn,
                    conn.add(dn, ["groupOfNames"], {"cn": name, "member": list(members) or [self.admin_dn]}),
                )
                members = ()
        finally:
            conn.unbind()
        for member in members:
            self.add_to_group(member, dn)
        return dn

    def add_to_group(self, member_dn: str, group: str) -> None:
        """Add a user or group to a group given by DN or by name (e.g. "Domain Admins")."""
        group_dn = group if "=" in group else self._group_dn(group)
        conn = self.admin()
        try:
            _ok(conn, conn.modify(group_dn, {"member": [(MODIFY_ADD, [member_dn])]}))
        finally:
            conn.unbind()

    def disable_user(self, dn: str) -> None:
        """AD: set ACCOUNTDISABLE in userAccountControl. OpenLDAP: ppolicy's administrative lock value."""
        conn = self.admin()
        try:
            if self.flavor == "ad":
                uac = AD_NORMAL_ACCOUNT | AD_ACCOUNT_DISABLED
                _ok(conn, conn.modify(dn, {"userAccountControl": [(MODIFY_REPLACE, [str(uac)])]}))
            else:
                _ok(conn, conn.modify(dn, {"pwdAccountLockedTime": [(MODIFY_REPLACE, [OPENLDAP_DISABLED])]}))
        finally:
            conn.unbind()

    def set_attributes(self, dn: str, **values: str) -> None:
        conn = self.admin()
        try:
            _ok(conn, conn.modify(dn, {name: [(MODIFY_REPLACE, [value])] for name, value in values.items()}))
        finally:
            conn.unbind()

    def _create_openldap_user(
        self,
        username: str,
        email: str,
        password: str,
        name: str,
        recovery_email: str | None,
        manager: str | None,
        title: str,
        department: str,
        location: str,
    ) -> str:
        dn = f"uid={username},{self.people_dn}"
        attributes: dict[str, Any] = {
            "uid": username,
            "cn": name,
            "sn": name.split()[-1],
            "displayName": name,
            "mail": email,
            "title": title,
            "departmentNumber": department,
            "l": location,
            "userPassword": password,  # cleartext in, hashed by ppolicy_hash_cleartext
        }
        if recovery_email:
            attributes["otherMailbox"] = recovery_email
        if manager:
            attributes["manager"] = manager
        classes = ["inetOrgPerson", "frontdeskPerson"] if recovery_email else ["inetOrgPerson"]
        conn = self.admin()
        try:
            _ok(conn, conn.add(dn, classes, attributes))
        finally:
            conn.unbind()
        return dn

    def _create_ad_user(
        self,
        username: str,
        email: str,
        password: str,
        name: str,
        recovery_email: str | None,
        manager: str | None,
        title: str,
        department: str,
        location: str,
    ) -> str:
        # The CN carries the unique username: display names repeat across tests (and the seed data).
        dn = f"CN={escape_rdn(f'{name} ({username})')},{self.people_dn}"
        attributes: dict[str, Any] = {
            "sAMAccountName": username,
            "userPrincipalName": f"{username}@{self._realm_domain()}",
            "givenName": name.split()[0],
            "sn": name.split()[-1],
            "displayName": name,
            "mail": email,
            "title": title,
            "department": department,
            "physicalDeliveryOfficeName": location,
            # Over TLS AD accepts the password (quoted UTF-16LE) and an enabled account in one add.
            "unicodePwd": f'"{password}"'.encode("utf-16-le"),
            "userAccountControl": str(AD_NORMAL_ACCOUNT),
        }
        if recovery_email:
            attributes["otherMailbox"] = recovery_email
        if manager:
            attributes["manager"] = manager
        conn = self.admin()
        try:
            _ok(conn, conn.add(dn, ["top", "person", "organizationalPerson", "user"], attributes))
        finally:
            conn.unbind()
        return dn

    def _group_dn(self, name: str) -> str:
        conn = self.admin()
        try:
            group_classes = "(|(objectClass=group)(objectClass=groupOfNames))"
            conn.search(
                self.base_dn, f"(&{group_classes}(cn={escape_filter_chars(name)}))", attributes=["cn"]
            )
            found = [entry["dn"] for entry in conn.response if entry.get("type") == "searchResEntry"]
        finally:
            conn.unbind()
        if len(found) != 1:
            raise LookupError(f"group {name!r}: {len(found)} matches")
        return str(found[0])

    def _realm_domain(self) -> str:
        return ".".join(part.split("=", 1)[1] for part in self.base_dn.split(",")).lower()

    # --- lifecycle ---------------------------------------------------------------------------------------

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        _terminate(self.pid)

    def start_again(self) -> None:
        """Restart a stopped slapd on the same ports and data (to test reconnecting)."""
        if not self.restart_command:
            raise RuntimeError("only the slapd server can be restarted")
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(self.restart_command, stdout=log, stderr=log, start_new_session=True)
        self.pid = process.pid
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.try_bind_quietly():
                return
            time.sleep(0.05)
        raise RuntimeError(f"slapd did not come back:\n{self.log_tail()}")

    def try_bind_quietly(self) -> bool:
        try:
            return self.try_bind(self.admin_dn, self.admin_password).ok
        except Exception:  # still starting: any error means "not yet"
            return False


def _ok(conn: Connection, succeeded: bool) -> None:
    if not succeeded:
        raise RuntimeError(f"admin operation failed: {conn.result}")


# --- starting and stopping ----------------------------------------------------------------------------


def start_slapd(workdir: Path | None = None) -> DirectoryServer:
    """A seeded slapd on two free loopback ports (~150 ms). Raises ServerUnavailable."""
    missing = [tool for tool in ("slapd", "slaptest", "slappasswd", "ldapadd", "openssl") if not _which(tool)]
    if missing:
        raise ServerUnavailable(
            f"OpenLDAP is not installed ({', '.join(missing)} missing): apt-get install slapd ldap-utils"
        )
    workdir = workdir or Path(tempfile.mkdtemp(prefix="frontdesk-slapd-"))
    ldap_port, ldaps_port = free_port(), free_port()
    env = os.environ | {"LDAP_PORT": str(ldap_port), "LDAPS_PORT": str(ldaps_port)}
    _run_script([str(SLAPD_UP), str(workdir)], env, workdir / "slapd.log", timeout=60)
    values = _read_env(workdir / "env.sh")
    slapd = _which("slapd") or "slapd"
    return DirectoryServer(
        flavor="openldap",
        url=values["LDAP_URI"],
        ldaps_url=values["LDAPS_URI"],
        ca_file=values["LDAP_CA"],
        base_dn=values["LDAP_BASE"],
        people_dn=values["LDAP_PEOPLE"],
        groups_dn=values["LDAP_GROUPS"],
        bot_dn=values["LDAP_BOT_DN"],
        bot_password=values["LDAP_BOT_PW"],
        admin_dn=values["LDAP_ADMIN_DN"],
        admin_password=values["LDAP_ADMIN_PW"],
        valid_names=(),
        workdir=workdir,
        log_file=workdir / "slapd.log",
        pid=int(values["SLAPD_PID"]),
        restart_command=[
            slapd,
            "-f",
            str(workdir / "slapd.conf"),
            "-h",
            f"ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/",
            "-d",
            "stats",
        ],
    )


def start_samba_ad(prefix: Path | None = None) -> DirectoryServer:
    """A provisioned, seeded Samba AD DC on 127.0.0.1:389/636 (~10 s). Raises ServerUnavailable."""
    if os.geteuid() != 0:
        raise ServerUnavailable("Samba AD needs root: its LDAP ports 389/636 are fixed in Samba's source")
    missing = [tool for tool in ("samba", "samba-tool", "ldapsearch", "ldapmodify") if not _which(tool)]
    if missing:
        raise ServerUnavailable(
            f"Samba is not installed ({', '.join(missing)} missing): apt-get install samba"
        )
    busy = [port for port in AD_FIXED_PORTS if _port_busy(port)]
    if busy:
        raise ServerUnavailable(f"ports {busy} are in use (a system slapd/samba, or another test run?)")
    prefix = prefix or Path(tempfile.mkdtemp(prefix="frontdesk-samba-"))
    _run_script([str(SAMBA_UP), str(prefix)], dict(os.environ), prefix / "samba.log", timeout=240)
    values = _read_env(prefix / "env.sh")
    return DirectoryServer(
        flavor="ad",
        url=values["AD_URI"],
        ldaps_url=values["ADS_URI"],
        ca_file=values["AD_CA"],
        base_dn=values["AD_BASE"],
        people_dn=values["AD_STAFF"],
        groups_dn=values["AD_GROUPS"],
        bot_dn=values["AD_BOT_UPN"],
        bot_password=values["AD_BOT_PW"],
        admin_dn=values["AD_ADMIN_UPN"],
        admin_password=values["AD_ADMIN_PW"],
        valid_names=(values["AD_DC_FQDN"],),  # Samba's certificate names the DC, not 127.0.0.1
        workdir=prefix,
        log_file=prefix / "samba.log",
        pid=int(values["SAMBA_PID"]),
    )


def stop_server(server: DirectoryServer) -> None:
    server.stop()
    shutil.rmtree(server.workdir, ignore_errors=True)


def _run_script(command: list[str], env: dict[str, str], log_file: Path, *, timeout: float) -> None:
    try:
        done = subprocess.run(["bash", *command], env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ServerUnavailable(
            f"{Path(command[0]).name} did not finish in {timeout:.0f} s", _tail(log_file)
        ) from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-1500:]
        raise ServerUnavailable(
            f"{Path(command[0]).name} failed (exit {done.returncode}): {output}", _tail(log_file)
        )


def _read_env(path: Path) -> dict[str, str]:
    """The KEY='value' lines the start scripts write."""
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = shlex.split(value)[0] if value else ""
    return values


def _terminate(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM (clean shutdown), then SIGKILL if it is still running after `timeout`."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has exited; its parent reaps it


def _port_busy(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _unavailable(error: ServerUnavailable) -> NoReturn:
    """Skip with the reason; with CI=true fail, with the reason and the server log tail."""
    if in_ci():
        pytest.fail(
            f"CI=true and a directory server could not start: {error.reason}\n"
            f"--- server log tail ---\n{error.log_tail}",
            pytrace=False,
        )
    pytest.skip(error.reason)


# --- log capture --------------------------------------------------------------------------------------


class CapturedLogs(logging.Handler):
    """Every structlog event and stdlib record emitted while active, at DEBUG, as text lines."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.events: list[MutableMapping[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        stdlib = [
            f"{record.name} {record.levelname} {record.getMessage()} {record.args!r}"
            for record in self.records
        ]
        return stdlib + [repr(event) for event in self.events]

    def containing(self, *secrets: str | bytes) -> list[str]:
        """Lines that contain any of `secrets` (bytes are also looked for in their repr form)."""
        needles = [secret if isinstance(secret, str) else repr(secret)[2:-1] for secret in secrets]
        return [line for line in self.lines() if any(needle and needle in line for needle in needles)]


@pytest.fixture
def debug_logs() -> Iterator[CapturedLogs]:
    """Capture structlog and stdlib logging at DEBUG (root level lowered for the test, then restored)."""
    captured = CapturedLogs()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(captured)
    root.setLevel(logging.DEBUG)
    try:
        with structlog.testing.capture_logs() as events:
            captured.events = events
            yield captured
    finally:
        root.removeHandler(captured)
        root.setLevel(old_level)


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def slapd() -> Iterator[DirectoryServer]:
    try:
        server = start_slapd()
    except ServerUnavailable as error:
        _unavailable(error)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def samba_ad() -> Iterator[DirectoryServer]:
    try:
        server = start_samba_ad()
    except ServerUnavailable as error:
        _unavailable(error)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def fresh_slapd() -> Iterator[DirectoryServer]:
    """A private slapd for one test, which the test may stop and restart."""
    try:
        server = start_slapd()
    except ServerUnavailable as error:
        _unavailable(error)
    try:
        yield server
    finally:
        stop_server(server)
