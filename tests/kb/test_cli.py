"""The `kb` command line through click's CliRunner: the JSON contract of `kb search`, index, list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import semantic
from kb.cli import SHIPPED_ARTICLES, kb


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("FRONTDESK_KB_DIR", raising=False)


def run(*args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(kb, list(args), input=stdin, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_search_json_reads_one_query_a_line_from_stdin() -> None:
    stdin = "how do I set up my out of office\nwhat's the capital of France\nmy printer has a paper jam\n"
    lines = run("search", "--kb", str(SHIPPED_ARTICLES), "--json", "--lexical", stdin=stdin).splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["query"] for r in records] == stdin.splitlines()
    assert [r["answer"] for r in records] == ["out-of-office", None, "printer-jam"]
    for record in records:
        assert set(record) == {"query", "answer", "results"}
        assert len(record["results"]) <= 5
        for item in record["results"]:
            assert set(item) == {"id", "title", "score"}
            assert isinstance(item["score"], float)
    assert records[0]["results"][0] == {
        "id": "out-of-office",
        "title": "Set an out-of-office reply",
        "score": records[0]["results"][0]["score"],
    }


def test_search_query_argument_prints_a_readable_answer() -> None:
    output = run("search", "--kb", str(SHIPPED_ARTICLES), "--lexical", "my laptop asks for a bitlocker key")
    assert "Answer: BitLocker recovery key" in output
    assert "Read more: https://intranet.example.com/it/bitlocker" in output


def test_search_without_an_answer_says_so() -> None:
    output = run("search", "--kb", str(SHIPPED_ARTICLES), "--lexical", "my cat is sick")
    assert "No confident answer" in output


def test_kb_folder_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "coffee.md").write_text(
        "---\nid: coffee\ntitle: Coffee machine error E42\n---\n1. Empty the drip tray.\n", encoding="utf-8"
    )
    monkeypatch.setenv("FRONTDESK_KB_DIR", str(folder))
    record = json.loads(run("search", "--json", "--lexical", "coffee machine error E42"))
    assert record["answer"] == "coffee"


def test_index_reports_added_changed_removed(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    for name in ("vpn-setup.md", "printer-jam.md"):
        (folder / name).write_text((SHIPPED_ARTICLES / name).read_text(encoding="utf-8"), encoding="utf-8")
    assert "2 added, 0 changed, 0 removed" in run("index", "--kb", str(folder), "--lexical")
    assert "up to date" in run("index", "--kb", str(folder), "--lexical")
    (folder / "printer-jam.md").unlink()
    assert "0 added, 0 changed, 1 removed" in run("index", "--kb", str(folder), "--lexical")


def test_list_json() -> None:
    records = [json.loads(line) for line in run("list", "--kb", str(SHIPPED_ARTICLES), "--json").splitlines()]
    assert len(records) == len(list(SHIPPED_ARTICLES.glob("*.md")))
    vpn = next(r for r in records if r["id"] == "vpn-setup")
    assert vpn["title"] == "Set up the VPN on your laptop"
    assert vpn["links"] == ["https://intranet.example.com/it/vpn"] and "vpn" in vpn["tags"]


def test_missing_folder_is_a_usage_error() -> None:
    result = CliRunner().invoke(kb, ["search", "--kb", "/nonexistent/folder", "vpn"])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_without_a_flag_the_ranker_is_the_bots_own_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kb index`/`kb search` without --semantic/--lexical follow FRONTDESK_KB_SEMANTIC, as the bot does."""
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "vpn-setup.md").write_text((SHIPPED_ARTICLES / "vpn-setup.md").read_text(encoding="utf-8"))
    monkeypatch.setenv("FRONTDESK_KB_SEMANTIC", "off")
    assert "(lexical)" in run("index", "--kb", str(folder))
    question = "my printer has a paper jam"
    plain = run("search", "--kb", str(SHIPPED_ARTICLES), "--json", question)
    assert plain == run("search", "--kb", str(SHIPPED_ARTICLES), "--json", "--lexical", question)
    monkeypatch.setenv("FRONTDESK_KB_SEMANTIC", "auto")
    expected = "(semantic + lexical)" if semantic.available() else "(lexical)"
    assert expected in run("index", "--kb", str(folder))
    if semantic.available():
        plain = run("search", "--kb", str(SHIPPED_ARTICLES), "--json", question)
        assert plain == run("search", "--kb", str(SHIPPED_ARTICLES), "--json", "--semantic", question)
