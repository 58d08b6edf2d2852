"""The README's headline figures are the ones the committed benchmark JSON files give."""

import json
from pathlib import Path

from latte_vt.bench.readme import END, START, headline_block, with_headline
from latte_vt.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_headline_block_matches_the_committed_reports():
    readme = (ROOT / "README.md").read_text()
    assert readme.count(START) == readme.count(END) == 1
    assert with_headline(readme, ROOT / "benchmarks") == readme, "run `latte-vt bench readme` and commit README.md"


def onnx_report(folder: Path, run: dict | None = None) -> Path:
    """The committed ONNX report copied into ``folder`` (with ``run`` as its run record, when given)."""
    folder.mkdir(exist_ok=True)
    payload = json.loads((ROOT / "benchmarks" / "onnx-cpu.json").read_text())
    (folder / "onnx-cpu.json").write_text(json.dumps(payload if run is None else payload | {"run": run}))
    return folder


def test_only_reports_with_a_json_get_a_bullet_naming_their_run(tmp_path):
    run = {
        "date": "2026-12-07T21:09:19+00:00", "command": "latte-vt bench onnx", "version": "0.1.0",
        "git_commit": "0ae89984b8d082c174c53808aaaf13348414de50", "git_dirty": True,
        "load_average_at_start": [2.25, 1.0, 0.5], "load_average_at_end": [0.5, 0.5, 0.5],
    }  # fmt: skip
    lines = headline_block(onnx_report(tmp_path, run)).splitlines()
    assert lines[0] == START and lines[-1] == END
    text = " ".join(line.strip() for line in lines[1:-1])
    assert text.startswith(
        "* ONNX / streaming (run of 2026-12-07, commit 0ae8998 (dirty tree), 1-min load 2.2 at the start, 0.5 at the "
        "end: a loaded machine): `step.onnx` "
    )
    assert "events/s re-encoding a 128-event window" in text
    assert sum(line.startswith("* ") for line in lines) == 1  # the other reports have no JSON here: no bullet
    assert headline_block(tmp_path / "nothing") == f"{START}\n{END}"


def test_check_prints_the_diff_and_exits_1_then_the_command_rewrites_only_the_block(tmp_path, capsys):
    bench = onnx_report(tmp_path / "bench")
    readme = tmp_path / "README.md"
    stale = f"# Title\n\nprose before\n\n{START}\n* ONNX: 99k events/s\n{END}\n\nprose after\n"
    readme.write_text(stale)
    args = ["bench", "readme", "--readme", str(readme), "--benchmarks", str(bench)]
    assert main([*args, "--check"]) == 1
    diff = capsys.readouterr().out
    assert "-* ONNX: 99k events/s" in diff and "+* ONNX / streaming (run of " in diff
    assert readme.read_text() == stale  # --check changes nothing
    assert main(args) == 0
    assert main([*args, "--check"]) == 0
    fresh = readme.read_text()
    assert fresh.startswith("# Title\n\nprose before\n\n") and fresh.endswith(f"{END}\n\nprose after\n")
    assert "99k" not in fresh and headline_block(bench) in fresh


def test_a_readme_without_the_markers_is_a_usage_error(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n")
    assert main(["bench", "readme", "--readme", str(readme), "--benchmarks", str(ROOT / "benchmarks")]) == 2
    assert "no headline block" in capsys.readouterr().err
