"""Knowledge-base articles: markdown files with YAML front matter, and the passages they are answered from.

An article file looks like this::

    ---
    id: vpn-setup
    title: Set up the VPN on your laptop
    tags: [vpn, remote]
    questions:
      - how do I connect to the VPN
      - vpn client install
    links:
      - https://intranet.example.com/it/vpn
    ---
    1. Open the **Company Portal** ...

`load_articles(folder)` reads every `*.md` file of a folder; a file that cannot be read or whose front
matter is wrong is skipped with a warning naming it, so one bad file never takes the knowledge base down.
Articles written in the bot come from the database as `Article(..., path=None)`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(.*)\Z", re.S)
ARTICLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# A passage is what the bot quotes: long enough to hold a few steps, short enough for a chat message.
PASSAGE_WORDS = 90
PASSAGE_MAX_WORDS = 150
PASSAGE_LEAD_WORDS = 30
ANSWER_SEPARATOR = re.compile(r"^\s*(?:\* ?\* ?\*|-{3,}|_{3,})\s*$")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


class ArticleError(ValueError):
    """An article file that cannot be used (the message says why)."""


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    body: str
    tags: tuple[str, ...] = ()
    questions: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    path: Path | None = None


def load_articles(folder: Path | str) -> list[Article]:
    """Every readable article of `folder` (sorted by file name); bad files are skipped with a warning."""
    articles: list[Article] = []
    seen: dict[str, Path] = {}
    for path in article_files(Path(folder)):
        try:
            article = read_article(path)
        except (OSError, UnicodeDecodeError, ArticleError) as error:
            log.warning("kb: skipping article file %s: %s", path, error)
            continue
        if article.id in seen:
            log.warning(
                "kb: skipping article file %s: id %r is already used by %s",
                path,
                article.id,
                seen[article.id],
            )
            continue
        seen[article.id] = path
        articles.append(article)
    return articles


def article_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"knowledge-base folder not found: {folder}")
    return sorted(p for p in folder.glob("*.md") if p.is_file() and not p.name.startswith("."))


def read_article(path: Path) -> Article:
    return parse_article(path.read_text(encoding="utf-8"), path=path)


def parse_article(text: str, *, path: Path | None = None) -> Article:
    """An article from the text of a markdown file with front matter; raises ArticleError if unusable."""
    match = FRONT_MATTER.match(text.lstrip("\ufeff"))
    if match is None:
        raise ArticleError(
            "no YAML front matter (the file must start with a '---' line and close it with another)"
        )
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        raise ArticleError(f"front matter is not valid YAML: {error}") from error
    if not isinstance(meta, dict):
        raise ArticleError("front matter must be a mapping of fields (id, title, ...)")
    article_id = _text_field(meta, "id", required=True)
    if not ARTICLE_ID.match(article_id):
        raise ArticleError(f"id {article_id!r} must be letters, digits, '.', '_' or '-'")
    return Article(
        id=article_id,
        title=_text_field(meta, "title", required=True),
        body=match.group(2).strip(),
        tags=_list_field(meta, "tags"),
        questions=_list_field(meta, "questions"),
        links=_list_field(meta, "links"),
        path=path,
    )


def _text_field(meta: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = meta.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ArticleError(f"front matter has no {name!r}")
        return ""
    if not isinstance(value, str):
        raise ArticleError(f"{name!r} must be text, not {type(value).__name__}")
    return " ".join(value.split())


def _list_field(meta: dict[str, Any], name: str) -> tuple[str, ...]:
    value = meta.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str | int | float) for item in value):
        raise ArticleError(f"{name!r} must be a list of text items")
    return tuple(" ".join(str(item).split()) for item in value if str(item).strip())


# --- passages ---------------------------------------------------------------------------------------


def passages(body: str) -> list[str]:
    """The body cut into quotable passages: whole paragraphs and lists, a heading kept with what follows.

    Small neighbouring blocks are packed together up to about PASSAGE_WORDS words; a block longer than
    PASSAGE_MAX_WORDS is cut at sentence ends. Markdown is kept as written, so lists stay lists.
    """
    packed: list[str] = []
    for section in _sections(body):
        packed.extend(_pack(_blocks(section)))
    return packed


def _sections(body: str) -> Iterator[list[str]]:
    """Lines of the body, split at horizontal rules (StackExchange-style bodies put one between answers)."""
    section: list[str] = []
    for line in body.splitlines():
        if ANSWER_SEPARATOR.match(line):
            yield section
            section = []
        else:
            section.append(line.rstrip())
    yield section


def _blocks(lines: list[str]) -> list[str]:
    """Paragraphs; a heading or a line ending in ':' is glued to the block after it; lists kept whole."""
    raw: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            raw[-1].append(line)
        elif raw[-1]:
            raw.append([])
    blocks: list[str] = []
    carry = ""
    for block_lines in (b for b in raw if b):
        block = "\n".join(block_lines)
        if carry:
            block = f"{carry}\n{block}" if _is_list(block_lines) else f"{carry}\n\n{block}"
            carry = ""
        if _is_lead_in(block_lines):
            carry = block
            continue
        if blocks and _is_list(block_lines) and _is_list(blocks[-1].splitlines()[-1:]):
            blocks[-1] = f"{blocks[-1]}\n{block}"
            continue
        blocks.append(block)
    if carry:
        blocks.append(carry)
    return blocks


def _is_lead_in(lines: list[str]) -> bool:
    last = lines[-1].strip()
    return (len(lines) == 1 and last.startswith("#")) or (last.endswith(":") and not _is_list(lines))


def _is_list(lines: list[str]) -> bool:
    return bool(lines) and bool(LIST_ITEM.match(lines[0]))


def _pack(blocks: Iterable[str]) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    size = 0
    for block in (piece for b in blocks for piece in _split_long(b)):
        words = len(block.split())
        # A short lead ("Try these in order:") stays with what follows, up to the hard limit.
        fits = size + words <= PASSAGE_WORDS or (
            size < PASSAGE_LEAD_WORDS and size + words <= PASSAGE_MAX_WORDS
        )
        if current and not fits:
            out.append("\n\n".join(current))
            current, size = [], 0
        current.append(block)
        size += words
    if current:
        out.append("\n\n".join(current))
    return out


def _split_long(block: str) -> list[str]:
    if len(block.split()) <= PASSAGE_MAX_WORDS:
        return [block]
    pieces: list[str] = []
    current: list[str] = []
    for sentence in _sentences(block):
        if current and len(" ".join(current).split()) + len(sentence.split()) > PASSAGE_WORDS:
            pieces.append(" ".join(current))
            current = []
        current.append(sentence)
    if current:
        pieces.append(" ".join(current))
    return pieces


def _sentences(block: str) -> list[str]:
    """Sentences, or word windows when a 'sentence' is itself too long (code, tables, run-on text)."""
    out: list[str] = []
    for sentence in SENTENCE_END.split(block):
        words = sentence.split()
        for start in range(0, len(words), PASSAGE_WORDS):
            out.append(" ".join(words[start : start + PASSAGE_WORDS]))
    return [s for s in out if s]
