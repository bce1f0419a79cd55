"""Wiring: turn settings into a ready bot — database, directory, knowledge base, intents, delivery (the
outbox, its dispatcher and each platform's deliverer) and the scheduler. The command line, every platform
and the tests build the bot here, so what runs is what is tested."""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from automations.access_catalog import AccessCatalog, CatalogError, check_groups_exist, load_catalog
from automations.demo_directory import DemoDirectory, DemoDirectoryError
from automations.directory import Directory, DirectoryError
from bot.delivery.dispatcher import RetryPolicy
from bot.delivery.port import Deliverer
from bot.delivery.service import Delivery
from bot.delivery.smtp import EmailDeliverer
from bot.engine import Bot
from bot.knowledge import KnowledgeService, kb_folder
from bot.mail import Mailer
from bot.settings import Settings, SettingsError, unknown_variables
from bot.store import db
from handlers import (
    access,
    account,
    articles,
    digest_report,
    home,
    incidents,
    manager,
    new_ticket,
    publish,
    question,
    requester,
    technician,
)
from handlers.context import KnowledgeSearch, Services
from handlers.registry import Registry
from handlers.report_vectors import ReportVectors
from kb.search import semantic_wanted

if TYPE_CHECKING:
    from bot.scheduling import BackgroundWork

log = structlog.get_logger(__name__)
# The modules (and packages) whose buttons and flows the bot answers.
HANDLER_MODULES: tuple[ModuleType, ...] = (
    access,
    account,
    articles,
    digest_report,
    home,
    incidents,
    manager,
    new_ticket,
    publish,
    question,
    requester,
    technician,
)
_LDAP_VARIABLES = {
    "url": "FRONTDESK_LDAP_URL",
    "bind_dn": "FRONTDESK_LDAP_BIND_DN",
    "bind_password": "FRONTDESK_LDAP_BIND_PASSWORD",
    "base_dn": "FRONTDESK_LDAP_BASE_DN",
    "flavor": "FRONTDESK_LDAP_FLAVOR",
    "user_filter": "FRONTDESK_LDAP_USER_FILTER",
    "protected_groups": "FRONTDESK_PROTECTED_GROUPS",
    "ca_file": "FRONTDESK_LDAP_CA_FILE",
}


@dataclass
class App:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    services: Services
    bot: Bot
    delivery: Delivery
    background: list[BackgroundWork] = field(default_factory=list)  # the running scheduler, if started

    def start_background(self, *, role: str) -> BackgroundWork:
        """Start the scheduler (leader-elected jobs) and the dispatcher's sweeps in this process."""
        from bot.scheduling import BackgroundWork

        work = BackgroundWork(self, role=role)
        work.start()
        self.background.append(work)
        return work

    def stop_background(self) -> None:
        for work in self.background:
            work.stop()
        self.background.clear()

    def warm_up(self) -> None:
        """Build the knowledge base and load the intent model now, not while the first person waits."""
        self.services.classify("hello")
        with self.sessions() as session:
            self.services.knowledge(session)
        # What is loaded by now (the indexes, the model, the libraries) lives as long as the process: out
        # of the collector's sight, a full collection no longer walks it — measured, one such walk paused
        # every thread for 0.6 s, the replies queued behind it (bench/slack_bench.py).
        gc.collect()
        gc.freeze()


def build_directory(settings: Settings) -> Directory:
    if settings.directory == "entra":
        from automations.entra import CredentialsError, directory_from_settings
        from bot.logs import register_secret

        # Scrubbed from every log line, whatever library might print it (msal, requests, httpx).
        register_secret(settings.entra_client_secret.get_secret_value())
        try:
            return directory_from_settings(settings)
        except CredentialsError as error:
            raise SettingsError(f"invalid settings:\n  FRONTDESK_ENTRA_*: {error}") from None
        except OSError as error:  # ssl.SSLError included: the CA file is no PEM certificate
            raise SettingsError(
                f"invalid settings:\n  FRONTDESK_ENTRA_CA_FILE: not a usable CA file ({error})"
            ) from None
    if settings.directory == "ldap":
        from automations.ldap import LdapConfigError, LdapDirectory, config_from_settings

        try:
            return LdapDirectory(config_from_settings(settings))
        except LdapConfigError as error:
            field, _, problem = str(error).partition(": ")
            variable = _LDAP_VARIABLES.get(field, "FRONTDESK_LDAP_*")
            raise SettingsError(f"invalid settings:\n  {variable}: {problem or error}") from None
    try:
        return DemoDirectory.from_file(settings.demo_directory)
    except DemoDirectoryError as error:
        raise SettingsError(f"invalid settings:\n  FRONTDESK_DEMO_DIRECTORY: {error}") from None


