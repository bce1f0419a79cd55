"""generate_temporary_password: length, classes, alphabet, randomness. Server acceptance is tested in
tests/integration/test_ldap_*.py against real slapd and Samba AD policies."""

from __future__ import annotations

import math
from collections import Counter
from unittest import mock

import pytest

from automations import passwords
from automations.directory import PasswordPolicy
from automations.passwords import ALPHABET, CLASSES, MINIMUM_LENGTH, generate_temporary_password

AMBIGUOUS = set("0Oo1lI|`'\"\\*_~@#^ ")


def test_length_is_the_policy_minimum_or_the_floor() -> None:
    assert len(generate_temporary_password(PasswordPolicy(min_length=7))) == MINIMUM_LENGTH
    assert (
        len(generate_temporary_password(PasswordPolicy(min_length=MINIMUM_LENGTH + 6))) == MINIMUM_LENGTH + 6
    )


@pytest.mark.parametrize("required", [1, 2, 3, 4])
def test_every_password_has_all_four_classes(required: int) -> None:
    for _ in range(300):
        password = generate_temporary_password(PasswordPolicy(require_classes=required))
        assert all(any(char in characters for char in password) for characters in CLASSES), password


def test_no_ambiguous_or_markup_characters() -> None:
    used = set("".join(generate_temporary_password(PasswordPolicy()) for _ in range(500)))
    assert not used & AMBIGUOUS
    assert used <= set(ALPHABET)


def test_passwords_do_not_repeat_and_use_the_whole_alphabet() -> None:
    batch = [generate_temporary_password(PasswordPolicy()) for _ in range(2000)]
    assert len(set(batch)) == len(batch)
    counts = Counter("".join(batch))
    assert set(counts) == set(ALPHABET)
    # Roughly uniform: no character more than twice as common as the average.
    average = sum(counts.values()) / len(ALPHABET)
    assert max(counts.values()) < 2 * average


def test_entropy_is_at_least_80_bits() -> None:
    assert MINIMUM_LENGTH * math.log2(len(ALPHABET)) >= 80


def test_uses_the_secrets_module() -> None:
    with (
        mock.patch.object(passwords.secrets, "choice", side_effect=lambda seq: seq[0]) as choice,
        mock.patch.object(passwords, "_has_every_class", return_value=True),
    ):
        assert generate_temporary_password(PasswordPolicy()) == ALPHABET[0] * MINIMUM_LENGTH
    assert choice.call_count == MINIMUM_LENGTH


def test_avoids_given_words_case_insensitively() -> None:
    # Force the first candidate to contain the forbidden word; the second is clean.
    # Tokens shorter than 3 characters ("ab") are ignored, as AD ignores them.
    picks = iter("Jdoe" + "aB3!" * 2 + "xyz" + "aB3!" * 3 + "xyz")
    with mock.patch.object(passwords.secrets, "choice", side_effect=lambda seq: next(picks)):
        password = generate_temporary_password(PasswordPolicy(min_length=15), avoid=["jdoe", "ab"])
    assert "jdoe" not in password.lower()
    assert password == "aB3!" * 3 + "xyz"


def test_impossible_class_count_is_refused() -> None:
    with pytest.raises(ValueError, match="only 4 classes"):
        generate_temporary_password(PasswordPolicy(require_classes=5))
