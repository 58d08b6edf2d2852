"""``TransactionScorer.score_file`` (what ``latte-vt score`` runs): event files validated, encoded and scored in
pieces, scores written as they come, equal to ``score``'s one pass; bad rows in later pieces still quarantined."""

from pathlib import Path

import polars as pl
import pytest
from test_history_pieces import long_entity_log, record_calls

from latte_vt.cli import main
from latte_vt.predict import TransactionScorer

BUDGET, PIECE = 16, 100  # padded events per model call; events read, encoded and scored at once


def interleaved(log: Path, out: Path) -> Path:
    """The log in time order (entities interleaved, as a day's log arrives), the bad rows in the middle."""
    frame = pl.read_parquet(log)
    good, bad = frame.head(frame.height - 3), frame.tail(3)
    good = good.sort("timestamp")
    pl.concat([good.head(good.height // 2), bad, good.tail(good.height - good.height // 2)]).write_parquet(out)
    return out


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_score_file_in_pieces_equals_one_pass(transaction_bundle, tmp_path, suffix):
    log, long_events = long_entity_log(transaction_bundle.parent / "data" / "events.parquet", tmp_path / "long.parquet")
    log = interleaved(log, tmp_path / "interleaved.parquet")
    one_pass = TransactionScorer(transaction_bundle, max_batch_events=BUDGET)
    expected = one_pass.score(log, rejects_path=tmp_path / "one.rejects.parquet")
    pieced = TransactionScorer(transaction_bundle, max_batch_events=BUDGET)
    calls = record_calls(pieced)
    out = tmp_path / f"scores{suffix}"
    scored = pieced.score_file(log, out, tmp_path / "pieces.rejects.parquet", piece_events=PIECE)

    written = pl.read_parquet(out) if suffix == ".parquet" else pl.read_csv(out, try_parse_dates=True)
    assert scored == written.height == expected.height == pieced.last_report.accepted
    assert written["event_id"].equals(expected["event_id"]) and written["entity"].equals(expected["entity"])
    assert written["time"].equals(expected["time"])
    assert (written["score"] - expected["score"]).abs().max() <= 1e-5
    assert long_events > 2 * PIECE and all(b * t <= BUDGET for _, b, t in calls)
    assert pl.read_parquet(tmp_path / "pieces.rejects.parquet").equals(
        pl.read_parquet(tmp_path / "one.rejects.parquet")
    )
    assert (
        pieced.last_report.by_reason
        == one_pass.last_report.by_reason
        == {
            "null_entity": 1,
            "null_amount": 1,
            "duplicate_event_id": 1,
        }
    )
    assert not list(tmp_path.glob("*.partial"))
    stages = pieced.stages.seconds
    assert stages["read_validate"] > 0 and stages["encode"] > 0 and stages["model"] > 0 and stages["write"] >= 0


def test_checkpoint_score_file_equals_its_one_pass(tx_checkpoints, tx_data, tmp_path):
    log, _ = long_entity_log(tx_data, tmp_path / "long.parquet")
    ckpt = tx_checkpoints["python"]  # local mix and recency: both kinds of carried state
    expected = TransactionScorer(ckpt, max_batch_events=BUDGET).score(log)
    TransactionScorer(ckpt, max_batch_events=BUDGET).score_file(log, tmp_path / "s.parquet", piece_events=PIECE)
    written = pl.read_parquet(tmp_path / "s.parquet")
    assert written["event_id"].equals(expected["event_id"])
    assert (written["score"] - expected["score"]).abs().max() <= 1e-5


def test_a_failure_midway_leaves_no_output(transaction_bundle, tmp_path):
    log = transaction_bundle.parent / "data" / "events.parquet"
    scorer = TransactionScorer(transaction_bundle)
    logits, calls = scorer.model.logits, []

    def failing(cat, num, mask):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("model failed")
        return logits(cat, num, mask)

    scorer.model.logits = failing
    with pytest.raises(RuntimeError, match="model failed"):
        scorer.score_file(log, tmp_path / "scores.parquet", piece_events=PIECE)
    assert list(tmp_path.iterdir()) == []


def test_no_accepted_events_writes_an_empty_scores_file(transaction_bundle, tmp_path):
    log = tmp_path / "bad.parquet"
    frame = pl.read_parquet(transaction_bundle.parent / "data" / "events.parquet").head(5)
    frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("amount")).write_parquet(log)
    scorer = TransactionScorer(transaction_bundle)
    assert scorer.score_file(log, tmp_path / "scores.parquet", tmp_path / "rejects.parquet") == 0
    empty = pl.read_parquet(tmp_path / "scores.parquet")
    assert empty.height == 0 and empty.columns == ["event_id", "entity", "time", "score"]
    assert pl.read_parquet(tmp_path / "rejects.parquet")["reject_reason"].to_list() == ["null_amount"] * 5


def test_cli_scores_in_pieces_and_refuses_a_piece_below_one(transaction_bundle, tmp_path, capsys):
    log, _ = long_entity_log(transaction_bundle.parent / "data" / "events.parquet", tmp_path / "long.parquet")
    out = tmp_path / "scores.parquet"
    args = ["score", str(log), "--bundle", str(transaction_bundle), "--output", str(out)]
    assert main([*args, "--piece-events", str(PIECE), "--max-batch-events", str(BUDGET)]) == 0
    printed = capsys.readouterr().out
    assert "3 rejected" in printed and "time by stage: read_validate" in printed
    assert (tmp_path / "scores.rejects.parquet").is_file()
    expected = TransactionScorer(transaction_bundle, max_batch_events=BUDGET).score(log)
    assert (pl.read_parquet(out)["score"] - expected["score"]).abs().max() <= 1e-5
    assert main([*args, "--piece-events", "0"]) != 0
    assert "--piece-events must be at least 1" in capsys.readouterr().err
