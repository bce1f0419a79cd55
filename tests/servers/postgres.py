"""A throwaway PostgreSQL on 127.0.0.1 for the suite (initdb + pg_ctl; as the postgres user when root)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers.support import free_port, unavailable


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def _as_owner(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: run it as the postgres user the Debian package creates.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


class PostgresUnavailable(Exception):
    """PostgreSQL cannot be started here; the message says why."""


@contextmanager
def running_postgres() -> Iterator[str]:
    """A throwaway server for as long as the block runs (the suite's fixture, and `make bench`)."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(
            "PostgreSQL is not installed (apt-get install postgresql); `make test` installs it as root"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "running as root but there is no `postgres` user to run it as"
            ) from None
    workdir = Path(tempfile.mkdtemp(prefix="frontdesk-pg-"))
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
    data, port = workdir / "data", free_port()
    try:
        subprocess.run(
            _as_owner([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "frontdesk"]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            _as_owner(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(workdir / "log"),
                    "-w",
                    "start",
                    "-o",
                    f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 "
                    "-c fsync=off -c full_page_writes=off",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        log = (workdir / "log").read_text() if (workdir / "log").exists() else ""
        output = getattr(error, "stderr", b"") or b""
        shutil.rmtree(workdir, ignore_errors=True)
        raise PostgresUnavailable(
            f"PostgreSQL did not start: {error} {output.decode(errors='replace')[-500:]} {log[-500:]}"
        ) from None
    try:
        yield f"postgresql+psycopg://frontdesk@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        server = running_postgres()
        url = server.__enter__()
    except PostgresUnavailable as error:
        unavailable(str(error))
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A new empty database on the shared server, for one test."""
    import uuid

    from sqlalchemy import create_engine, text

    name = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
