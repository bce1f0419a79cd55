"""Deterministic guards applied around the statistical model, where it is structurally weak.

The model sees word and character n-grams, so a question that is made of an intent's vocabulary ("how
often do I have to change my password?") can land on that intent. `veto` rules only ever *remove* an
intent (the message then goes to the knowledge base, the safe fallback); they never invent one.

Two rules do set an intent. Safety: a message about fire, smoke, sparks, a burning smell, a swollen
battery or an electric shock (`is_safety_hazard`) must never be answered with an article, so it is routed
as `report_outage` — an urgent ticket, not a how-to. And a bare acknowledgement or chat reply ("ok",
"thanks", "cool", "yes", "👍"; `is_acknowledgement`) is `smalltalk` whatever either model makes of it: it
is never a question for the knowledge base. Each rule is a documented pattern, tested in
tests/kb/test_intent.py.
"""

from __future__ import annotations

import re

from kb.acknowledgement import is_acknowledgement

__all__ = ["is_acknowledgement", "is_safety_hazard", "veto"]

# Questions about rules and timing of passwords/lockouts ("how often…", "how long…", "what are the
# requirements…", "when does it expire?"): policy questions for the knowledge base, never a reset/unlock.
_POLICY_QUESTION = re.compile(
    r"\b(how (often|long|many|frequently)|minimum|maximum|max(imum)? length|min(imum)? length"
    r"|requirements?|polic(y|ies)|rules?|complexity|allowed characters|special characters?"
    r"|when (does|do|will) (my|the|a|our) (\w+ )?(password|pw|pwd|account)s? (expire|lock))\b",
    re.IGNORECASE,
)
_CREDENTIAL = re.compile(r"\b(pass ?words?|passwd|pwd|pw|pin|account|lock ?outs?|locked)\b", re.IGNORECASE)
# Asking *for* a password that is not theirs ("what's the guest wifi password?"): a question, not a reset.
_WHATS_THE_PASSWORD = re.compile(
    r"\b(what('s| is)|wh?ats|where (is|can i find|do i find)|tell me|give me)\b[^.?!]*\b(the|a)\b[^.?!]*"
    r"\b(wifi|wi-fi|wlan|guest|visitor|network|printer|admin|meeting room|conference|default)\b[^.?!]*"
    r"\bpass ?word\b",
    re.IGNORECASE,
)
# ...unless the person also states the problem ("I forgot my password, how long does a reset take?").
_STATES_A_NEED = re.compile(
    r"\b(i|i'?ve|i'?m|my)\b[^.?!]*\b(forg[eo]t|can'?t remember|don'?t (remember|know)|need (a )?new"
    r"|(reset|unlock) (it|me|my))"
    # a present state ("is locked"), not a hypothetical ("gets locked"):
    r"|\b(is|was|got|been|am|i'?m|it'?s)\s+(now\s+|already\s+)?(locked|blocked|expired)",
    re.IGNORECASE,
)
# Asking why something keeps happening ("why do I keep getting locked out?", "…every morning, why"): a
# question about a cause, for the knowledge base (the account-lockout article) — not a request to act.
_WHY_QUESTION = re.compile(
    r"\b(why|how come|what causes|what'?s causing|what is causing|reason)\b", re.IGNORECASE
)
# ...unless they also ask for it to be done ("why is my account locked? please unlock it").
_ASKS_TO_ACT = re.compile(
    r"\b(please|pls|plz|can you|could you|can u|can someone|need you to)\b[^.?!]*\b(unlock|reset)\b",
    re.IGNORECASE,
)
# A reset or an unlock is about signing in: a message that names no password, account, sign-in or lock
# in any common spelling ("out of ofice message in outlok pls" — "outlok" shares character n-grams with
# "locked out") is not asking for either.
_SIGN_IN_TOPIC = re.compile(
    r"pa?s+ ?(w|phrase)|\bpw|pwd|passwd|\bpin\b|acc?o?u?n?t|acct|lock|loked"
    r"|log(ging|ged)? ?(in|on)|login|logon"
    r"|sign(ing|ed)? ?(in|on)|signin|cred|reset|expire|let me in|get in|frozen|unfreeze|barred|access",
    re.IGNORECASE,
)
_GUARDED = frozenset({"reset_password", "unlock_account"})


