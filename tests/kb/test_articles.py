"""Article files: front matter, malformed files, passages, and the shipped sample articles."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kb.articles import PASSAGE_MAX_WORDS, Article, ArticleError, load_articles, parse_article, passages

SHIPPED = Path(__file__).resolve().parents[2] / "kb" / "articles"

GOOD = """---
id: vpn-setup
title: Set up the VPN
tags: [vpn, remote]
questions:
  - how do I connect to the VPN
  - vpn client install
links:
  - https://intranet.example.com/it/vpn
---
1. Install the client.
2. Sign in.
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_front_matter_fields_become_an_article(tmp_path: Path) -> None:
    path = write(tmp_path, "vpn.md", GOOD)
    [article] = load_articles(tmp_path)
    assert article == Article(
        id="vpn-setup",
        title="Set up the VPN",
        body="1. Install the client.\n2. Sign in.",
        tags=("vpn", "remote"),
        questions=("how do I connect to the VPN", "vpn client install"),
        links=("https://intranet.example.com/it/vpn",),
        path=path,
    )


def test_optional_fields_default_to_empty() -> None:
    article = parse_article("---\nid: a1\ntitle: Hello\n---\nBody text.\n")
    assert (article.tags, article.questions, article.links, article.path) == ((), (), (), None)
    assert article.body == "Body text."


def test_article_is_frozen() -> None:
    article = parse_article(GOOD)
    with pytest.raises(AttributeError):
        article.title = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("no front matter at all\n", "no YAML front matter"),
        ("---\nid: [unclosed\ntitle: x\n---\nbody\n", "not valid YAML"),
        ("---\ntitle: No id\n---\nbody\n", "no 'id'"),
        ("---\nid: no-title\n---\nbody\n", "no 'title'"),
        ("---\nid: bad id!\ntitle: x\n---\nbody\n", "must be letters"),
        ("---\nid: q\ntitle: x\nquestions: {a: 1}\n---\nbody\n", "'questions' must be a list"),
        ("---\n- just\n- a list\n---\nbody\n", "must be a mapping"),
    ],
)
def test_malformed_article_is_rejected_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ArticleError, match=reason):
        parse_article(text)


def test_malformed_files_are_skipped_with_a_warning_naming_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "good.md", GOOD)
    write(tmp_path, "broken.md", "---\nid: [unclosed\n---\nbody\n")
    write(tmp_path, "plain.md", "just text\n")
    write(tmp_path, "duplicate.md", GOOD)
    (tmp_path / "binary.md").write_bytes(b"---\nid: x\ntitle: \xff\xfe\n---\n")
    write(tmp_path, "notes.txt", "not an article, not even looked at")
    with caplog.at_level(logging.WARNING, logger="kb.articles"):
        articles = load_articles(tmp_path)
    assert [a.id for a in articles] == ["vpn-setup"]
    warned = "\n".join(record.getMessage() for record in caplog.records)
    for name in ("broken.md", "plain.md", "duplicate.md", "binary.md"):
        assert name in warned
    assert "notes.txt" not in warned


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_articles(tmp_path / "nope")


def test_a_numbered_list_stays_in_one_passage_with_its_lead_in() -> None:
    body = "Try these in order:\n\n1. Restart.\n2. Update.\n3. Call us.\n\nOther text follows here."
    first = passages(body)[0]
    assert first.startswith("Try these in order:")
    assert "1. Restart." in first and "3. Call us." in first


def test_long_bodies_are_cut_into_passages_of_bounded_size() -> None:
    paragraph = " ".join(f"Sentence number {i} says something useful." for i in range(80))
    body = f"{paragraph}\n\n* * *\n\nA second answer."
    cut = passages(body)
    assert len(cut) >= 3
    assert all(len(p.split()) <= PASSAGE_MAX_WORDS for p in cut)
    assert cut[-1] == "A second answer."


def test_shipped_sample_articles_are_complete() -> None:
    articles = load_articles(SHIPPED)
    assert len(articles) >= 28
    assert len(articles) == len(list(SHIPPED.glob("*.md")))  # none was skipped as malformed
    for article in articles:
        assert 4 <= len(article.questions) <= 8, article.id
        assert article.tags and article.links, article.id
        assert "1. " in article.body, f"{article.id} has no numbered steps"
