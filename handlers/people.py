"""Who is who: match a chat person to the directory, and tell technicians and managers apart."""

from __future__ import annotations

import structlog

from automations.directory import DirectoryError, DirectoryPerson
from bot.messages import Person
from handlers.context import Services, Speaker

log = structlog.get_logger(__name__)


def identify(services: Services, person: Person) -> Speaker:
    """The speaker as the directory knows them; a directory outage leaves them unknown but served."""
    email = person.email.strip().lower()
    profile: DirectoryPerson | None = None
    directory_down = False
    try:
        profile = services.directory.find_by_email(email) if email else None
    except DirectoryError as error:
        directory_down = True
        log.warning("directory_unavailable", error=error.reason)
    return Speaker(
        email=email,
        name=(profile.name if profile else "") or person.name or email,
        platform=person.platform,
        profile=profile,
        is_technician=_in_role(
            services, email, profile, services.settings.technicians, services.settings.technician_group
        ),
        is_manager=_in_role(
            services, email, profile, services.settings.managers, services.settings.manager_group
        ),
        is_guest=person.is_guest,
        directory_down=directory_down,
        platform_user_id=person.platform_user_id,
    )


def is_technician(services: Services, email: str) -> bool:
    try:
        profile = services.directory.find_by_email(email)
    except DirectoryError:
        profile = None
    return _in_role(
        services, email, profile, services.settings.technicians, services.settings.technician_group
    )


def technicians(services: Services) -> list[str]:
    """Every technician's email: the configured list plus the technician group's members."""
    emails = list(services.settings.technicians)
    if services.settings.technician_group:
        try:
            emails += [p.email for p in services.directory.group_members(services.settings.technician_group)]
        except DirectoryError as error:
            log.warning("directory_unavailable", error=error.reason)
    return sorted(set(emails))


def _in_role(
    services: Services, email: str, profile: DirectoryPerson | None, emails: list[str], group: str
) -> bool:
    if email in emails:
        return True
    if not (group and profile):
        return False
    try:
        return services.directory.is_member(profile, group)
    except DirectoryError:
        return False
