"""Histories longer than ``max_batch_events`` are scored in pieces that carry the model's state: the same scores
as one pass (bundle and checkpoint), every model call within the budget, bad rows still quarantined."""

from pathlib import Path

import polars as pl
import pytest

from latte_vt.cli import main
from latte_vt.predict import TransactionScorer

BUDGET = 16


def long_entity_log(source: Path, out: Path) -> tuple[Path, int]:
    """The synthetic log with its first twelve accounts merged into one account "LONG" (hundreds of events, time
    order kept) and three bad rows of it appended, as Parquet; and the number of good "LONG" events."""
    frame = pl.read_parquet(source)
    first = frame["account_id"].unique(maintain_order=True).head(12)
    merged = pl.when(pl.col("account_id").is_in(first.implode())).then(pl.lit("LONG")).otherwise("account_id")
    frame = frame.with_columns(merged.alias("account_id"))
    long = frame.filter(pl.col("account_id") == "LONG")
    bad = long.head(3).with_columns(
        pl.Series("amount", [None, 1.0, 2.0], dtype=pl.Float64),  # null_amount
        pl.Series("account_id", ["LONG", None, "LONG"]),  # null_entity
        pl.Series("event_id", ["bad-1", "bad-2", long["event_id"][0]]),  # the last repeats an event id
    )
    pl.concat([frame, bad]).write_parquet(out)
    return out, long.height


def record_calls(scorer: TransactionScorer) -> list[tuple[str, int, int]]:
    """Wrap the scorer's model calls to record (kind, batch, time) of each."""
    calls: list[tuple[str, int, int]] = []
    logits, piece = scorer.model.logits, scorer.model.piece_logits

    def whole(cat, num, mask):
        calls.append(("batch", *cat.shape[:2]))
        return logits(cat, num, mask)

    def pieces(cat, num, states):
        calls.append(("piece", *cat.shape[:2]))
        return piece(cat, num, states)

    scorer.model.logits, scorer.model.piece_logits = whole, pieces
    return calls


def pieces_equal_one_pass(model: Path, log: Path, long_events: int, tmp_path: Path) -> None:
    whole = TransactionScorer(model)
    one_pass = whole.score(log, rejects_path=tmp_path / "whole.rejects.parquet")
    pieced = TransactionScorer(model, max_batch_events=BUDGET)
    calls = record_calls(pieced)
    in_pieces = pieced.score(log, rejects_path=tmp_path / "pieces.rejects.parquet")

    assert long_events > 10 * BUDGET
    assert in_pieces["event_id"].equals(one_pass["event_id"]) and in_pieces.height == pieced.last_report.accepted
    assert (in_pieces["score"] - one_pass["score"]).abs().max() <= 1e-5
    assert all(b * t <= BUDGET for _, b, t in calls)  # no model call over the budget, however long the history
    pieces = [t for kind, _, t in calls if kind == "piece"]
    assert sum(pieces) >= long_events and len(pieces) >= long_events // BUDGET
    long = in_pieces.filter(pl.col("entity") == "LONG")
    assert long.height == long_events and long["time"].is_sorted()  # the repeated id: its first row is kept

    rejects = pl.read_parquet(tmp_path / "pieces.rejects.parquet")
    assert sorted(rejects["reject_reason"]) == ["duplicate_event_id", "null_amount", "null_entity"]
    assert rejects.equals(pl.read_parquet(tmp_path / "whole.rejects.parquet"))
    report = pieced.last_report
    assert report.accepted + report.rejected == report.input_rows == pl.read_parquet(log).height
    assert pieced.stages.seconds["model"] > 0 and pieced.stages.seconds["read_validate"] > 0


def test_bundle_pieces_equal_one_pass(transaction_bundle, tmp_path):
    log, long_events = long_entity_log(transaction_bundle.parent / "data" / "events.parquet", tmp_path / "long.parquet")
    pieces_equal_one_pass(transaction_bundle, log, long_events, tmp_path)


def test_checkpoint_pieces_equal_one_pass_and_the_bundle(tx_checkpoints, tx_data, tmp_path, capsys):
    log, long_events = long_entity_log(tx_data, tmp_path / "long.parquet")
    ckpt = tx_checkpoints["python"]  # local mix and recency: both kinds of carried state
    pieces_equal_one_pass(ckpt, log, long_events, tmp_path)

    assert main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "bundle")]) == 0
    scores = {}
    for flag, model in (("--checkpoint", ckpt), ("--bundle", tmp_path / "bundle")):
        out = tmp_path / flag.strip("-") / "scores.parquet"
        capsys.readouterr()
        args = ["score", str(log), flag, str(model), "--output", str(out), "--max-batch-events", str(BUDGET)]
        assert main(args) == 0
        printed = capsys.readouterr().out
        assert "3 rejected" in printed and "time by stage: read_validate" in printed and "model" in printed
        scores[flag] = pl.read_parquet(out)
    torch_scores, onnx_scores = scores["--checkpoint"], scores["--bundle"]
    assert torch_scores["event_id"].equals(onnx_scores["event_id"])
    assert (torch_scores["score"] - onnx_scores["score"]).abs().max() <= 1e-5


@pytest.mark.parametrize("budget", [0, -3])
def test_a_budget_below_one_is_refused(tmp_path, capsys, budget):
    args = ["score", str(tmp_path / "x.parquet"), "--bundle", str(tmp_path), "--output", str(tmp_path / "o.parquet")]
    assert main([*args, "--max-batch-events", str(budget)]) != 0
    assert "--max-batch-events must be at least 1" in capsys.readouterr().err
