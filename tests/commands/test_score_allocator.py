"""`latte-vt score` has polars' allocator return freed pages at once, unless the user chose otherwise; the value
`import polars` puts in the environment (inherited by any command a polars-using process starts) is not a choice."""

import os
import subprocess
import sys

import pytest

from latte_vt.commands.score import JEMALLOC_CONF, POLARS_JEMALLOC_DEFAULT, RETURN_AT_ONCE

PROBE = (
    "import os, sys; from latte_vt.commands.score import _return_freed_memory, JEMALLOC_CONF; "
    "assert 'polars' not in sys.modules; _return_freed_memory(); print(os.environ.get(JEMALLOC_CONF))"
)


def setting_seen_by_score(inherited: str | None) -> str:
    """The allocator setting `latte-vt score` leaves for polars in a fresh process started with ``inherited``."""
    env = {k: v for k, v in os.environ.items() if k != JEMALLOC_CONF}
    if inherited is not None:
        env[JEMALLOC_CONF] = inherited
    probe = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return probe.stdout.strip()


def test_import_polars_sets_the_default_this_command_replaces():
    out = subprocess.run(
        [sys.executable, "-c", f"import os, polars; print(os.environ.get({JEMALLOC_CONF!r}))"],
        env={k: v for k, v in os.environ.items() if k != JEMALLOC_CONF},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == POLARS_JEMALLOC_DEFAULT  # what a parent that imported polars hands to its children


@pytest.mark.parametrize(
    "inherited,expected",
    [(None, RETURN_AT_ONCE), (POLARS_JEMALLOC_DEFAULT, RETURN_AT_ONCE), ("dirty_decay_ms:2000", "dirty_decay_ms:2000")],
)
def test_score_returns_freed_pages_at_once_unless_the_user_chose(inherited, expected):
    assert setting_seen_by_score(inherited) == expected
