"""`vangnet context chats train|evaluate|scan` as a user runs them: a model trained on a
labelled file and written as JSON, the figures of both models (cross-validated and with the
model file), conversations scanned with their reasons (the trained model's too when the
setting names it), and bad input refused with its exit code and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_invoke import invoke, json_lines
from context.chat_samples import conversations, write_jsonl
from vangnet.errors import ExitCode


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("chat-cli")
    rows = conversations(36, seed=11)
    return {
        "labelled": write_jsonl(folder / "labelled.jsonl", rows),
        "messages": write_jsonl(folder / "messages.jsonl", rows, labels=False),
    }


def test_train_then_evaluate_with_the_model(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "model.json"
    [summary] = json_lines(
        "context", "chats", "train", str(files["labelled"]), "--out", str(out), "--json"
    )
    assert summary["conversations"] == 36 and summary["positives"] == 12
    assert summary["unlabelled"] == 0 and summary["model"] == str(out)
    model = json.loads(out.read_text(encoding="utf-8"))
    assert model["format"] == "vangnet-chat-model"
    assert model["training_sha256"] == summary["training_sha256"]
    [result] = json_lines(
        "context", "chats", "evaluate", str(files["labelled"]), "--model", str(out), "--json"
    )
    lexicon, trained = result["models"]
    assert (lexicon["model"], trained["model"], trained["how"]) == (
        "lexicon",
        "trained",
        "model file",
    )
    for report in (lexicon, trained):
        assert report["tp"] + report["fp"] + report["fn"] + report["tn"] == 36
        assert set(report["by_language"]) == {"en", "nl", "tl", "ceb"}
        assert report["thresholds"][0]["threshold"] == 0.1
    assert trained["recall"] >= 0.9  # on its own training data
    text = invoke("context", "chats", "evaluate", str(files["labelled"]), "--model", str(out))
    assert "lexicon (rules) at 0.50: precision" in text.stdout
    assert "trained (model file)" in text.stdout and "  tl: precision" in text.stdout


def test_evaluate_cross_validates_without_a_model(files: dict[str, Path]) -> None:
    [result] = json_lines(
        "context", "chats", "evaluate", str(files["labelled"]), "--folds", "3", "--json"
    )
    assert result["models"][1]["how"] == "3-fold cross-validation"
    assert result["models"][0]["recall"] >= 0.8


def test_scan_shows_reasons_and_uses_a_configured_model(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = json_lines("context", "chats", "scan", str(files["messages"]), "--json")
    assert len(rows) == 36
    assert rows == sorted(rows, key=lambda r: (-r["score"], r["conversation"]))
    flagged = [r for r in rows if r["flagged"]]
    assert flagged and all(r["reasons"] for r in flagged)
    reason = flagged[0]["reasons"][0]
    assert reason["indicator"].startswith("chat_") and reason["rows"][0]["kind"] == "messages"
    assert not any(x["indicator"] == "chat_model" for r in rows for x in r["reasons"])
    out = tmp_path / "model.json"
    invoke("context", "chats", "train", str(files["labelled"]), "--out", str(out))
    monkeypatch.setenv("VANGNET_CONTEXT_CHAT_MODEL", str(out))
    rows = json_lines("context", "chats", "scan", str(files["messages"]), "--json")
    assert any(x["indicator"] == "chat_model" for r in rows for x in r["reasons"])
    text = invoke("context", "chats", "scan", str(files["messages"])).stdout
    assert "FLAGGED " in text and "chat_model" in text


def test_bad_input_is_refused_and_nothing_is_written(
    files: dict[str, Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"conversation": "c"}\nnot json\n', encoding="utf-8")
    out = tmp_path / "model.json"
    result = invoke(
        "context", "chats", "train", str(bad), "--out", str(out), code=ExitCode.INVALID_DATA
    )
    said = " ".join(result.output.split())
    assert "line 1: missing 'at'" in said and "line 2:" in said
    assert not out.exists()
    invoke("context", "chats", "scan", str(bad), code=ExitCode.INVALID_DATA)
    missing = tmp_path / "missing.jsonl"
    invoke("context", "chats", "evaluate", str(missing), code=ExitCode.NOT_FOUND)
    one_sided = write_jsonl(tmp_path / "one.jsonl", conversations(3, seed=1)[:4])
    result = invoke(
        "context", "chats", "train", str(one_sided), "--out", str(out), code=ExitCode.INVALID_DATA
    )
    assert "at least 2 conversations" in " ".join(result.output.split()) and not out.exists()
    not_a_model = tmp_path / "x.json"
    not_a_model.write_text("[]", encoding="utf-8")
    invoke(
        "context",
        "chats",
        "evaluate",
        str(files["labelled"]),
        "--model",
        str(not_a_model),
        code=ExitCode.INVALID_DATA,
    )
    invoke("context", "chats", "evaluate", str(files["labelled"]), "--folds", "1", code=2)


def test_times_without_offset_need_a_timezone(tmp_path: Path) -> None:
    row = {"ref": "r1", "conversation": "c", "sender": "a", "at": "2026-11-03T22:41:05"}
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({**row, "text": "how much for a live show?"}) + "\n")
    result = invoke("context", "chats", "scan", str(path), code=ExitCode.INVALID_DATA)
    assert "no --timezone given" in " ".join(result.output.split())
    [scanned] = json_lines(
        "context", "chats", "scan", str(path), "--timezone", "Asia/Manila", "--json"
    )
    assert scanned["categories"] == {"live_show": 1, "price": 1}
    invoke("context", "chats", "scan", str(path), "--timezone", "Mars/Base", code=2)
