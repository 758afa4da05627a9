"""``endpoint="auto"``: ask the server at a base URL what kind it is, once.

The signatures are data (``[[profile.detect]]`` in ``provider_profiles.toml``,
:attr:`extractkit.profiles.CATALOGUE`): ``owned_by`` values in ``GET
<base_url>/models``, then kind-specific paths at the server root (llama.cpp's
``/props``, llama-cpp-python's ``/openapi.json``, Ollama's ``/api/version``),
each fetched at most once, in file order, until one matches.

A detection is made once per base URL and kept: in this process, and on disk
under the user cache directory (``$XDG_CACHE_HOME/extractkit/endpoints.json``)
for :data:`DETECT_TTL` seconds. Loopback URLs (``localhost``, ``127.0.0.1``,
``::1``) are kept in this process only: a local port changes servers often,
and asking it costs about a millisecond. Nothing about the request's key is
kept: the key is sent in the ``Authorization`` header of ``GET /models`` and
nowhere else.

When the server cannot be reached, or answers like no known kind, the result
is :data:`~extractkit.profiles.FALLBACK_PROFILE` (``generic``) with the reason,
logged as a warning on the ``extractkit.detect`` logger. An unreachable server,
or one whose ``/models`` refused the request (a wrong key?), is not cached: the
next extractor asks again. The disk cache is also ignored when it was written
with other detection rules (another extractkit version). Each GET waits at most
:data:`DETECT_TIMEOUT` seconds (or the extraction's shorter ``timeout``), a
whole detection at most :data:`DETECT_BUDGET`.

Detection runs only for ``endpoint="auto"`` (or ``EXTRACTKIT_ENDPOINT=auto``),
from :meth:`extractkit.settings.Settings.resolve`; with no ``endpoint=`` an
unnamed host gets ``generic`` without a request (docs/endpoints-profiles.md
says why).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import httpx2

from .profiles import CATALOGUE, FALLBACK_PROFILE, Signature, profile_names
from .redact import install_log_filter, redact, register_secret

logger = logging.getLogger("extractkit.detect")
install_log_filter(logger)  # keys never reach a log line, whatever a server echoes

#: seconds a detection is kept (in this process and on disk)
DETECT_TTL = 24 * 3600.0
#: seconds for each detection GET (connect and read)
DETECT_TIMEOUT = 3.0
#: seconds for a whole detection, however many GETs it takes
DETECT_BUDGET = 8.0
#: a detection answer larger than this is read no further (llama-cpp-python's
#: /openapi.json, the largest known, is about 34 KB)
MAX_ANSWER_BYTES = 1 << 20
_CACHE_VERSION = 1
#: the detection rules the disk cache was written with (other rules: detect again)
_SIGNATURES = hashlib.sha256(repr(CATALOGUE.signatures).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Detection:
    """What ``endpoint="auto"`` found for one base URL.

    ``profile`` is a registered profile name; ``detected`` is ``False`` when it
    is the fallback; ``reason`` says which answer decided it (or why nothing
    did); ``source`` is ``"server"`` (asked now), ``"memory"`` or ``"disk"``
    (cached); ``requests`` counts the GETs this call sent.
    """

    base_url: str
    profile: str
    detected: bool
    reason: str
    at: float
    source: str = "server"
    requests: int = 0


def _normalized(base_url: str) -> str:
    return str(base_url).strip().rstrip("/")


def _root(base_url: str) -> str:
    """The server root: the base URL without a trailing ``/v1``."""
    base = _normalized(base_url)
    return base[: -len("/v1")] if base.endswith("/v1") else base


def is_loopback(base_url: str) -> bool:
    host = (urlparse(base_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _dotted(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, Mapping) or part not in data:
            return None
        data = data[part]
    return data


def _matches(answer: Any, signature: Signature) -> str | None:
    """The evidence, when the probe's JSON answer fits the signature."""
    seen = []
    for path, text in signature.expect:
        value = _dotted(answer, path)
        if value is None or text not in str(value):
            return None
        seen.append(f"{path}={str(value)[:60]!r}")
    return ", ".join(seen)


def _cache_file() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "extractkit" / "endpoints.json"


