"""Settings from `FRONTDESK_*` environment variables and an optional `.env` file.

Every setting has a default that runs on a fresh machine (SQLite, the embedded demo directory, the shipped
sample articles, no email). `.env.example` documents each one. A wrong value stops the start-up with a
message that names the variable, never a traceback; an unknown FRONTDESK_* variable (a typo) is only
warned about, so an old `.env` does not stop a deployment.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_DIRECTORY_FILE = PACKAGE_DIR / "demo" / "directory.yaml"
DEMO_ACCESS_CATALOG = PACKAGE_DIR / "demo" / "access.yaml"
ENV_PREFIX = "FRONTDESK_"
ENV_FILE = ".env"  # read from the working directory, like the environment
# The roles of the shipped demo directory, used when FRONTDESK_DIRECTORY=demo and no role is configured,
# so that a plain `frontdesk chat` has technicians (Tess, Tom) and a manager (Grace) out of the box.
DEMO_TECHNICIAN_GROUP = "it-support"
DEMO_MANAGER_GROUP = "it-managers"
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+$")

ENTRA_VARIABLES = {
    name: f"FRONTDESK_ENTRA_{name.upper()}"
    for name in ("tenant_id", "client_id", "client_secret", "certificate_file", "ca_file")
}

EmailList = Annotated[list[str], NoDecode]
DayList = Annotated[list[str], NoDecode]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$")


class SettingsError(Exception):
    """Raised with one line per wrong variable, ready to print."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore"
    )

    # storage
    database_url: str = "sqlite:///frontdesk.db"
    auto_migrate: bool = True

    # people and roles
    directory: Literal["demo", "ldap", "entra"] = "demo"
    demo_directory: Path = DEMO_DIRECTORY_FILE
    technicians: EmailList = Field(default_factory=list)
    technician_group: str = ""
    managers: EmailList = Field(default_factory=list)
    manager_group: str = ""
    triage_channel: str = "triage"
    helpdesk_contact: str = "the IT service desk"

    # conversation limits
    max_message_chars: int = Field(default=4000, ge=100, le=40000)
    conversation_timeout_minutes: int = Field(default=60 * 24, ge=1)

    # email notifications (off unless FRONTDESK_SMTP_HOST is set)
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_from: str = "frontdesk@localhost"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)

    # Slack (`frontdesk run slack`): Socket Mode when the app token is set, else HTTP on http_port
    slack_bot_token: SecretStr = SecretStr("")
    slack_app_token: SecretStr = SecretStr("")
    slack_signing_secret: SecretStr = SecretStr("")
    slack_triage_channel: str = ""  # the channel id (C…) the `#triage` posts go to
    slack_digest_channel: str = ""
    slack_api_url: str = "https://slack.com/api/"
    http_port: int = Field(default=3000, ge=1, le=65535)

    # Microsoft Teams (`frontdesk run teams`): /api/messages on http_port, beside Slack's /slack/events
    teams_app_id: str = ""  # the Entra app registration's client id, which the Azure Bot resource uses
    teams_app_password: SecretStr = SecretStr("")  # its client secret
    teams_tenant_id: str = ""  # the organisation's tenant: people of other tenants are treated as guests
    teams_triage_conversation: str = ""  # the triage channel's conversation id (19:…@thread.tacv2)
    teams_service_url: str = ""  # where proactive messages go before anyone wrote (e.g. …/teams/ or …/emea/)
    teams_openid_metadata_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    # the Teams bot's token comes from Entra ID: entra_authority and entra_ca_file (below) apply to it too

    # knowledge base
    kb_dir: Path | None = None
    kb_semantic: Literal["auto", "on", "off"] = "auto"

    # logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    # directory over LDAP (FRONTDESK_DIRECTORY=ldap)
    ldap_flavor: Literal["ad", "openldap"] = "openldap"
    ldap_url: str = ""
    ldap_bind_dn: str = ""
    ldap_bind_password: SecretStr = SecretStr("")
    ldap_base_dn: str = ""
    ldap_ca_file: Path | None = None
    ldap_tls_server_name: str = ""
    ldap_user_filter: str = ""
    ldap_timeout_seconds: float = Field(default=5.0, gt=0)
    protected_groups: Annotated[list[str], NoDecode] = Field(default_factory=list)
    recovery_email_attribute: str = ""

    # directory in Microsoft Entra ID over Microsoft Graph (FRONTDESK_DIRECTORY=entra)
    entra_tenant_id: str = ""
    entra_client_id: str = ""
    entra_client_secret: SecretStr = SecretStr("")
    entra_certificate_file: Path | None = None
    entra_authority: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com"
    entra_ca_file: Path | None = None
    entra_timeout_seconds: float = Field(default=10.0, gt=0)

    # password reset and unlock
    reset_verification: Literal["email_code", "manager_approval", "chat_identity"] = "email_code"
    unlock_verification: Literal["email_code", "manager_approval", "chat_identity"] = "chat_identity"
    resets_per_day: int = Field(default=3, ge=1)
    # Every reset/unlock request counts, whatever became of it: bounds code emails and manager pings.
    account_requests_per_day: int = Field(default=5, ge=1)
    code_failures_per_day: int = Field(default=10, ge=1)  # wrong codes across all of a person's requests
    # Keys the verification-code hashes (HMAC). Empty: generated once and kept in the database.
    secret_key: SecretStr = SecretStr("")
    secret_ttl: int = Field(default=600, ge=30, description="seconds before a delivered secret is deleted")
    code_ttl_seconds: int = Field(default=600, ge=60)
    code_attempts: int = Field(default=5, ge=1)
    approval_ttl_minutes: int = Field(default=60, ge=1)

    # access requests (the demo directory uses bot/demo/access.yaml unless told otherwise)
    access_catalog: Path | None = None
    access_request_ttl: int = Field(default=72, ge=1, description="hours a pending access request waits")
    access_removal_alert_attempts: int = Field(default=3, ge=1)

    # delivery (the outbox) and scheduled work
    delivery_max_attempts: int = Field(default=8, ge=1, le=100)
    delivery_backoff_seconds: float = Field(default=2.0, gt=0, le=3600)
    delivery_claim_seconds: float = Field(default=60.0, gt=0)
    delivery_poll_seconds: float = Field(default=1.0, gt=0, le=300)
    lease_seconds: int = Field(default=30, ge=2, le=3600)
    claim_expiry: int = Field(default=240, ge=1, description="minutes a claim holds without a reply")
    waiting_close_days: int = Field(default=5, ge=1)
    waiting_reminder_days: int = Field(default=3, ge=1)
    event_retention_days: int = Field(default=7, ge=1)
    outbox_retention_days: int = Field(default=30, ge=1)

    # the managers' digest and service targets
    timezone: str = "UTC"
    digest_time: str = "08:30"
    digest_days: DayList = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    digest_recipients: EmailList = Field(default_factory=list)
    digest_channel: str = "digest"
    digest_chart_dir: Path | None = None
    minutes_saved_reset: int = Field(default=15, ge=0)
    minutes_saved_unlock: int = Field(default=10, ge=0)
    minutes_saved_kb_answer: int = Field(default=10, ge=0)
    minutes_saved_grant: int = Field(default=20, ge=0)
    sla_first_response_urgent: int = Field(default=30, ge=1, description="minutes")
    sla_first_response_normal: int = Field(default=240, ge=1, description="minutes")
    sla_resolution_urgent: int = Field(default=8, ge=1, description="hours")
    sla_resolution_normal: int = Field(default=72, ge=1, description="hours")
    # A ticket this close to its resolution target (a share of the target) reminds its assignee.
    sla_warning_percent: int = Field(default=80, ge=1, le=99)

    # widespread problems: similar reports clustering in a sliding window alert the technicians
    incident_window_minutes: int = Field(default=30, ge=1, le=24 * 60)
    incident_min_reports: int = Field(default=5, ge=2)
    incident_min_people: int = Field(default=3, ge=1)
    # Cosine of two reports' content terms (handlers/problems.py); 0.55 chosen on bench/data (README).
    incident_similarity: float = Field(default=0.55, gt=0, le=1)
    # Cosine of two reports' embeddings, when the semantic model is in use; 0.65 chosen on bench/data.
    incident_semantic_similarity: float = Field(default=0.65, gt=0, le=1)

    @field_validator("technicians", "managers", "digest_recipients", mode="before")
    @classmethod
    def _split_emails(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("technicians", "managers", "digest_recipients")
    @classmethod
    def _check_emails(cls, value: list[str]) -> list[str]:
        wrong = [email for email in value if not _EMAIL.match(email)]
        if wrong:
            raise ValueError(f"not an email address: {', '.join(wrong)} (a comma-separated list of emails)")
        return value

    @field_validator("digest_days", mode="before")
    @classmethod
    def _split_days(cls, value: object) -> object:
        if isinstance(value, str):
            return _weekdays(value)
        return value

    @field_validator("digest_days")
    @classmethod
    def _check_days(cls, value: list[str]) -> list[str]:
        wrong = [day for day in value if day not in WEEKDAYS]
        if wrong:
            raise ValueError(f"not a day: {', '.join(wrong)} (e.g. mon-fri or mon,wed,fri)")
        return value

    @field_validator("digest_time")
    @classmethod
    def _check_time(cls, value: str) -> str:
        if not _CLOCK_TIME.match(value.strip()):
            raise ValueError(f"not a time of day: {value!r} (HH:MM, e.g. 08:30)")
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone: {value!r} (e.g. UTC or Europe/London)") from None
        return value

    @field_validator("smtp_from")
    @classmethod
    def _check_sender(cls, value: str) -> str:
        # "Help Desk <helpdesk@example.com>" or a bare address.
        _, address = parseaddr(value)
        if not _EMAIL.match(address):
            raise ValueError(f"not an email address: {value!r} (e.g. helpdesk@example.com)")
        return value

    @field_validator("protected_groups", mode="before")
    @classmethod
    def _split_dns(cls, value: object) -> object:
        # DNs contain commas, so protected groups are separated by semicolons.
        if isinstance(value, str):
            return [part.strip() for part in value.split(";") if part.strip()]
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        problems = []
        if self.directory == "ldap":
            missing = [
                name for name in ("ldap_url", "ldap_bind_dn", "ldap_base_dn") if not getattr(self, name)
            ]
            if not self.ldap_bind_password.get_secret_value():
                missing.append("ldap_bind_password")
            if missing:
                names = ", ".join(ENV_PREFIX + m.upper() for m in missing)
                problems.append(f"FRONTDESK_DIRECTORY=ldap needs {names}")
        if self.directory == "entra":
            problems += self._entra_problems()
        if self.directory == "demo" and not self.demo_directory.is_file():
            problems.append(f"FRONTDESK_DEMO_DIRECTORY: no such file: {self.demo_directory}")
        if self.access_catalog is not None and not self.access_catalog.is_file():
            problems.append(f"FRONTDESK_ACCESS_CATALOG: no such file: {self.access_catalog}")
        if self.kb_dir is not None and not self.kb_dir.is_dir():
            problems.append(f"FRONTDESK_KB_DIR: no such folder: {self.kb_dir}")
        if self.waiting_reminder_days >= self.waiting_close_days:
            problems.append(
                "FRONTDESK_WAITING_REMINDER_DAYS must be less than FRONTDESK_WAITING_CLOSE_DAYS "
                "(the reminder comes before the ticket is closed)"
            )
        if self.smtp_ssl and self.smtp_starttls:
            problems.append(
                "FRONTDESK_SMTP_SSL and FRONTDESK_SMTP_STARTTLS are both true: choose one "
                "(SSL: TLS from the start, usually port 465; STARTTLS: upgrade, usually port 587)"
            )
        if problems:
            raise ValueError("\n  ".join(problems))
        self._default_demo_roles()
        return self

    def _entra_problems(self) -> list[str]:
        missing = [
            ENTRA_VARIABLES[name] for name in ("tenant_id", "client_id") if not getattr(self, f"entra_{name}")
        ]
        if not (self.entra_client_secret.get_secret_value() or self.entra_certificate_file):
            missing.append(f"{ENTRA_VARIABLES['client_secret']} or {ENTRA_VARIABLES['certificate_file']}")
        problems = [f"FRONTDESK_DIRECTORY=entra needs {', '.join(missing)}"] if missing else []
        for name in ("certificate_file", "ca_file"):
            path = getattr(self, f"entra_{name}")
            if path is not None and not path.is_file():
                problems.append(f"{ENTRA_VARIABLES[name]}: no such file: {path}")
        for variable, url in (
            ("FRONTDESK_ENTRA_AUTHORITY", self.entra_authority),
            ("FRONTDESK_GRAPH_URL", self.graph_url),
        ):
            parts = urlsplit(url)
            if parts.scheme != "https" or not parts.hostname:
                problems.append(
                    f"{variable}: expected an https:// URL (msal and Graph need TLS), got {url!r}"
                )
        return problems

    def _default_demo_roles(self) -> None:
        if self.directory != "demo":
            return
        if not (self.technicians or self.technician_group):
            self.technician_group = DEMO_TECHNICIAN_GROUP
        if not (self.managers or self.manager_group):
            self.manager_group = DEMO_MANAGER_GROUP

    @property
    def default_access_catalog(self) -> Path | None:
        """The catalogue used when FRONTDESK_ACCESS_CATALOG is empty: the demo one, with the demo people."""
        shipped_demo = self.directory == "demo" and self.demo_directory == DEMO_DIRECTORY_FILE
        return DEMO_ACCESS_CATALOG if shipped_demo else None

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host)


