"""`vangnet context chats train|evaluate|scan`: the chat indicators on files, before or
without importing them (`vangnet.context.chats`; docs/context-chats.md)."""

from __future__ import annotations

import os
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from vangnet.cli.output import console, print_json, user_errors
from vangnet.config import get_settings
from vangnet.errors import NotFoundError

chats_app = typer.Typer(
    help="Chat indicators: scan chat files, train and evaluate the chat classifier.",
    no_args_is_help=True,
)


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file")
    return path


def _zone(name: str | None) -> tzinfo | None:
    """``--timezone``: an IANA zone for times written without an offset."""
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"unknown time zone {name!r}", param_hint="--timezone") from None


TIMEZONE_HELP = "IANA zone (e.g. Asia/Manila) of times written without an offset."


def _line(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True, markup=False)


@chats_app.command("train")
def train_command(
    labelled: Path = typer.Argument(..., metavar="LABELLED.jsonl", help="Labelled messages."),
    out: Path = typer.Option(..., "--out", help="Where to write the model (JSON)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the solver."),
    timezone: str | None = typer.Option(None, "--timezone", help=TIMEZONE_HELP),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Train the chat classifier on labelled conversations and write it as JSON (never a
    pickle): TF-IDF word and character n-grams plus the lexicon and behavioural features,
    logistic regression, one prediction per conversation.

    LABELLED.jsonl: one message a line (conversation, sender, at with offset, text;
    optional ref, recipients, platform, language) with `label` 1 or 0 on at least one
    message of each conversation (see docs/context-chats.md). Conversations without a label
    are counted and left out.

    Exit code 4 when the file does not exist; 6 for a bad line (every one named), fewer than
    2 conversations of either label, or a bad lexicon or rules file (nothing written).
    """
    from vangnet.context.chats import classifier
    from vangnet.context.chats.analysis import ChatModel
    from vangnet.context.chats.files import read_chat_file
    from vangnet.context.chats.lexicon import load_lexicon
    from vangnet.context.chats.rules import load_rules

    with user_errors(as_json=as_json):
        settings = get_settings()
        chat = read_chat_file(_existing(labelled), labelled=True, timezone=_zone(timezone))
        model = ChatModel(
            load_lexicon(settings.context_chat_lexicons), load_rules(settings.context_chat_rules)
        )
        names = list(chat.labels)
        analyses = [model.analyse(c, chat.conversations[c]) for c in names]
        trained = classifier.train(
            analyses,
            [chat.labels[c] for c in names],
            seed=seed,
            lexicon_version=model.version,
            training_sha256=chat.sha256,
        )
        partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
        trained.save(partial)
        partial.replace(out)
    summary = {
        "model": str(out),
        "conversations": len(names),
        "positives": trained.meta["positives"],
        "unlabelled": len(chat.unlabelled),
        "lexicon_version": model.version,
        "training_sha256": chat.sha256,
        "features": len(trained.coef),
    }
    if as_json:
        print_json(summary)
        return
    _line(
        f"trained on {summary['conversations']} conversations ({summary['positives']} labelled 1"
        f", {summary['unlabelled']} unlabelled left out), {summary['features']} features: {out}"
    )


def _print_report(report: dict[str, Any]) -> None:
    _line(
        f"{report['model']} ({report['how']}) at {report['threshold']:.2f}: precision "
        f"{report['precision']:.3f}, recall {report['recall']:.3f}, F1 {report['f1']:.3f} "
        f"(tp {report['tp']}, fp {report['fp']}, fn {report['fn']}, tn {report['tn']})"
    )
    for row in report["thresholds"]:
        _line(
            f"  >= {row['threshold']:.1f}: precision {row['precision']:.3f}, recall "
            f"{row['recall']:.3f} (tp {row['tp']}, fp {row['fp']}, fn {row['fn']}, "
            f"tn {row['tn']})"
        )
    for language, c in report["by_language"].items():
        _line(
            f"  {language}: precision {c['precision']:.3f}, recall {c['recall']:.3f}, F1 "
            f"{c['f1']:.3f} (tp {c['tp']}, fp {c['fp']}, fn {c['fn']}, tn {c['tn']})"
        )


@chats_app.command("evaluate")
def evaluate_command(
    labelled: Path = typer.Argument(..., metavar="LABELLED.jsonl", help="Labelled messages."),
    model_file: Path | None = typer.Option(
        None, "--model", help="A trained model (JSON); default: cross-validate one."
    ),
    folds: int = typer.Option(5, "--folds", min=2, max=20, help="Cross-validation folds."),
    seed: int = typer.Option(0, "--seed", help="Seed of the folds and the solver."),
    timezone: str | None = typer.Option(None, "--timezone", help=TIMEZONE_HELP),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Precision, recall, F1 and the confusion counts of the lexicon model (its rules
    threshold) and of the trained model (the --model given, else cross-validated over
    --folds stratified folds), at thresholds 0.1-0.9, and per language where the messages
    carry `language`. Positive: score >= threshold; a ratio over 0 is reported as 0.

    Exit code 4 when a file does not exist; 6 for a bad line, a bad model file, or too
    few labelled conversations for the folds.
    """
    from vangnet.context.chats.analysis import ChatModel
    from vangnet.context.chats.classifier import TrainedModel
    from vangnet.context.chats.evaluation import evaluate
    from vangnet.context.chats.files import read_chat_file
    from vangnet.context.chats.lexicon import load_lexicon
    from vangnet.context.chats.rules import load_rules

    with user_errors(as_json=as_json):
        settings = get_settings()
        chat = read_chat_file(_existing(labelled), labelled=True, timezone=_zone(timezone))
        trained = TrainedModel.load(_existing(model_file)) if model_file is not None else None
        model = ChatModel(
            load_lexicon(settings.context_chat_lexicons), load_rules(settings.context_chat_rules)
        )
        names = list(chat.labels)
        analyses = [model.analyse(c, chat.conversations[c]) for c in names]
        reports = evaluate(
            analyses,
            [chat.labels[c] for c in names],
            [chat.languages.get(c) for c in names],
            lexicon_threshold=model.rules.threshold,
            lexicon_version=model.version,
            model=trained,
            folds=folds,
            seed=seed,
        )
    result: dict[str, Any] = {
        "conversations": len(names),
        "positives": sum(chat.labels.values()),
        "unlabelled": len(chat.unlabelled),
        "models": [r.as_json() for r in reports],
    }
    if as_json:
        print_json(result)
        return
    _line(
        f"{result['conversations']} labelled conversations ({result['positives']} positive, "
        f"{result['unlabelled']} unlabelled left out)"
    )
    for report in result["models"]:
        _print_report(report)


@chats_app.command("scan")
def scan_command(
    messages: Path = typer.Argument(..., metavar="MESSAGES.jsonl", help="Chat messages."),
    timezone: str | None = typer.Option(None, "--timezone", help=TIMEZONE_HELP),
    as_json: bool = typer.Option(False, "--json", help="One JSON object a conversation."),
) -> None:
    """Score every conversation of a messages file (the import schema: ref, conversation,
    at with offset, sender, text, ...) and show its reasons, before importing it. Uses the
    trained model too when the setting context_chat_model names one. Nothing is stored.

    Exit code 4 when the file does not exist; 6 for a bad line (every one named).
    """
    from vangnet.context.chats.evaluator import ChatsEvaluator, conversation_reasons, model_reasons
    from vangnet.context.chats.files import read_chat_file

    with user_errors(as_json=as_json):
        evaluator = ChatsEvaluator.from_settings(get_settings())
        chat = read_chat_file(_existing(messages), labelled=False, timezone=_zone(timezone))
        analyses = [evaluator.model.analyse(c, ms) for c, ms in chat.conversations.items()]
    rules = evaluator.model.rules
    for analysis in sorted(analyses, key=lambda a: (-a.score.score, a.conversation)):
        reasons = conversation_reasons(analysis, rules)
        if evaluator.trained is not None:
            reasons += model_reasons([analysis], evaluator.trained)
        f = analysis.features
        row = {
            "conversation": analysis.conversation,
            "score": round(analysis.score.score, 4),
            "counts": analysis.score.counts,
            "flagged": analysis.score.score >= rules.threshold,
            "explanation": analysis.score.explain(),
            "messages": f.messages,
            "initiator": f.initiator,
            "categories": {c.value: n for c, n in sorted(f.category_counts.items())},
            "reasons": [r.as_json() for r in reasons],
        }
        if as_json:
            print_json(row)
            continue
        mark = "FLAGGED " if row["flagged"] else ""
        _line(f"{mark}{analysis.conversation}: {row['explanation']}")
        for reason in reasons:
            _line(
                f"  {reason.indicator} {reason.account} ({reason.role.value}) {reason.weight:.2f}"
            )