class Detector:
    """Detections with their caches. :func:`detect_endpoint` uses one per process.

    ``cache_file=None`` keeps detections in memory only; ``persist_loopback``
    also writes loopback URLs to disk (tests); ``clock`` is ``time.time``.
    """

    def __init__(
        self,
        *,
        cache_file: Path | str | None = "default",
        ttl: float = DETECT_TTL,
        timeout: float = DETECT_TIMEOUT,
        budget: float = DETECT_BUDGET,
        persist_loopback: bool = False,
        clock: Callable[[], float] = time.time,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        self._cache_file_setting = cache_file
        self.ttl = ttl
        self.timeout = timeout
        self.budget = budget
        self.persist_loopback = persist_loopback
        self.clock = clock
        self._transport = transport
        self._memory: dict[str, Detection] = {}
        self._lock = threading.Lock()
        self._inflight: dict[str, threading.Lock] = {}
        self._clients: dict[bool, httpx2.Client] = {}

    @property
    def cache_file(self) -> Path | None:
        setting = self._cache_file_setting
        if setting == "default":
            return _cache_file()  # read at use: XDG_CACHE_HOME may change (tests)
        return None if setting is None else Path(setting)

    def forget(self) -> None:
        """Drop the in-process detections (the disk cache stays until it expires)."""
        with self._lock:
            self._memory.clear()

    # -- the one entry point ----------------------------------------------------

    def detect(self, base_url: str, *, api_key: str | None = None,
               timeout: float | None = None) -> Detection:
        """The profile for the server at ``base_url``, from a cache or by asking it.

        ``timeout`` caps the detection's own (:attr:`timeout` per GET, :attr:`budget`
        in all), e.g. to an extraction's shorter deadline."""
        key = _normalized(base_url)
        register_secret(api_key)
        with self._lock:
            gate = self._inflight.setdefault(key, threading.Lock())
        with gate:  # concurrent extractors on one URL: one detection
            cached = self._cached(key)
            if cached is not None:
                return cached
            found, lasting = self._ask(key, api_key, timeout)
            if lasting:  # not a passing state: unreachable, or /models refused (a bad key?)
                with self._lock:
                    self._memory[key] = found
                if self.persist_loopback or not is_loopback(key):
                    self._store(found)
            return found

    # -- caches -------------------------------------------------------------------

    def _fresh(self, found: Detection) -> bool:
        return 0 <= self.clock() - found.at < self.ttl

    def _cached(self, key: str) -> Detection | None:
        with self._lock:
            found = self._memory.get(key)
        if found is not None:
            if self._fresh(found):
                return replace(found, source="memory", requests=0)
            with self._lock:
                self._memory.pop(key, None)
        if not (self.persist_loopback or not is_loopback(key)):
            return None
        entry = self._read_disk().get(key)
        if not isinstance(entry, dict):
            return None
        try:
            found = Detection(key, str(entry["profile"]), bool(entry["detected"]),
                              str(entry["reason"]), float(entry["at"]), "disk", 0)
        except (KeyError, TypeError, ValueError):
            return None
        if not self._fresh(found) or found.profile not in profile_names():
            return None
        with self._lock:
            self._memory[key] = found
        return found

    def _read_disk(self) -> dict[str, Any]:
        path = self.cache_file
        if path is None:
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION or data.get(
                "signatures") != _SIGNATURES:  # another extractkit's rules: ask again
            return {}
        entries = data.get("endpoints")
        return entries if isinstance(entries, dict) else {}

    def _store(self, found: Detection) -> None:
        path = self.cache_file
        if path is None:
            return
        entries = {k: v for k, v in self._read_disk().items()
                   if isinstance(v, dict) and isinstance(v.get("at"), (int, float))
                   and 0 <= self.clock() - v["at"] < self.ttl}
        entries[found.base_url] = {"profile": found.profile, "detected": found.detected,
                                   "reason": found.reason, "at": found.at}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".endpoints.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"version": _CACHE_VERSION, "signatures": _SIGNATURES,
                           "endpoints": entries}, out, indent=1)
            os.replace(tmp, path)
        except OSError as exc:  # a read-only home: detection still works, per process
            logger.debug("cannot write %s: %s", path, exc)

    # -- asking the server --------------------------------------------------------

    def _http(self, base: str) -> httpx2.Client:
        """The detector's HTTP client for the URL's scheme, made once and reused: an
        ``https`` client loads the CA bundle (about 0.2 s here), a plain ``http``
        one needs no TLS at all."""
        secure = base.lower().startswith("https:")
        with self._lock:
            client = self._clients.get(secure)
            if client is None:
                client = httpx2.Client(timeout=self.timeout, transport=self._transport,
                                       follow_redirects=False, verify=secure)
                self._clients[secure] = client
            return client

    def _ask(self, base: str, api_key: str | None,
             cap: float | None) -> tuple[Detection, bool]:
        """The detection, and whether it may be cached."""
        started = time.monotonic()
        budget = self.budget if cap is None else min(self.budget, cap)
        per_get = self.timeout if cap is None else min(self.timeout, cap)
        http = self._http(base)
        sent: list[str] = []

        def get(path: str, url: str, key: str | None) -> tuple[int, Any]:
            sent.append(path)
            return _get_json(http, url, key, per_get)

        def done(profile: str, detected: bool, reason: str,
                 lasting: bool = True) -> tuple[Detection, bool]:
            return Detection(base, profile, detected, redact(reason), self.clock(), "server",
                             len(sent)), lasting

        try:
            status, models = get("/models", f"{base}/models", api_key)
        except httpx2.HTTPError as exc:
            return done(FALLBACK_PROFILE, False,
                        f"unreachable: GET {base}/models failed ({type(exc).__name__})",
                        lasting=False)
        owners = _owners(models) if status == 200 else set()
        for signature in CATALOGUE.signatures:
            hit = owners.intersection(signature.owned_by)
            if hit:
                return done(signature.profile, True, f"GET /models: owned_by {sorted(hit)[0]!r}")
        answers: dict[str, tuple[int, Any] | None] = {}
        root = _root(base)
        for signature in CATALOGUE.signatures:
            if signature.probe is None:
                continue
            if signature.probe not in answers:
                if time.monotonic() - started > budget:
                    break
                try:  # no key: these paths are the server's own, not the API's
                    answers[signature.probe] = get(signature.probe, root + signature.probe, None)
                except httpx2.HTTPError:
                    answers[signature.probe] = None
            answer = answers[signature.probe]
            if answer is None or answer[0] != 200:
                continue
            evidence = _matches(answer[1], signature)
            if evidence is not None:
                return done(signature.profile, True, f"GET {signature.probe}: {evidence}")
        seen = f"GET /models answered {status}" + (
            f" with owned_by {', '.join(sorted(owners))}" if owners else "")
        return done(FALLBACK_PROFILE, False,
                    f"unrecognized server: {seen}; no known answer from {', '.join(sent[1:])}",
                    lasting=status == 200)


