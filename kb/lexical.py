"""The lexical ranker: BM25 (bm25s, Snowball English stemming) over an article's fields, weighted.

Fields, each a separate BM25 index so that a long body cannot drown a short title:
- *questions*: the title and every example question, each its own unit; an article scores its best unit.
- *body*: the whole body, one unit per article (weighted by BODY_WEIGHT).
- *passages*: the body cut into passages, used to pick the passage to quote (not for ranking).

Before BM25, text is normalised the same way for articles and queries: lower case, help-desk synonyms
folded onto one word ("sign in" / "log on" → login, "e-mail" → email), stop words dropped, stems. The
synonyms are general help-desk English only: nothing in them was taken from a benchmark's wording.

The score of an article is BM25(questions) + BODY_WEIGHT × BM25(body). `LexicalScores.ceiling` is what
an article holding every query term many times would score; dividing by it puts scores on a 0..1 scale
that means the same in a 30-article KB and a 10,000-article one. Query terms the KB has never seen count
in the ceiling at the highest IDF, which is what makes "the capital of France" score nothing.
"""

from __future__ import annotations

import copy
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import numpy as np
import Stemmer

from kb.spelling import Speller

# bm25s logs every index build at DEBUG level on its own logger; that is noise in the bot's logs.
logging.getLogger("bm25s").setLevel(logging.WARNING)

# Chosen on the StackFAQ dev split (benchmark), and kept at round values: k1 1.5 and body weight 0.7
# were within 0.005 P@1 of every neighbour tried.
K1 = 1.5
B = 0.75
BODY_WEIGHT = 0.7

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down
    during each few for from further had has have having he he'd he'll he's her here
    here's hers herself him himself his how how's i i'd i'll i'm i've if in into is it it's its itself
    let's me more most my myself nor of off on once only or other ought our ours ourselves
    out over own same she she'd she'll she's should so some such than that that's the their
    theirs them themselves then there there's these they they'd they'll they're they've this those through
    to too under until up very was we we'd we'll we're we've were what what's when when's
    where where's which while who who's whom why why's with would you you'd you'll you're
    you've your yours yourself yourselves s t d ll m re ve im ive id whats
    please hi hello hey thanks thank anyone someone somebody way possible able need want like get got
    would know tell help youre theyre thats theres hes shes lets pls plz thx"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# Negation is the difference between "connect to the VPN" and "the VPN won't connect": every form is read
# as one term, NEGATION, in titles, example questions and queries. Bodies say "not" everywhere, so there it
# is dropped (it would only add noise).
NEGATION = "not"
_NEGATIONS = """no never cannot can't won't don't doesn't didn't isn't aren't wasn't weren't couldn't
    wouldn't shouldn't hasn't haven't hadn't mustn't shan't cant wont dont doesnt didnt isnt arent wasnt
    werent couldnt wouldnt shouldnt hasnt havent hadnt"""

# Help-desk synonyms: every variant is read as its canonical word, in articles and queries alike.
# Only words that mean the same thing to a help desk; nothing here is specific to one knowledge base.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "email": ("e mail", "emails", "e mails", "mail", "mails"),
    "delete": ("remove", "erase", "get rid of", "wipe"),
    "multiple": ("many", "several", "more than one", "bulk", "lots of", "a bunch of"),
    "image": ("picture", "pictures", "photo", "photos", "pic", "pics", "images"),
    "password": ("passcode", "passwd", "pwd"),
    "login": ("log in", "log on", "logon", "sign in", "signin", "sign on", "logging in", "signing in"),
    "logout": ("log out", "sign out", "signout", "log off"),
    "wifi": ("wi fi", "wireless", "wlan"),
    "laptop": ("notebook computer",),
    "phone": ("mobile phone", "smartphone", "cell phone", "cellphone", "mobile"),
    "backup": ("back up", "backups", "backing up"),
    "folder": ("directory", "directories", "folders"),
    "link": ("url", "hyperlink", "links", "urls"),
    "setup": ("set up", "configure", "configuration", "setting up"),
    "install": ("installation", "installing", "installed"),
    "monitor": ("display", "screen"),
    "mfa": ("2fa", "two factor", "multi factor", "2 step", "two step", "authenticator app"),
    "outofoffice": (
        "out of office",
        "ooo",
        "auto reply",
        "autoreply",
        "automatic reply",
        "automatic replies",
    ),
    "vpn": ("virtual private network",),
    "account": ("acc", "acct"),
    "message": ("msg", "msgs", "messages"),
    "slow": ("sluggish", "laggy", "lagging", "takes forever"),
    "unlock": ("unlocked", "locked out", "lockout", "lock out"),
    NEGATION: tuple(_NEGATIONS.split()),
}