def _weekdays(text: str) -> list[str]:
    """ "mon-fri", "mon,wed,fri" or "sat-sun" → the days; a wrong name is left for the check to report."""
    days: list[str] = []
    for part in text.lower().split(","):
        first, _, last = (piece.strip()[:3] for piece in part.partition("-"))
        if not first:
            continue
        if last and first in WEEKDAYS and last in WEEKDAYS:
            start = WEEKDAYS.index(first)
            days += [WEEKDAYS[(start + i) % 7] for i in range((WEEKDAYS.index(last) - start) % 7 + 1)]
        else:
            days += [first] + ([last] if last else [])
    return list(dict.fromkeys(days))


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into a `SettingsError` that names each variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(_describe(error, _cross_field_problems(error, overrides))) from None


def _cross_field_problems(error: ValidationError, overrides: Mapping[str, object]) -> list[str]:
    """The combination checks (e.g. LDAP settings missing), which pydantic skips when a field is wrong:
    validate again with the wrong fields at their defaults, so one start reports every problem."""
    wrong = {str(p["loc"][0]) for p in error.errors() if p["loc"]}
    if not wrong:
        return []
    defaults = {name: Settings.model_fields[name].get_default(call_default_factory=True) for name in wrong}
    try:
        Settings(**{**overrides, **defaults})
    except ValidationError as again:
        return [_line(p) for p in again.errors() if not p["loc"]]
    return []


