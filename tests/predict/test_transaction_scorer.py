"""``TransactionScorer`` on a checkpoint (and `latte-vt score`): causality, batch == alone, every event scored,
rejects kept, two layouts."""

import numpy as np
import polars as pl
import pytest
import torch
import yaml

from latte_vt.backbone import LatteConfig
from latte_vt.cli import main
from latte_vt.data.synthetic.transactions import TransactionSynthConfig, write_transactions
from latte_vt.data.transactions import FittedPreprocessor, load_events, load_schema, split_cutoffs
from latte_vt.predict import TransactionScorer
from latte_vt.tasks.transactions import TransactionScoringTask

SCHEMA = "configs/transactions/schema/synthetic.yaml"


def save_checkpoint(events_path, out):
    """A random-weight TransactionScoringTask checkpoint with the data_info TransactionDataModule records."""
    import lightning

    schema = load_schema(SCHEMA)
    events = load_events(events_path, schema).events
    pre = FittedPreprocessor.from_schema(schema, min_freq=2).fit(events, split_cutoffs(events)[0])
    info = {
        "vocab_sizes": pre.vocab_sizes,
        "num_numeric": len(pre.num_columns),
        "preprocessor": pre.to_dict(),
        "schema": schema.to_dict(),
    }
    torch.manual_seed(0)
    task = TransactionScoringTask(
        encoder=LatteConfig(dim=32, depth=2, heads=2, latents=8, chunk_size=16), data_info=info
    )
    ckpt = {
        "state_dict": task.state_dict(),
        "hyper_parameters": dict(task.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    torch.save(ckpt, out)
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("score")
    events = write_transactions(root / "data", TransactionSynthConfig(accounts=40, days=20, seed=5), "parquet")
    ckpt = save_checkpoint(events, root / "model.ckpt")
    return {"events": events, "ckpt": ckpt, "scorer": TransactionScorer(ckpt)}


def encoded_frame(setup, frame=None):
    return setup["scorer"].encode(setup["events"] if frame is None else frame)


def scores_of(setup, encoded, max_batch_events=1 << 16):
    return TransactionScorer(setup["ckpt"], max_batch_events).probabilities(encoded)


def test_batched_scores_equal_each_entity_alone(setup):
    encoded = encoded_frame(setup)
    batched = scores_of(setup, encoded)
    alone = scores_of(setup, encoded, max_batch_events=1)  # one entity per batch, no padding
    assert np.isfinite(batched).all() and batched.std() > 0
    np.testing.assert_allclose(batched, alone, atol=2e-5)


def test_later_events_never_change_earlier_scores(setup, tmp_path):
    frame = pl.read_parquet(setup["events"])
    cut = frame["timestamp"].sort()[frame.height // 2]
    later = pl.col("timestamp") > cut
    changed = frame.with_columns(
        amount=pl.when(later).then(pl.col("amount") * 37 + 5).otherwise("amount"),
        merchant_id=pl.when(later).then(pl.lit("m_other")).otherwise("merchant_id"),
        device_id=pl.when(later).then(pl.lit("d_new")).otherwise("device_id"),
    )
    changed.write_parquet(tmp_path / "changed.parquet")
    a, b = encoded_frame(setup), encoded_frame(setup, tmp_path / "changed.parquet")
    sa, sb = scores_of(setup, a), scores_of(setup, b)
    early = (a["time"] <= cut).to_numpy()
    assert (a["event_id"] == b["event_id"]).all()
    np.testing.assert_allclose(sa[early], sb[early], atol=2e-5)
    assert np.abs(sa[~early] - sb[~early]).max() > 1e-3  # the change is visible where it may be


def test_every_accepted_event_scored_and_rejects_kept(setup, tmp_path):
    frame = pl.read_parquet(setup["events"]).with_columns(pl.col("amount").cast(pl.String))
    frame = frame.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S%.f"))
    bad = frame.head(3).with_columns(
        pl.Series("amount", ["n/a", "1.0", "2.0"]),
        pl.Series("account_id", ["a1", None, "a1"]),
        pl.Series("event_id", ["x1", "x2", frame["event_id"][10]]),  # the last one duplicates an event id
    )
    pl.concat([frame, bad]).write_csv(tmp_path / "in.csv")
    scorer = setup["scorer"]
    scores = scorer.score(tmp_path / "in.csv", tmp_path / "rej.csv")
    assert scores.height == scorer.last_report.accepted == frame.height
    assert scores.columns == ["event_id", "entity", "time", "score"]
    assert scores["event_id"].n_unique() == frame.height
    assert scores["score"].is_between(0, 1).all()
    rejects = pl.read_csv(tmp_path / "rej.csv")
    assert sorted(rejects["reject_reason"].to_list()) == ["duplicate_event_id", "null_entity", "unparseable_amount"]


def test_another_layout_by_schema_gives_the_same_scores(setup, tmp_path):
    frame = pl.read_parquet(setup["events"])
    fields = ("merchant_id", "mcc", "region", "channel", "device_id")  # field columns keep their training names
    other = frame.select(
        *fields,
        trans_num=pl.col("event_id"),
        cc_num=pl.col("account_id"),
        trans_date_trans_time=pl.col("timestamp").dt.strftime("%Y-%m-%d %H:%M:%S%.f"),
        amt=pl.format("${}", pl.col("amount").round(2)),
    )
    other.write_csv(tmp_path / "other.csv")
    layout = {
        "entity": "cc_num",
        "time": {"column": "trans_date_trans_time", "format": "%Y-%m-%d %H:%M:%S%.f"},
        "amount": "amt",
        "categorical": list(fields),
        "event_id": "trans_num",
        "label": None,
        "on_error": "fail",
    }
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(layout))
    rounded = frame.with_columns(pl.col("amount").round(2))
    rounded.write_parquet(tmp_path / "rounded.parquet")
    a = setup["scorer"].score(tmp_path / "rounded.parquet")
    other_layout = TransactionScorer(setup["ckpt"])
    other_layout.schema = load_schema(tmp_path / "other.yaml")
    b = other_layout.score(tmp_path / "other.csv")
    assert a["event_id"].to_list() == b["event_id"].to_list()
    np.testing.assert_allclose(a["score"].to_numpy(), b["score"].to_numpy(), atol=2e-5)


def test_score_cli_writes_every_event_and_the_rejects(tmp_path, capsys):
    events = write_transactions(tmp_path / "data", TransactionSynthConfig(accounts=30, days=15, seed=2), "csv")
    ckpt = save_checkpoint(events, tmp_path / "m.ckpt")
    frame = pl.read_csv(events, infer_schema=False)
    bad = frame.head(2).with_columns(pl.Series("timestamp", ["soon", "2024-13-45T00:00:00"]))
    pl.concat([frame, bad]).write_csv(tmp_path / "in.csv")
    out = tmp_path / "out" / "scores.parquet"
    assert main(["score", str(tmp_path / "in.csv"), "--checkpoint", str(ckpt), "--output", str(out)]) == 0
    scores = pl.read_parquet(out)
    assert scores.height == frame.height and set(scores["event_id"]) == set(frame["event_id"])
    assert scores["score"].is_between(0, 1).all() and scores["time"].dtype == pl.Datetime("us", "UTC")
    rejects = pl.read_parquet(tmp_path / "out" / "scores.rejects.parquet")
    assert rejects["reject_reason"].to_list() == ["unparseable_time", "unparseable_time"]
    assert rejects["source_row"].to_list() == [frame.height, frame.height + 1]
    assert "2 rejected" in capsys.readouterr().out


def test_score_cli_errors(tmp_path, capsys):
    assert main(["score", "x.csv", "--output", str(tmp_path / "s.parquet")]) == 2
    assert "exactly one of --checkpoint" in capsys.readouterr().err
    assert (
        main(["score", "x.csv", "--checkpoint", str(tmp_path / "no.ckpt"), "--output", str(tmp_path / "s.parquet")])
        == 2
    )
    assert "checkpoint not found" in capsys.readouterr().err
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    args = ["score", "x.csv", "--checkpoint", str(tmp_path / "junk.ckpt"), "--output", str(tmp_path / "s.parquet")]
    assert main(args) == 2
    assert "junk.ckpt" in capsys.readouterr().err