def build_access_catalog(
    path: Path | None, directory: Directory, protected_groups: Sequence[str] = ()
) -> AccessCatalog | None:
    """The catalogue of requestable access, checked now: a mistake stops the start, naming the file, the
    entry and the field. A catalogue may never name a protected group."""
    if path is None:
        return None
    try:
        catalog = load_catalog(path)
    except CatalogError as error:
        raise SettingsError(f"invalid settings:\n  FRONTDESK_ACCESS_CATALOG: {error}") from None
    problems = []
    if isinstance(directory, DemoDirectory):
        problems += check_groups_exist(catalog, directory.group_names())
        protected = {group.lower() for group in directory.protected_groups()}
    else:
        protected = {group.lower() for group in protected_groups}
    problems += [
        f"{catalog.source}: access ({entry.id}): group: {entry.group!r} is a protected group and can never "
        "be granted"
        for entry in catalog.entries
        if entry.group.lower() in protected
    ]
    if problems:
        raise SettingsError("invalid settings:\n  FRONTDESK_ACCESS_CATALOG: " + "\n  ".join(problems))
    return catalog


def build_classifier(settings: Settings) -> Callable[[str], tuple[str | None, float]]:
    from kb.intent import classify_message

    semantic = _semantic_choice(settings)

    def classify(text: str) -> tuple[str | None, float]:
        result = classify_message(text, semantic=semantic)
        return result.intent, result.confidence

    return classify


def build_report_vectors(settings: Settings) -> ReportVectors | None:
    """Problem reports compared by meaning when the knowledge base uses the semantic model, with the
    process's shared encoder (one model, one query cache)."""
    if not semantic_wanted(_semantic_choice(settings)):
        return None
    from kb.semantic import Encoder

    return ReportVectors(lambda text: Encoder.shared().encode_query(text))


def _semantic_choice(settings: Settings) -> bool | None:
    """FRONTDESK_KB_SEMANTIC for search and intents: None lets them use the extra when it is installed."""
    return {"auto": None, "on": True, "off": False}[settings.kb_semantic]


def build_app(
    settings: Settings,
    *,
    migrate: bool | None = None,
    chat: Sequence[Deliverer] = (),
    directory: Directory | None = None,
    knowledge: Callable[[Session], KnowledgeSearch] | None = None,
    classify: Callable[[str], tuple[str | None, float]] | None = None,
    handler_modules: Sequence[ModuleType] = (),
) -> App:
    """The whole bot. `chat` are the platforms this process delivers to (the console, Slack, Teams; a
    recorder in tests); email is added when SMTP is configured. `directory`, `knowledge` and `classify`
    replace the configured ones, and `handler_modules` add buttons and flows (tests)."""
    engine = db.make_engine(settings.database_url)
    if settings.auto_migrate if migrate is None else migrate:
        db.upgrade(engine)
    else:
        db.check_schema(engine)
    db.check_writable(engine)
    sessions = db.make_session_factory(engine)
    if knowledge is None:
        knowledge = KnowledgeService(kb_folder(settings.kb_dir), _semantic_choice(settings)).for_session
    # The demo catalogue goes with the configured demo directory, not with one a caller substitutes.
    catalog_file = settings.access_catalog or (None if directory else settings.default_access_catalog)
    directory = directory or build_directory(settings)
    services = Services(
        settings=settings,
        directory=directory,
        knowledge=knowledge,
        classify=classify or build_classifier(settings),
        registry=Registry.collect([*HANDLER_MODULES, *handler_modules]),
        access=build_access_catalog(catalog_file, directory, settings.protected_groups),
        report_vectors=build_report_vectors(settings),
    )
    _warn_about_settings(services)
    mailer = Mailer(settings)
    delivery = build_delivery(settings, sessions, chat, mailer)
    return App(settings, engine, sessions, services, Bot(services, sessions, delivery, mailer), delivery)


def build_delivery(
    settings: Settings, sessions: sessionmaker[Session], chat: Sequence[Deliverer], mailer: Mailer
) -> Delivery:
    policy = RetryPolicy(
        max_attempts=settings.delivery_max_attempts,
        base_seconds=settings.delivery_backoff_seconds,
        claim_seconds=settings.delivery_claim_seconds,
    )
    email = EmailDeliverer(mailer) if settings.email_enabled else None
    return Delivery(sessions, chat, email, policy, settings.triage_channel)


def _warn_about_settings(services: Services) -> None:
    """Start anyway, but say what will surprise someone later: a typo, nobody to take tickets, a risk."""
    for variable in unknown_variables():
        log.warning("unknown_setting", variable=variable, detail="not a frontdesk setting; see .env.example")
    problem = _technician_problem(services)
    if problem:
        log.warning(
            "no_technicians", detail=problem + "; new tickets will wait in triage with nobody to claim them"
        )
    if services.settings.reset_verification == "chat_identity":
        log.warning(
            "reset_trusts_chat_identity",
            detail="FRONTDESK_RESET_VERIFICATION=chat_identity: a hijacked chat account can reset a "
            "password. Prefer email_code or manager_approval.",
        )


def _technician_problem(services: Services) -> str:
    """Why nobody can be a technician, or "" when someone can (or the directory cannot tell now)."""
    settings = services.settings
    if settings.technicians:
        return ""
    if not settings.technician_group:
        return "nobody is a technician: set FRONTDESK_TECHNICIANS or FRONTDESK_TECHNICIAN_GROUP"
    try:
        members = services.directory.group_members(settings.technician_group)
    except DirectoryError:
        return ""  # the outage itself is logged by the directory; the group may well have members
    if members:
        return ""
    return f"the technician group {settings.technician_group!r} (FRONTDESK_TECHNICIAN_GROUP) has no members"
