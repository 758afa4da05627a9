"""Keep secrets out of everything extractkit prints, logs, records or caches.

One function, :func:`redact`, that every error message, log line, record and
verbose report goes through. It removes:

* the API keys extractkit knows: every client it wraps, ``api_key=`` settings
  and ``$OPENAI_API_KEY`` (anywhere in the text);
* anything shaped like a credential: ``Bearer <token>`` and ``sk-...`` keys
  (error texts only: see ``tokens``), even when the server echoes a key we
  were never given.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

REDACTED = "[redacted]"
#: shortest string treated as a secret (shorter ones would blank out ordinary words)
_MIN_SECRET = 8
_TOKEN_SHAPED = re.compile(
    r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|\bsk-[A-Za-z0-9_-]{8,}"
)

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: Any) -> None:
    """Remember a key so that :func:`redact` removes it wherever it shows up."""
    if isinstance(value, str) and len(value) >= _MIN_SECRET:
        with _lock:
            _secrets.add(value)


def _known() -> list[str]:
    env = os.environ.get("OPENAI_API_KEY")
    known = set(_secrets)
    if env and len(env) >= _MIN_SECRET:
        known.add(env)
    return sorted(known, key=len, reverse=True)


def redact(text: str, *, tokens: bool = True) -> str:
    """``text`` with known keys (and, with ``tokens``, credential-shaped tokens) removed."""
    for secret in _known():
        if secret in text:
            text = text.replace(secret, REDACTED)
    if tokens:
        text = _TOKEN_SHAPED.sub(lambda m: (m.group(1) or "") + REDACTED, text)
    return text


def redact_data(value: Any) -> Any:
    """A JSON-like value with known keys removed from every string (records, caches)."""
    if isinstance(value, str):
        return redact(value, tokens=False)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Redacts every record of the ``extractkit`` logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_filter(logger: logging.Logger) -> None:
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


__all__ = ["REDACTED", "RedactingFilter", "redact", "redact_data", "register_secret"]
