"""The semantic ranker (MiniLM through onnxruntime): skipped, with the reason, without its model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import semantic
from kb.articles import load_articles
from kb.cli import kb as kb_command
from kb.search import KnowledgeBase

SHIPPED = Path(__file__).resolve().parents[2] / "kb" / "articles"

pytestmark = [
    pytest.mark.semantic,
    pytest.mark.skipif(
        not semantic.available(),
        reason="the semantic model is not installed (requirements.txt + requirements-model.txt)",
    ),
]

PARAPHRASES = [
    ("someone stole my work phone", "lost-device"),
    ("my vpn will not connect at the hotel", "vpn-troubleshooting"),
    ("nobody can hear me on calls", "call-audio"),
    ("I clicked a dodgy link in an email", "phishing-report"),
    ("where do I find the key that unlocks my encrypted drive", "bitlocker-recovery"),
    ("my spreadsheet was overwritten by a colleague", "file-restore"),
]
OFF_TOPIC = ["what's the capital of France", "my cat is sick", "is it going to rain today", "order pizza"]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.build(load_articles(SHIPPED), semantic=True)


def test_model_and_tokenizer_come_from_the_installed_packages(kb: KnowledgeBase) -> None:
    for path in (semantic.model_path(), semantic.tokenizer_path()):
        assert "site-packages" in path.parts or "dist-packages" in path.parts
    assert semantic.model_path().parent.name == semantic.MODEL_PACKAGE
    assert semantic.tokenizer_path().parts[-3] == semantic.TOKENIZER_PACKAGE
    assert kb.semantic and "torch" not in sys.modules and "sentence_transformers" not in sys.modules


def test_a_model_file_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    altered = tmp_path / "model.onnx"
    altered.write_bytes(semantic.model_path().read_bytes()[:-1] + b"\0")
    with pytest.raises(semantic.ModelError, match="sha256"):
        semantic.OnnxModel(model=altered)


def test_long_texts_are_not_cut_at_the_tokenizer_files_128() -> None:
    model = semantic.Encoder.shared()._model
    text = " ".join(f"word{i}" for i in range(300))
    assert model.token_count(text) == semantic.MAX_TOKENS == 256
    # Padding is per batch: a short text embeds the same alone and next to a long one.
    alone = model.encode(["printer jam"])[0]
    together = model.encode(["printer jam", text])[0]
    assert float(alone @ together) > 0.9999


def test_cache_keys_name_the_model_file() -> None:
    from kb.index import cache_file

    assert semantic.MODEL_SHA256[:16] in semantic.MODEL_ID
    assert cache_file(SHIPPED, True) != cache_file(SHIPPED, False)


def test_embeddings_are_unit_length_and_cached(kb: KnowledgeBase) -> None:
    encoder = semantic.Encoder.shared()
    first = encoder.encode(["reset my password", "printer jam"])
    again = encoder.encode(["printer jam"])
    assert first.shape == (2, semantic.DIMENSIONS)
    assert abs(float((first**2).sum(axis=1)[0]) - 1.0) < 1e-4
    assert (again[0] == first[1]).all()


@pytest.mark.parametrize(("query", "expected"), PARAPHRASES)
def test_a_paraphrase_is_answered_with_its_article(kb: KnowledgeBase, query: str, expected: str) -> None:
    result = kb.search(query)
    assert result.answer is not None and result.answer.article.id == expected


@pytest.mark.parametrize("query", OFF_TOPIC)
def test_off_topic_questions_get_no_answer(kb: KnowledgeBase, query: str) -> None:
    assert kb.search(query).answer is None


@pytest.mark.parametrize("query", ["my laptop won't turn on", "my laptop wont turn on at all"])
def test_a_symptom_no_article_answers_gets_none_when_the_rankers_disagree(
    kb: KnowledgeBase, query: str
) -> None:
    # MiniLM finds the BitLocker article closest ("laptop", starting up), BM25 another one: a disagreement
    # must clear the stricter bar, which a near miss does not.
    ranking = kb.rank(query)
    assert ranking.candidates[0].index != ranking.lexical_top
    assert ranking.candidates[0].confidence < kb.confidence_model.disagreement_threshold
    assert kb.search(query).answer is None


@pytest.mark.parametrize("query", ["ok", "thanks", "cool", "okay cool", "👍"])
def test_acknowledgements_get_no_article(kb: KnowledgeBase, query: str) -> None:
    assert kb.search(query).answer is None


def test_exclude_gives_the_next_best_if_good_enough(kb: KnowledgeBase) -> None:
    query = "my vpn will not connect at the hotel"
    first = kb.search(query)
    second = kb.search(query, exclude={"vpn-troubleshooting"})
    assert second.hits[0].article.id == first.hits[1].article.id == "vpn-setup"
    assert kb.search("someone stole my work phone", exclude={"lost-device"}).answer is None


def test_extra_questions_teach_a_paraphrase(kb: KnowledgeBase) -> None:
    query = "the boardroom telly is black"
    assert kb.search(query).answer is None
    learned = kb.with_learning({"meeting-rooms": ["the TV in the boardroom shows nothing"]}, {})
    result = learned.search(query)
    assert result.answer is not None and result.answer.article.id == "meeting-rooms"


def test_cli_semantic_json_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    result = CliRunner().invoke(
        kb_command,
        ["search", "--kb", str(SHIPPED), "--json", "--semantic"],
        input="someone stole my work phone\n",
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["answer"] == "lost-device" and record["results"][0]["id"] == "lost-device"


def test_one_model_per_process_for_kb_and_intents_and_no_progress_bars(tmp_path: Path) -> None:
    code = f"""
import sys
import kb.semantic as s
loads = []
original = s.load_model
s.load_model = lambda: loads.append(1) or original()
from kb.articles import load_articles
from kb.search import KnowledgeBase
from kb.intent import classify_message
kb = KnowledgeBase.build(load_articles({str(SHIPPED)!r}), semantic=True)
kb.search("my vpn will not connect at the hotel")
assert classify_message("I forgot my password", semantic=True).intent == "reset_password"
assert loads == [1], loads
assert "torch" not in sys.modules and "sentence_transformers" not in sys.modules
"""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "it/s" not in done.stderr and "Batches" not in done.stderr and "%|" not in done.stderr