def _phrase_pattern(synonyms: dict[str, tuple[str, ...]]) -> tuple[re.Pattern[str], dict[str, str]]:
    """The canonical word of every variant; and one regex for the variants of several words (whole words
    only, any non-word characters between them, longest first). One-word variants are a dict look-up."""
    canonical = {variant: name for name, variants in synonyms.items() for variant in variants}
    phrases = sorted((v for v in canonical if " " in v), key=lambda v: (-len(v.split()), -len(v)))
    alternation = "|".join(r"[^a-z0-9']+".join(map(re.escape, v.split())) for v in phrases)
    return re.compile(rf"\b(?:{alternation})(?![a-z0-9'])"), canonical


PHRASES, CANONICAL = _phrase_pattern(SYNONYMS)


# Chat English drops apostrophes ("my vpn wont connect"); the embedding model knows the spelled-out form.
CONTRACTIONS = {
    "cant": "can't", "wont": "won't", "dont": "don't", "doesnt": "doesn't", "didnt": "didn't",
    "isnt": "isn't", "arent": "aren't", "wasnt": "wasn't", "werent": "weren't", "couldnt": "couldn't",
    "wouldnt": "wouldn't", "shouldnt": "shouldn't", "hasnt": "hasn't", "havent": "haven't",
    "im": "I'm", "ive": "I've", "whats": "what's", "thats": "that's", "theres": "there's",
    "youre": "you're", "pls": "please", "plz": "please", "thx": "thanks",
}  # fmt: skip
# Chat and phone shorthand, spelled out for both rankers (the embedding model reads "pw" as noise).
# General texting English only, like the synonyms: nothing here comes from a benchmark's wording.
SHORTHAND = {
    "pw": "password", "pwd": "password", "passwd": "password", "wfh": "working from home",
    "u": "you", "ur": "your", "r": "are", "ppl": "people", "msg": "message", "msgs": "messages",
    "acct": "account", "b4": "before", "bc": "because", "cuz": "because", "coz": "because",
    "tmrw": "tomorrow", "tmr": "tomorrow", "idk": "I don't know", "asap": "as soon as possible",
    "mins": "minutes", "min": "minute", "sec": "second", "thru": "through", "w/o": "without",
    "lappy": "laptop", "pic": "picture", "pics": "pictures", "prob": "problem", "probs": "problems",
    "ty": "thank you", "bday": "birthday", "wk": "week", "yr": "year", "wont": "won't",
}  # fmt: skip
_CHAT_FORMS = {**CONTRACTIONS, **SHORTHAND}
_CONTRACTION = re.compile(
    r"(?<![\w'])(" + "|".join(map(re.escape, sorted(_CHAT_FORMS, key=len, reverse=True))) + r")(?![\w'/])",
    re.IGNORECASE,
)


def normalise_query(text: str) -> str:
    """A chat message as the rankers read it: whitespace squashed, apostrophe-less contractions restored,
    chat shorthand ("pw", "wfh", "u") spelled out."""
    return _CONTRACTION.sub(lambda m: _CHAT_FORMS[m.group(1).lower()], " ".join(text.split()))


def normalised_wording(text: str) -> str:
    """A phrasing reduced to its words, for telling whether two were written alike: lower case, apostrophes
    and hyphens dropped ("Can't log-in?" → "cant login"), punctuation and spacing ignored."""
    return " ".join(re.findall(r"[a-z0-9]+", re.sub(r"['’-]", "", text.lower())))


def words(text: str) -> list[str]:
    """Lower-case words with the help-desk synonyms folded onto their canonical word."""
    folded = PHRASES.sub(lambda m: CANONICAL[" ".join(WORD.findall(m.group()))], text.lower())
    return [CANONICAL.get(word, word) for word in WORD.findall(folded)]


class Analyzer:
    """Words → BM25 terms (stop words out, Snowball stems). Thread-safe: one stemmer per thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def terms(self, text_words: Sequence[str]) -> list[str]:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = Stemmer.Stemmer("english")
        return list(stemmer.stemWords([w.replace("'", "") for w in text_words if w not in STOPWORDS]))


ANALYZER = Analyzer()


def analyze(text: str) -> list[str]:
    return ANALYZER.terms(words(text))


def analyze_body(text: str) -> list[str]:
    """Terms of body text: as `analyze`, without negation."""
    return [term for term in analyze(text) if term != NEGATION]


class FieldIndex:
    """One BM25 index whose units are grouped by article (article i owns units starts[i]:starts[i+1])."""

    def __init__(self, units_per_article: Sequence[Sequence[list[str]]]) -> None:
        units = [unit or [""] for article_units in units_per_article for unit in (article_units or [[]])]
        counts = [max(1, len(article_units)) for article_units in units_per_article]
        self.starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self.bm25: bm25s.BM25 | None = None  # no articles (an empty folder): bm25s cannot index nothing
        if units:
            self.bm25 = bm25s.BM25(k1=K1, b=B, method="lucene")
            self.bm25.index(units, show_progress=False)

    def unit_scores(self, terms: list[str]) -> np.ndarray:
        if self.bm25 is None:
            return np.zeros(0, dtype=np.float32)
        ids = self.bm25.get_tokens_ids(terms)
        if not ids:
            return np.zeros(int(self.bm25.scores["num_docs"]), dtype=np.float32)
        return np.asarray(self.bm25.get_scores_from_ids(ids), dtype=np.float32)

    def article_scores(self, terms: list[str]) -> np.ndarray:
        """The best unit's score for every article."""
        return np.maximum.reduceat(self.unit_scores(terms), self.starts) if len(self.starts) else np.zeros(0)


