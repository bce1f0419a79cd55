"""Settings from `FRONTDESK_*` environment variables and an optional `.env` file.

Every setting has a default that runs on a fresh machine (SQLite, the embedded demo directory, the shipped
sample articles, no email). `.env.example` documents each one. A wrong value stops the start-up with a
message that names the variable, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_DIRECTORY_FILE = PACKAGE_DIR / "demo" / "directory.yaml"
ENV_PREFIX = "FRONTDESK_"

EmailList = Annotated[list[str], NoDecode]


class SettingsError(Exception):
    """Raised with one line per wrong variable, ready to print."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # storage
    database_url: str = "sqlite:///frontdesk.db"
    auto_migrate: bool = True

    # people and roles
    directory: Literal["demo", "ldap"] = "demo"
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

    # password reset and unlock
    reset_verification: Literal["email_code", "manager_approval", "chat_identity"] = "email_code"
    unlock_verification: Literal["email_code", "manager_approval", "chat_identity"] = "chat_identity"
    resets_per_day: int = Field(default=3, ge=1)
    secret_ttl: int = Field(default=600, ge=30, description="seconds before a delivered secret is deleted")
    code_ttl_seconds: int = Field(default=600, ge=60)
    code_attempts: int = Field(default=5, ge=1)
    approval_ttl_minutes: int = Field(default=60, ge=1)

    @field_validator("technicians", "managers", mode="before")
    @classmethod
    def _split_emails(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
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
        if self.directory == "ldap":
            missing = [
                name for name in ("ldap_url", "ldap_bind_dn", "ldap_base_dn") if not getattr(self, name)
            ]
            if not self.ldap_bind_password.get_secret_value():
                missing.append("ldap_bind_password")
            if missing:
                names = ", ".join(ENV_PREFIX + m.upper() for m in missing)
                raise ValueError(f"FRONTDESK_DIRECTORY=ldap needs {names}")
        if self.directory == "demo" and not self.demo_directory.is_file():
            raise ValueError(f"FRONTDESK_DEMO_DIRECTORY: no such file: {self.demo_directory}")
        if self.kb_dir is not None and not self.kb_dir.is_dir():
            raise ValueError(f"FRONTDESK_KB_DIR: no such folder: {self.kb_dir}")
        return self

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host)


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into a `SettingsError` that names each variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        location = [str(part) for part in problem.get("loc", ()) if part != "__root__"]
        message = problem.get("msg", "invalid value").removeprefix("Value error, ")
        if location:
            lines.append(f"{ENV_PREFIX}{location[0].upper()}: {message}")
        else:
            lines.append(message)
    return "invalid settings:\n  " + "\n  ".join(lines)
