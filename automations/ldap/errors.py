"""Turn LDAP result codes and ldap3 exceptions into frontdesk's typed directory errors.

Reasons are meant for a technician: plain words plus the result code, never a password. Callers pass the
secret they just sent as `secret` so it is scrubbed even if a server were to echo it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ldap3.core.exceptions import (
    LDAPCertificateError,
    LDAPCommunicationError,
    LDAPSSLConfigurationError,
    LDAPStartTLSError,
)

from automations.directory import (
    DirectoryError,
    DirectoryUnavailable,
    NotFound,
    NotLocked,
    NotPermitted,
    PolicyViolation,
)

SUCCESS = 0
SIZE_LIMIT_EXCEEDED = 4
STRONGER_AUTH_REQUIRED = 8
NO_SUCH_ATTRIBUTE = 16
ATTRIBUTE_OR_VALUE_EXISTS = 20  # OpenLDAP: adding a member twice
CONSTRAINT_VIOLATION = 19
NO_SUCH_OBJECT = 32
INVALID_DN_SYNTAX = 34
INVALID_CREDENTIALS = 49
INSUFFICIENT_ACCESS = 50
BUSY = 51
UNAVAILABLE = 52
UNWILLING_TO_PERFORM = 53
OBJECT_CLASS_VIOLATION = 65  # OpenLDAP: removing the last member of a groupOfNames
ENTRY_ALREADY_EXISTS = 68  # AD: adding a member twice

# AD's "password does not meet the policy" extended error, in the message of rc 19 (Windows, Samba).
AD_POLICY_ERROR = "0000052d"

# Server wording (lower case) → plain words. Samba and OpenLDAP ppolicy spell out the rule; Windows AD
# only says 0000052D, which falls through to the generic sentence.
_POLICY_REASONS: tuple[tuple[str, str], ...] = (
    ("too short", "the password is too short"),
    ("complexity", "the password does not meet the complexity rules"),
    ("history", "the password was used recently"),
    ("not being changed from existing value", "the password was used recently"),
    ("too young", "the password was changed too recently to change it again"),
    ("fails quality checking", "the password does not meet the quality rules (length or character mix)"),
)
_GENERIC_POLICY_REASON = "the password does not meet the directory's length, complexity or history rules"


def policy_reason(message: str) -> str:
    """The server's policy complaint in plain words."""
    lowered = message.lower()
    for fragment, reason in _POLICY_REASONS:
        if fragment in lowered:
            return reason
    return _GENERIC_POLICY_REASON


def result_code(result: Mapping[str, Any]) -> int:
    code = result.get("result")
    return int(code) if code is not None else -1


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "[redacted]") if secret else text


def error_for_result(
    result: Mapping[str, Any], action: str, *, password_change: bool = False, secret: str | None = None
) -> DirectoryError:
    """The typed error for a failed operation. `action` says what we were doing, in words."""
    code = result_code(result)
    message = redact(str(result.get("message") or ""), secret)
    detail = f"{action}: rc {code} {result.get('description') or ''}".rstrip()
    if password_change and (code == CONSTRAINT_VIOLATION or AD_POLICY_ERROR in message.lower()):
        return PolicyViolation(policy_reason(message))
    if code in (INSUFFICIENT_ACCESS, UNWILLING_TO_PERFORM):
        return NotPermitted(f"the directory refused ({detail}); the service account may lack the right")
    if code in (NO_SUCH_OBJECT, INVALID_DN_SYNTAX):
        return NotFound(f"no such entry ({detail})")
    if code == NO_SUCH_ATTRIBUTE and action == "unlock":
        return NotLocked()
    if code in (BUSY, UNAVAILABLE):
        return DirectoryUnavailable(f"the directory is busy or unavailable ({detail})")
    if code == STRONGER_AUTH_REQUIRED:
        return DirectoryUnavailable(f"the directory requires an encrypted connection ({detail})")
    return DirectoryError(f"{detail} {message}".strip())


def bind_error(result: Mapping[str, Any]) -> DirectoryError:
    """The service account's own bind failed: the bot cannot use the directory at all."""
    code = result_code(result)
    if code == INVALID_CREDENTIALS:
        return DirectoryUnavailable("the directory refused the service account's credentials (rc 49)")
    error = error_for_result(result, "bind as the service account")
    return error if isinstance(error, DirectoryUnavailable) else DirectoryUnavailable(error.reason)


def error_for_exception(error: Exception, action: str) -> DirectoryUnavailable:
    """ldap3 raised instead of returning a result: network, TLS or timeout trouble."""
    text = str(error)
    if isinstance(error, LDAPCertificateError) or "certificate" in text.lower():
        return DirectoryUnavailable(
            f"{action}: the directory's TLS certificate could not be verified ({text})"
        )
    if isinstance(error, LDAPStartTLSError | LDAPSSLConfigurationError):
        return DirectoryUnavailable(f"{action}: TLS could not be set up ({text})")
    if is_timeout(error):
        return DirectoryUnavailable(f"{action}: the directory did not answer in time")
    if isinstance(error, LDAPCommunicationError):
        return DirectoryUnavailable(f"{action}: the directory could not be reached ({text})")
    return DirectoryUnavailable(f"{action}: {type(error).__name__}: {text}")


def is_timeout(error: Exception) -> bool:
    text = str(error).lower()
    return "timed out" in text or "timeout" in text