def veto(text: str, intent: str | None) -> str | None:
    """The name of the rule that forbids routing ``text`` to ``intent``, or None when it may stand."""
    if intent not in _GUARDED:
        return None
    if not _SIGN_IN_TOPIC.search(text):
        return "not-about-signing-in"
    if (
        _is_question(text)
        and _POLICY_QUESTION.search(text)
        and _CREDENTIAL.search(text)
        and not _STATES_A_NEED.search(text)
    ):
        return "policy-question"
    if (
        _WHY_QUESTION.search(text)
        and _CREDENTIAL.search(text)
        and not _STATES_A_NEED.search(text)
        and not _ASKS_TO_ACT.search(text)
    ):
        return "asks-why"
    if intent == "reset_password" and _WHATS_THE_PASSWORD.search(text):
        return "asks-for-a-shared-password"
    return None


def _is_question(text: str) -> bool:
    """Opens like a question (after an optional greeting), whether or not it ends with "?"."""
    opening = re.sub(r"^\W*(hi|hello|hey|quick question|question)\b\W*", "", text.strip().lower())
    return bool(re.match(r"(how|what|whats|when|why|which|where|is|are|do|does|can|should|will)\b", opening))


# Safety hazards: physical danger around equipment. Written to avoid IT words that merely contain them
# ("firewall", "Firefox", "fire up", "Apache Spark", "burn a DVD", "smoke test").
_BATTERY_STATE = (
    r"(swollen|swelling|bulging|bloated|puff(y|ed|ing)( up)?|expand(ed|ing)|leak(s|ed|ing)|hissing|exploded"
    r"|smoking)"
)
_HAZARDS = (
    r"on fire|caught fire|catch(es|ing)? fire|set (itself )?on fire|in flames|flames?",
    r"(there'?s|there is|a|the) fire\b(?! (up|off|away|drill))",
    r"smok(e|es|ed|ing|y)\b(?! (test|tests|testing|break|breaks|area|room|detector|free))",
    r"spark(s|ing|ed|ling)|melt(s|ed|ing)|scorch(ed|ing)|charred",
    r"(burning|burnt|burned) (smell|plastic|rubber|odou?r)",
    r"smells? (like )?(burning|burnt|smoke|something burning)",
    r"too hot to (touch|hold)|(electric(al)?|got an?) shock|shocked me|(exposed|live|bare) wires?",
    rf"{_BATTERY_STATE}( \w+){{0,3}} batter(y|ies)|batter(y|ies)( \w+){{0,4}} {_BATTERY_STATE}",
)
_HAZARD = re.compile(r"\b(" + "|".join(_HAZARDS) + r")\b", re.IGNORECASE)
# A hazard word the person denies: "not smoking", "no smoke", "isn't on fire" (a negation at most two words
# before it, in the same clause: "no smoke but sparks" is sparks), or "on fire? no, just jammed" (answered
# no right after). A negation after it ("on fire, not a drill") or across a comma ("no, it's on fire")
# denies something else.
_DENIED_BEFORE = re.compile(
    r"\b(no|not|never|without|nothing|nor|\w+n'?t)\s+((?!(but|and|or|yet|though)\b)\w+'?\w*\s+){0,2}$",
    re.IGNORECASE,
)
_DENIED_AFTER = re.compile(r"^\s*[?!.]+\s*(no|nope|nah|not really)\b", re.IGNORECASE)


def is_safety_hazard(text: str) -> bool:
    """Fire, smoke, sparks, a burning smell, a swollen battery, an electric shock: people before IT —
    unless every mention is denied ("printer on fire? no, just jammed", "no smoke")."""
    return any(not _denied(text, match) for match in _HAZARD.finditer(text))


def _denied(text: str, match: re.Match[str]) -> bool:
    return bool(_DENIED_BEFORE.search(text[: match.start()]) or _DENIED_AFTER.match(text[match.end() :]))
