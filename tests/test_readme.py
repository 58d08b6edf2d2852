"""The README's two set-up commands exist, and .ci/run runs the same test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [c.strip() for c in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_has_quickstart_and_test_commands():
    commands = readme_commands()
    assert any("pip install -e " in c and c.endswith("latte-vt quickstart") for c in commands)
    assert any('pip install -e ".[dev]"' in c and c.endswith("pytest") for c in commands)


def test_ci_runs_the_readme_test_command():
    test_command = next(c for c in readme_commands() if c.endswith("pytest"))
    ci = (ROOT / ".ci" / "run").read_text()
    assert f"TEST_COMMAND='{test_command}'" in ci
    assert '"$rc" -eq 5' in ci  # "no tests collected" is a failure
