"""Time full directory-side password resets against real servers.

    .venv/bin/python -m bench.ldap_bench [-n 30]

Starts a throwaway slapd, and a Samba AD DC when running as root, exactly as the test fixtures do
(tests/servers/directory.py), then times N resets of one user, each the whole directory side of the bot's
reset flow: find_by_email → account_status → reset_password(must_change=True) → verify by binding with
the new password (OpenLDAP: the bind succeeds; AD: it fails with "data 773", which AD only says when the
password is right). One warm-up reset (connect + TLS + bind) is run first and reported separately.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable

import structlog

from automations.ldap import LdapDirectory
from automations.passwords import generate_temporary_password
from tests.servers.directory import (
    DirectoryServer,
    ServerUnavailable,
    start_samba_ad,
    start_slapd,
    stop_server,
)

AD_MUST_CHANGE = "data 773"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=30, help="timed resets per server (default 30)")
    args = parser.parse_args(argv)
    # The backend logs every reset at INFO; keep the figures readable.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    failed = False
    for label, start in (("openldap", start_slapd), ("samba-ad", start_samba_ad)):
        failed |= not bench_server(label, start, args.n)
    return 1 if failed else 0


def bench_server(label: str, start: Callable[[], DirectoryServer], n: int) -> bool:
    """Start the server, time `n` resets, print the figures, stop it. False if the resets failed."""
    try:
        server = start()
    except ServerUnavailable as error:
        print(f"ldap reset {label}: skipped: {error.reason}")
        return True
    try:
        warm_up, timings = time_resets(server, n)
    except AssertionError as error:
        print(f"ldap reset {label}: FAILED: {error}")
        return False
    finally:
        stop_server(server)
    print(
        f"ldap reset {label}: median {statistics.median(timings):.1f} ms p95 {p95(timings):.1f} ms (n={n}); "
        f"first reset incl. connect {warm_up:.1f} ms"
    )
    return True


def time_resets(server: DirectoryServer, n: int) -> tuple[float, list[float]]:
    if server.flavor == "openldap":
        # A protected group, so the protection check (a nested-group walk) is part of the timing as on AD.
        config = server.config(
            base_dn=server.people_dn, protected_groups=(f"cn=ldap-admins,{server.groups_dn}",)
        )
    else:
        config = server.config()
    directory = LdapDirectory(config)
    try:
        user = server.create_user()
        policy = directory.password_policy()
        warm_up = one_reset(server, directory, user.email, user.dn, generate_temporary_password(policy))
        timings = [
            one_reset(server, directory, user.email, user.dn, generate_temporary_password(policy))
            for _ in range(n)
        ]
    finally:
        directory.close()
    return warm_up, timings


def one_reset(server: DirectoryServer, directory: LdapDirectory, email: str, dn: str, password: str) -> float:
    """Milliseconds for one full reset, verified."""
    started = time.perf_counter()
    person = directory.find_by_email(email)
    assert person is not None, f"{email} not found"
    status = directory.account_status(person)
    assert status.exists and not (status.protected or status.disabled), status
    directory.reset_password(person, password, must_change=True)
    outcome = server.try_bind(dn, password)
    elapsed = (time.perf_counter() - started) * 1000
    verified = outcome.ok if server.flavor == "openldap" else AD_MUST_CHANGE in outcome.message
    assert verified, f"the new password did not verify: rc {outcome.code} {outcome.message}"
    return elapsed


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


if __name__ == "__main__":
    sys.exit(main())