def _get_json(http: httpx2.Client, url: str, api_key: str | None,
              timeout: float) -> tuple[int, Any]:
    """(status, the JSON answer or ``None``), reading at most :data:`MAX_ANSWER_BYTES`."""
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    with http.stream("GET", url, headers=headers, timeout=timeout) as response:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:  # not what any known kind answers
                return response.status_code, None
    try:
        return response.status_code, json.loads(bytes(body))
    except ValueError:
        return response.status_code, None


def _owners(models: Any) -> set[str]:
    data = models.get("data") if isinstance(models, Mapping) else None
    if not isinstance(data, list):
        return set()
    return {str(m["owned_by"]) for m in data if isinstance(m, Mapping) and m.get("owned_by")}


_DETECTOR = Detector()


def default_detector() -> Detector:
    return _DETECTOR


def detect_endpoint(base_url: str, *, api_key: str | None = None) -> Detection:
    """Which profile fits the server at ``base_url`` (cached; see the module docstring)."""
    return _DETECTOR.detect(base_url, api_key=api_key)


@contextlib.contextmanager
def reporting(stream: IO[str], *, verbose: bool) -> Iterator[None]:
    """While the CLI runs: detection messages on ``stream`` (``-v``: which profile was
    chosen and why; always: a fallback that ``--endpoint auto`` asked for)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("extractkit: %(message)s"))
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    level = logger.level
    logger.addHandler(handler)
    if verbose and (logger.getEffectiveLevel() > logging.INFO):
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def resolve_auto(base_url: str | None, api_key: str | None, *,
                 timeout: float | None = None) -> str:
    """The profile name for ``endpoint="auto"``, logged with its reason (a fallback
    is a warning). ``timeout``: the extraction's own, when shorter than detection's."""
    if not base_url:
        logger.warning("endpoint='auto' without a base URL to ask: using the %r profile",
                       FALLBACK_PROFILE)
        return FALLBACK_PROFILE
    found = _DETECTOR.detect(base_url, api_key=api_key, timeout=timeout)
    cached = "" if found.source == "server" else f" (cached, {found.source})"
    if found.detected:
        logger.info("endpoint %s: profile %r%s, because %s",
                    found.base_url, found.profile, cached, found.reason)
    else:
        logger.warning("endpoint %s: server kind not detected (%s)%s; using the %r profile "
                       "(pass endpoint= to choose one)",
                       found.base_url, found.reason, cached, found.profile)
    return found.profile


__all__ = [
    "DETECT_BUDGET",
    "DETECT_TIMEOUT",
    "DETECT_TTL",
    "Detection",
    "Detector",
    "default_detector",
    "detect_endpoint",
    "is_loopback",
    "reporting",
    "resolve_auto",
]
