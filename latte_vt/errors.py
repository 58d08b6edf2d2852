"""The package's exceptions share one base, and the CLI maps them to exit codes in one place.

* ``InputError`` (exit 2): the user's input is wrong or unusable — a usage error, a missing or
  malformed file, a checkpoint or bundle that cannot be used. The message names the file/row/field.
* ``LatteError`` (exit 1): the work itself failed (e.g. an export whose parity check failed).

Every other exception is a bug and keeps its traceback. This module imports nothing heavy: the
torch-free runtime raises these too.
"""

from __future__ import annotations

USAGE_EXIT = 2
FAILURE_EXIT = 1


class LatteError(Exception):
    """Base of every error latte_vt raises on purpose; ``exit_code`` is what the CLI returns."""

    exit_code = FAILURE_EXIT


class InputError(LatteError, ValueError):
    """Bad input (arguments, files, checkpoints, bundles): the message says which and what is wrong."""

    exit_code = USAGE_EXIT
