"""score-transactions on the local engine: same scores as the one-shot path, every row scored or rejected
with its reason, a resumed job equals one run, and a folder of another job is refused."""

import json

import polars as pl
import pytest
from pipeline_fixtures import BAD_ROWS, read_parts, score_job

from latte_vt.pipelines import shards as shards_module
from latte_vt.pipelines.runner import run_job
from latte_vt.pipelines.shards import OutputFolderError
from latte_vt.pipelines.spec import spec_from_dict
from latte_vt.runtime import TransactionScorer


def test_bundle_scores_equal_the_one_shot_runtime_and_every_row_is_accounted_for(events, tx_models, tmp_path):
    summary = run_job(score_job(events, {"bundle": str(tx_models.bundle)}, tmp_path / "out", workers=2), progress=False)
    scores = read_parts(tmp_path / "out", "scores")
    one_shot = TransactionScorer(tx_models.bundle).score([events["good"], events["bad"]])
    both = one_shot.join(scores, on="event_id", how="full", suffix="_job")
    assert scores.height == one_shot.height == both.height  # the same events, none missing, none extra
    assert (both["score"] - both["score_job"]).abs().max() < 1e-5
    assert (both["time"] == both["time_job"]).all() and (both["entity"] == both["entity_job"]).all()
    assert scores.columns == ["event_id", "entity", "time", "score", "source_file", "source_row"]

    parts = [pl.read_parquet(p) for p in sorted((tmp_path / "out" / "scores").glob("*.parquet"))]
    assert len(parts) == 4 and all(p.height for p in parts)
    owners = [set(p["entity"]) for p in parts]
    assert sum(len(o) for o in owners) == len(set().union(*owners))  # an entity's history is in one shard
    for part in parts:  # entity, time order inside a shard
        assert part.equals(part.sort("entity", "time", maintain_order=True))

    rejects = read_parts(tmp_path / "out", "rejects").sort("source_row")
    assert dict(zip(rejects["reject_reason"], rejects["source_row"], strict=True)) == BAD_ROWS
    assert set(rejects["source_file"]) == {str(events["bad"])}
    assert rejects["amount"].to_list()[list(BAD_ROWS).index("unparseable_amount")] == "$12.x"  # original values

    total = pl.read_parquet(events["good"]).height + pl.read_csv(events["bad"]).height
    assert (summary.items_in, summary.rows_out, summary.rejected) == (total, scores.height, len(BAD_ROWS))
    assert summary.reasons == dict.fromkeys(BAD_ROWS, 1) and summary.ok and summary.shards_run == 4
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["rows_out"] == scores.height
    assert "3 rejected" in summary.text() and "events/s" in summary.text()


def test_checkpoint_scores_equal_the_one_shot_checkpoint_path(events, tx_models, tmp_path):
    run_job(score_job(events, {"checkpoint": str(tx_models.checkpoint)}, tmp_path / "out", shards=3), progress=False)
    scores = read_parts(tmp_path / "out", "scores")
    one_shot = TransactionScorer(tx_models.checkpoint).score([events["good"], events["bad"]])
    both = one_shot.join(scores, on="event_id", how="full", suffix="_job")
    assert scores.height == one_shot.height == both.height
    assert (both["score"] - both["score_job"]).abs().max() < 1e-5


class Interrupted(BaseException):
    """Stands for Ctrl-C / a killed driver in the middle of a job."""


def test_resume_after_an_interrupted_job_equals_one_run(events, tx_models, tmp_path, monkeypatch):
    model = {"bundle": str(tx_models.bundle)}
    run_job(score_job(events, model, tmp_path / "once", shards=5), progress=False)

    out = tmp_path / "resumed"
    original = shards_module.JobFolder.write_shard
    calls = []

    def interrupted_third_shard(self, shard, rows, rejects, result):
        calls.append(shard.index)
        if len(calls) == 3:  # the part file lands, the marker never does, and a temporary file is left behind
            shards_module.write_atomic(self.part(shard), rows.write_parquet)
            (self.part(shard).parent / f".{shard.name}.parquet.tmp-999").write_bytes(b"half a file")
            raise Interrupted
        return original(self, shard, rows, rejects, result)

    monkeypatch.setattr(shards_module.JobFolder, "write_shard", interrupted_third_shard)
    with pytest.raises(Interrupted):
        run_job(score_job(events, model, out, shards=5), progress=False)
    monkeypatch.setattr(shards_module.JobFolder, "write_shard", original)
    finished = sorted((out / "_done").glob("*.json"))
    assert len(finished) == 2
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "scores").glob("part-*.parquet")}

    summary = run_job(score_job(events, model, out, shards=5), progress=False)
    assert (summary.shards_skipped, summary.shards_run, summary.shards_failed) == (2, 3, 0)
    for path in finished:  # finished shards are not redone
        name = path.with_suffix(".parquet").name
        assert (out / "scores" / name).stat().st_mtime_ns == kept[name]
    assert not list((out / "scores").glob(".*tmp*"))
    for name in ("scores", "rejects"):
        assert read_parts(out, name).equals(read_parts(tmp_path / "once", name))
    assert summary.items_in == run_job(score_job(events, model, tmp_path / "once", shards=5), progress=False).items_in
    assert summary.rejected == len(BAD_ROWS)


def test_a_folder_of_another_job_is_refused_unless_overwrite(events, tx_models, tmp_path):
    model = {"bundle": str(tx_models.bundle)}
    run_job(score_job(events, model, tmp_path / "out", shards=2), progress=False)
    again = run_job(score_job(events, model, tmp_path / "out", shards=2), progress=False)
    assert (again.shards_skipped, again.shards_run) == (2, 0)
    with pytest.raises(OutputFolderError, match="changed: shards"):
        run_job(score_job(events, model, tmp_path / "out", shards=3), progress=False)
    replaced = run_job(score_job(events, model, tmp_path / "out", shards=3, overwrite=True), progress=False)
    assert replaced.shards_run == 3 and len(list((tmp_path / "out" / "scores").glob("*.parquet"))) == 3
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(OutputFolderError, match="not a latte-vt job folder"):
        run_job(score_job(events, model, tmp_path / "mine", overwrite=True), progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_a_failing_shard_is_reported_and_retried_by_the_rerun(events, tx_models, tmp_path):
    strict = tmp_path / "strict.yaml"
    strict.write_text(events["schema"].read_text().replace("on_error: quarantine", "on_error: fail"))
    spec = score_job(events, {"bundle": str(tx_models.bundle)}, tmp_path / "out", shards=3)
    spec = spec_from_dict(spec.to_dict(), [f"options.schema={strict}"])
    summary = run_job(spec, progress=False)
    assert not summary.ok and summary.shards_run == 3 and 1 <= summary.shards_failed < 3
    assert all(f"{events['bad']}: row" in f["error"] for f in summary.failures)  # the first bad row, named
    assert "FAILED shard" in summary.text()
    rerun = run_job(spec, progress=False)
    assert rerun.shards_skipped == 3 - summary.shards_failed
    assert rerun.shards_run == rerun.shards_failed == summary.shards_failed  # the same bad rows fail again