def unknown_variables(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(ENV_FILE)
) -> list[str]:
    """FRONTDESK_* names set in the environment or `.env` that are no setting (typos), with a suggestion."""
    names = set(os.environ if environ is None else environ)
    if env_file is not None and env_file.is_file():
        from dotenv import dotenv_values

        names |= set(dotenv_values(env_file))
    known = [field.upper() for field in Settings.model_fields]
    unknown = sorted(
        n for n in names if n.upper().startswith(ENV_PREFIX) and n.upper()[len(ENV_PREFIX) :] not in known
    )
    described = []
    for name in unknown:
        close = difflib.get_close_matches(name.upper()[len(ENV_PREFIX) :], known, n=1, cutoff=0.75)
        described.append(f"{name} (did you mean {ENV_PREFIX}{close[0]}?)" if close else name)
    return described


def _describe(error: ValidationError, more: list[str] | None = None) -> str:
    lines = [_line(problem) for problem in error.errors()] + (more or [])
    return "invalid settings:\n  " + "\n  ".join(lines)


def _line(problem: ErrorDetails) -> str:
    location = [str(part) for part in problem["loc"] if part != "__root__"]
    message = problem["msg"].removeprefix("Value error, ")
    return f"{ENV_PREFIX}{location[0].upper()}: {message}" if location else message
