"""Only tokens that claim the Bot Framework as their issuer are handed to the Teams SDK to verify."""

from __future__ import annotations

import jwt
import pytest

from bot.platforms.teams.adapter import BOT_FRAMEWORK_ISSUER, issued_by


def _bearer(claims: dict[str, object]) -> str:
    return "Bearer " + jwt.encode(claims, "k" * 32, algorithm="HS256")


@pytest.mark.parametrize(
    ("authorization", "accepted"),
    [
        (_bearer({"iss": "https://api.botframework.com"}), True),
        (_bearer({"iss": "https://login.microsoftonline.com/t/v2.0", "tid": "t"}), False),
        (_bearer({"iss": "https://sts.windows.net/t/"}), False),
        (_bearer({"aud": "x"}), False),
        ("Bearer not-a-token", False),
        ("Basic dXNlcjpwYXNz", False),
        ("", False),
    ],
)
def test_issued_by(authorization: str, accepted: bool) -> None:
    assert issued_by(authorization, BOT_FRAMEWORK_ISSUER) is accepted