@dataclass(frozen=True)
class LexicalScores:
    scores: np.ndarray  # per article: BM25(questions) + BODY_WEIGHT × BM25(body)
    query_terms: list[str]
    ceiling: float  # the score of a perfect match: Σ IDF(query term) × (1 + BODY_WEIGHT)

    @property
    def normalised(self) -> np.ndarray:
        return self.scores / self.ceiling


class LexicalIndex:
    """BM25 over the articles' fields; built once, questions re-indexed cheaply when learning adds some."""

    def __init__(
        self,
        question_units: Sequence[Sequence[list[str]]],
        body_units: Sequence[list[str]],
        passage_units: Sequence[Sequence[list[str]]],
        speller: Speller | None = None,
    ) -> None:
        self.size = len(body_units)
        self.speller = speller
        self.questions = FieldIndex(question_units)
        self.body = FieldIndex([[unit] for unit in body_units])
        self.passages = FieldIndex(passage_units)
        self._document_frequency = _document_frequencies(question_units, body_units)

    @classmethod
    def build(
        cls,
        question_texts: Sequence[Sequence[str]],
        bodies: Sequence[str],
        passage_texts: Sequence[Sequence[str]],
    ) -> LexicalIndex:
        """`passage_texts` must be the bodies cut into passages (kb.articles.passages)."""
        passage_terms = [[analyze_body(text) for text in texts] for texts in passage_texts]
        # Passages are the body cut into pieces: the body's terms are theirs, analysed once.
        body_terms = [
            [term for piece in pieces for term in piece] if body.strip() else []
            for body, pieces in zip(bodies, passage_terms, strict=True)
        ]
        # The vocabulary typos are corrected to: the articles' own words (learned phrasings, which are
        # people's own typing, are left out) and the common English of the stop words.
        speller = Speller.from_texts(
            [text for texts in question_texts for text in texts] + list(bodies), common=STOPWORDS
        )
        return cls(
            [[analyze(text) for text in texts] for texts in question_texts],
            body_terms,
            passage_terms,
            speller,
        )

    def with_questions(self, question_texts: Sequence[Sequence[str]]) -> LexicalIndex:
        """The same index with the questions field rebuilt (learned example questions); bodies are shared."""
        clone = copy.copy(self)
        clone.questions = FieldIndex([[analyze(text) for text in texts] for texts in question_texts])
        return clone

    def reading(self, query: str) -> str:
        """A chat message as both rankers read it: normalised (`normalise_query`) and its unknown words
        corrected against the knowledge base's vocabulary (kb.spelling)."""
        text = normalise_query(query)
        return self.speller.correct(text) if self.speller is not None else text

    def query_terms(self, query: str) -> list[str]:
        return ANALYZER.terms(words(query))

    def idf(self, term: str) -> float:
        df = self._document_frequency.get(term, 0)
        return math.log(1.0 + (self.size - df + 0.5) / (df + 0.5))

    def score(self, query: str) -> LexicalScores:
        terms = self.query_terms(query)
        ceiling = max(1e-9, sum(self.idf(t) for t in terms) * (1.0 + BODY_WEIGHT))
        if not terms or not self.size:
            return LexicalScores(np.zeros(self.size, dtype=np.float32), terms, ceiling)
        scores = self.questions.article_scores(terms) + BODY_WEIGHT * self.body.article_scores(terms)
        return LexicalScores(scores, terms, ceiling)

    def passage_scores(self, terms: list[str]) -> np.ndarray:
        """BM25 of every passage of every article (article i's from row passages.starts[i])."""
        return self.passages.unit_scores(terms)


def _document_frequencies(
    question_units: Sequence[Sequence[list[str]]], body_units: Sequence[list[str]]
) -> dict[str, int]:
    """In how many articles (any field) each term occurs."""
    counts: Counter[str] = Counter()
    for questions, body in zip(question_units, body_units, strict=True):
        counts.update(set(body).union(*questions))
    return dict(counts)
