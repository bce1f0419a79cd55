"""Helpers shared by the knowledge-base tests."""

from __future__ import annotations


def article(article_id: str, title: str, body: str = "1. Do the thing.") -> str:
    """An article file's text: front matter with the title as its one example question, then the body."""
    return f"---\nid: {article_id}\ntitle: {title}\nquestions:\n  - {title.lower()}\n---\n{body}\n"
