"""An endpoint that rejects the *shape* of a request, told apart from a passing failure.

Some servers answer a request shape they do not support with an HTTP error
instead of ignoring it: a llama.cpp server (llama-cpp-python's) answers a
``json_schema`` ``response_format`` with HTTP 500 "Input should be 'text' or
'json_object'". Retrying cannot help, and every further request would fail
alike, so such an error becomes a :class:`~extractkit.errors.ConfigurationError`
that names the endpoint profile that would work. The known answers are data
(:data:`KNOWN_REJECTIONS`), matched against the error's message and body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import openai

from ..errors import ConfigurationError

#: (pattern in the endpoint's error, the profile that fits that server, what the server is)
KNOWN_REJECTIONS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"Input should be 'text' or 'json_object'"), "llamacpp", "a llama.cpp server"),
)


def _shape(request: Mapping[str, Any]) -> str:
    if "tools" in request:
        return "tools"
    fmt = request.get("response_format")
    if isinstance(fmt, Mapping):
        return str(fmt.get("type"))
    return "a plain prompt"


def raise_if_rejected(exc: BaseException, request: Mapping[str, Any], profile: Any) -> None:
    """Raise the configuration error ``exc`` stands for, if it is a known shape rejection."""
    error = rejected_shape(exc, request, profile)
    if error is not None:
        raise error from exc


def rejected_shape(
    exc: BaseException, request: Mapping[str, Any], profile: Any
) -> ConfigurationError | None:
    """The configuration error ``exc`` stands for, when it is a known shape rejection."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    body = exc.body if isinstance(exc.body, str) else json.dumps(exc.body, default=str)
    said = f"{exc.message} {body}"
    current = getattr(profile, "name", profile)
    for pattern, fits, server in KNOWN_REJECTIONS:
        if pattern.search(said) and fits != current:
            return ConfigurationError(
                f"the endpoint rejected the request shape (HTTP {exc.status_code}: "
                f"{pattern.pattern}; {_shape(request)} request, endpoint profile "
                f"{current!r}); this looks like {server}: use --endpoint {fits} "
                f"(endpoint={fits!r})"
            )
    return None
