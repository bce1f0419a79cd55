"""`frontdesk kb ...`: search, index and list a folder of knowledge-base articles.

    frontdesk kb search --kb DIR "how do I connect to the vpn"     # readable answer and alternatives
    frontdesk kb search --kb DIR --json < questions.txt            # one JSON line per input line
    frontdesk kb index --kb DIR                                    # build or refresh the index cache
    frontdesk kb list --kb DIR [--json]

`--kb` defaults to $FRONTDESK_KB_DIR, else the sample articles shipped in kb/articles. Without a ranker
flag, `search` and `index` use the ranker the running bot uses on this install: FRONTDESK_KB_SEMANTIC
(environment or `.env`; `auto` by default, which is the semantic ranker — MiniLM through onnxruntime plus
BM25 — when its packages are installed, as they are by default). `--semantic` and `--lexical` force one;
`--semantic` fails with a message when the model is not installed. The JSON line of
`search --json` is {"query": ..., "answer": ARTICLE_ID or null, "results": [{"id", "title", "score"}, ...]}
with up to 5 results, best first. Runs alone as `python -m kb.cli`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import click

from kb.config import configured_semantic
from kb.index import IndexReport, open_folder
from kb.search import Hit, KnowledgeBase, SearchResult
from kb.semantic import ModelError

SHIPPED_ARTICLES = Path(__file__).resolve().parent / "articles"
RESULTS = 5

kb_option = click.option(
    "--kb",
    "folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    envvar="FRONTDESK_KB_DIR",
    default=SHIPPED_ARTICLES,
    show_default="$FRONTDESK_KB_DIR or the shipped sample articles",
    help="Folder of markdown articles.",
)
semantic_option = click.option(
    "--semantic/--lexical",
    "semantic",
    default=None,
    help="Force the semantic (MiniLM + BM25) or the lexical (BM25) ranker. Default: the bot's own choice "
    "(FRONTDESK_KB_SEMANTIC, auto: semantic when the model is installed).",
)


# How `kb search` opens the knowledge base when the installed bot knows better: bot.cli_articles adds the
# articles published in the database (kb never imports the bot). None from it: the folder alone.
SearchOpener = Callable[[Path, bool | None], KnowledgeBase | None]
_search_opener: SearchOpener | None = None


def open_search_with(opener: SearchOpener) -> None:
    global _search_opener
    _search_opener = opener


@click.group()
def kb() -> None:
    """Search and maintain the knowledge base."""


@kb.command()
@kb_option
@semantic_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per query, one per line.")
@click.argument("query", required=False)
def search(folder: Path, semantic: bool | None, as_json: bool, query: str | None) -> None:
    """Answer QUERY, or every line of standard input when QUERY is not given (with FRONTDESK_DATABASE_URL
    set, over the articles published in the bot too, as the running bot answers)."""
    opened = _search_opener(folder, ranker_choice(semantic)) if _search_opener else None
    base = opened if opened is not None else _open(folder, semantic)
    queries = [query] if query is not None else (line.rstrip("\r\n") for line in sys.stdin)
    for text in queries:
        result = base.search(text, RESULTS)
        if as_json:
            click.echo(json.dumps(_as_json(result), ensure_ascii=False))
            sys.stdout.flush()
        else:
            _print_result(result)


@kb.command()
@kb_option
@semantic_option
def index(folder: Path, semantic: bool | None) -> None:
    """Build the index of a folder, or bring its cache up to date."""
    base, report = _open_with_report(folder, semantic)
    if report.from_cache:
        click.echo(f"{report.articles} articles: index up to date ({report.seconds:.2f} s)")
        return
    ranker = "semantic + lexical" if base.semantic else "lexical"
    click.echo(
        f"{report.articles} articles indexed ({ranker}) in {report.seconds:.2f} s: "
        f"{len(report.added)} added, {len(report.changed)} changed, {len(report.removed)} removed"
    )
    for label, names in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        for name in names:
            click.echo(f"  {label}: {name}")


@kb.command(name="list")
@kb_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per article, one per line.")
def list_articles(folder: Path, as_json: bool) -> None:
    """List the articles of a folder (files that cannot be read are reported and skipped)."""
    from kb.articles import load_articles

    for article in load_articles(folder):
        if as_json:
            record = {
                "id": article.id,
                "title": article.title,
                "tags": list(article.tags),
                "questions": len(article.questions),
                "links": list(article.links),
                "path": str(article.path) if article.path else None,
            }
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            tags = f"  [{', '.join(article.tags)}]" if article.tags else ""
            click.echo(f"{article.id:28} {article.title}{tags}")


def _open(folder: Path, semantic: bool | None) -> KnowledgeBase:
    return _open_with_report(folder, semantic)[0]


def ranker_choice(semantic: bool | None) -> bool | None:
    """A ranker flag when given, else the bot's setting (FRONTDESK_KB_SEMANTIC)."""
    if semantic is not None:
        return semantic
    try:
        return configured_semantic()
    except ValueError as error:
        raise click.UsageError(str(error)) from error


def _open_with_report(folder: Path, semantic: bool | None) -> tuple[KnowledgeBase, IndexReport]:
    try:
        return open_folder(folder, semantic=ranker_choice(semantic))
    except (RuntimeError, ModelError) as error:  # --semantic (or FRONTDESK_KB_SEMANTIC=on) without the model
        raise click.ClickException(str(error)) from error


def _as_json(result: SearchResult) -> dict[str, object]:
    return {
        "query": result.query,
        "answer": result.answer.article.id if result.answer else None,
        "results": [
            {"id": hit.article.id, "title": hit.article.title, "score": round(hit.score, 4)}
            for hit in result.hits
        ],
    }


def _print_result(result: SearchResult) -> None:
    click.echo(f"Q: {result.query}")
    if result.answer is not None:
        _print_answer(result.answer)
        others = result.hits[1:]
    else:
        click.echo("No confident answer: the bot would offer to open a ticket.")
        others = result.hits
    if others:
        click.echo("Other articles:" if result.answer else "Closest articles:")
        for hit in others:
            figures = f"score {hit.score:.3f}, confidence {hit.confidence:.2f}"
            click.echo(f"  {hit.article.id:28} {hit.article.title}  ({figures})")
    click.echo("")


def _print_answer(hit: Hit) -> None:
    click.echo(f"Answer: {hit.article.title} [{hit.article.id}] (confidence {hit.confidence:.2f})")
    for line in hit.passage.splitlines():
        click.echo(f"  | {line}")
    if hit.article.links:
        click.echo(f"  Read more: {hit.article.links[0]}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    kb()
