"""Template variables from the command line: ``--var KEY=VALUE`` and JSON Lines fields.

``extractkit run``/``prompt`` pass every ``--var`` to the template (or to the
``@extract`` function as a keyword argument); a JSON Lines input's fields other
than ``id`` and ``text`` do the same for that input and win over a ``--var``
of the same name.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ConfigurationError


def add_var_option(parser: argparse.ArgumentParser) -> None:
    """``--var KEY=VALUE`` (repeatable) on ``parser``."""
    parser.add_argument(
        "--var", dest="variables", action="append", default=[], metavar="KEY=VALUE",
        help="a template variable (an @extract function's keyword argument); repeatable",
    )  # fmt: skip


def parse_vars(pairs: Sequence[str]) -> dict[str, str]:
    """``["lang=French", ...]`` → ``{"lang": "French"}``; a malformed pair is a usage error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ConfigurationError(f"--var {pair!r}: expected KEY=VALUE with KEY a name like 'language'")
        out[key] = value
    return out


def merged(shared: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """An input's variables: its own over the command line's."""
    return {**shared, **own}


def text_parameter(function: Any) -> str | None:
    """The name of the first parameter of an ``@extract`` function (the document text)."""
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            return parameter.name
    return None
