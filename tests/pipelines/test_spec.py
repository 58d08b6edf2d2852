"""Job specs: the shipped YAML files load, --set overrides reach nested keys, and every mistake is named."""

from pathlib import Path

import pytest

from latte_vt.pipelines.spec import ClassifyOptions, ScoreOptions, SpecError, load_spec, spec_from_dict

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = {"job": "score-transactions", "input": "events.parquet", "output": "out", "model": {"bundle": "b"}}


def test_shipped_specs_load_with_their_documented_defaults():
    score = load_spec(ROOT / "pipelines" / "score_transactions.yaml")
    assert score.job == "score-transactions" and score.engine == "local"
    assert score.options == ScoreOptions() and score.model.bundle == "runs/quickstart/transactions/bundle"
    videos = load_spec(ROOT / "pipelines" / "classify_videos.yaml")
    assert videos.job == "classify-videos" and videos.options == ClassifyOptions()
    assert videos.input == ("runs/quickstart/video/data/videos",)


def test_overrides_set_nested_keys_with_yaml_values_and_round_trip():
    spec = spec_from_dict(
        MINIMAL,
        ["engine=ray", "ray.address=auto", "options.shards=8", "model.threads=2", "input=[a.csv, b.parquet]"],
    )
    assert spec.engine == "ray" and spec.ray.address == "auto" and spec.ray.num_cpus is None
    assert spec.options.shards == 8 and spec.model.threads == 2 and spec.input == ("a.csv", "b.parquet")
    assert spec_from_dict(spec.to_dict()) == spec
    swapped = spec_from_dict(MINIMAL, ["model.bundle=null", "model.checkpoint=m.ckpt"])
    assert swapped.model.checkpoint == "m.ckpt" and swapped.model.path == "m.ckpt"
    assert spec_from_dict(MINIMAL, ["ray.cpus_per_shard=2"]).ray.cpus_per_shard == 2.0  # an int for a float
    assert spec.absolute().output == str(Path("out").absolute())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.bundel=x"], r"unknown key model\.bundel \(known model keys: bundle, checkpoint"),
        (["options.shard_size=3"], r"unknown key options\.shard_size \(known score-transactions options keys"),
        (["workres=2"], r"unknown key workres \(known top-level keys: job, input"),
        (["options.shards=0"], r"options\.shards must be >= 1, got 0"),
        (["workers=two"], r"workers must be int, got str 'two'"),
        (["overwrite=1"], r"overwrite must be bool"),
        (["model.checkpoint=c.ckpt"], r"model needs exactly one of `bundle` or `checkpoint`"),
        (["model.precision=fp16"], r"model\.precision must be one of"),
        (["engine=spark"], r"engine must be one of \('local', 'ray'\), got 'spark'"),
        (["job=train"], r"job must be one of"),
        (["input=[1, 2]"], r"input must be a string or a list of strings"),
        (["output.dir=x"], r"--set output\.dir=x: output is a value, not a section"),
        (["shards"], r"--set needs key=value"),
        (["model=m.onnx"], r"model must be a mapping of ModelSpec keys"),
        (["output=null"], r"output must be str, got NoneType"),
    ],
)
def test_mistakes_are_named(overrides, message):
    with pytest.raises(SpecError, match=message):
        spec_from_dict(MINIMAL, overrides)


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(SpecError, match="job spec not found"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("job: score-transactions\ninput: [unclosed\n")
    with pytest.raises(SpecError, match=r"bad\.yaml: not valid YAML"):
        load_spec(bad)
    incomplete = tmp_path / "incomplete.yaml"
    incomplete.write_text("job: classify-videos\ninput: clips/\nmodel: {bundle: b}\n")
    with pytest.raises(SpecError, match=r"incomplete\.yaml: missing key output"):
        load_spec(incomplete)
