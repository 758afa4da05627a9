"""Deterministic, scripted OpenAI-compatible HTTP server for tests and benchmarks.

Stdlib only. Binds ``127.0.0.1`` on a free port, speaks HTTP/1.1 with keep-alive and
serves every connection on its own daemon thread.

Typical use::

    with ScriptedServer() as srv:
        srv.push(completion('{"name": "Ada"}'), error(429, headers={"retry-after-ms": "10"}))
        client = openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0)
        ...
        assert srv.bodies()[0]["model"] == "gpt-test"

Replies for ``POST /v1/chat/completions`` are taken from a FIFO queue filled with
:meth:`ScriptedServer.push`; when the queue is empty ``srv.default(request_body)`` is
called; when that is ``None`` too the server answers 500 "script exhausted".

Routes
------
Routing is a small table, ``srv.routes``, mapping ``(METHOD, pattern)`` to a handler
``handler(server, request) -> Reply``. A pattern is a path whose segments may be
``{name}`` placeholders; matched values land in ``request.path_params``. Handlers may keep
state in ``srv.state`` (a plain dict). To add, say, the Files and Batches endpoints::

    def create_file(srv: ScriptedServer, req: RecordedRequest) -> Reply:
        file_id = f"file-{len(srv.state.setdefault('files', {}))}"
        srv.state["files"][file_id] = req.raw_body  # multipart: parse req.raw_body
        return json_reply({"id": file_id, "object": "file", "purpose": "batch"})

    srv.add_route("POST", "/v1/files", create_file)
    srv.add_route("GET", "/v1/batches/{batch_id}", get_batch)

Add routes for every server by extending ``DEFAULT_ROUTES`` at module level.
Request bodies are parsed as JSON when the content type says so (``request.body``);
the raw bytes are always in ``request.raw_body``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, TypeAlias
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "DEFAULT_ROUTES",
    "BodyReply",
    "RecordedRequest",
    "Reply",
    "RouteHandler",
    "ScriptedServer",
    "StreamReply",
    "choice",
    "completion",
    "delayed",
    "error",
    "json_reply",
    "raw",
    "stream",
]

CREATED = 1_700_000_000
"""Fixed ``created`` timestamp so payloads are deterministic."""

DEFAULT_MODEL = "scripted-model"
CHAT_PATH = "/v1/chat/completions"

_ids = itertools.count(1)


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class BodyReply:
    """A complete HTTP response with a fixed body (sent with Content-Length)."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    pre_delay: float = 0.0

    def json(self) -> Any:
        """The body parsed as JSON (for assertions on what a builder produced)."""
        return json.loads(self.body)


@dataclass(frozen=True)
class StreamReply:
    """A ``text/event-stream`` of chat.completion.chunk objects.

    ``chunks`` is ``[role_chunk, *piece_chunks, final_chunk]``. ``drop_after=k`` sends the
    role chunk and the first ``k`` piece chunks, then closes the socket. ``framing`` selects
    ``Transfer-Encoding: chunked`` (a cut is a protocol error for the client) or
    ``Connection: close`` with no length (a cut looks like a clean end of body).
    """

    chunks: tuple[dict[str, Any], ...]
    usage: dict[str, int]
    delay: float = 0.0
    drop_after: int | None = None
    framing: Literal["chunked", "close"] = "chunked"
    pre_delay: float = 0.0


Reply: TypeAlias = BodyReply | StreamReply
ReplySource: TypeAlias = "Reply | Callable[[Any], Reply]"


def _usage(usage: tuple[int, int]) -> dict[str, int]:
    prompt, completion_tokens = usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }


def _tool_call(tool_args: str, tool_name: str, call_id: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": tool_name, "arguments": tool_args},
    }


def _call_id() -> str:
    return f"call_scripted_{next(_ids)}"


def choice(
    content: str | None = None,
    *,
    tool_args: str | None = None,
    tool_name: str = "extract",
    refusal: str | None = None,
    finish_reason: str | None = None,
) -> dict[str, Any]:
    """One ``choices[]`` entry (index is filled in by :func:`completion`)."""
    tool_calls = None if tool_args is None else [_tool_call(tool_args, tool_name, _call_id())]
    if finish_reason is None:
        finish_reason = "tool_calls" if tool_args is not None else "stop"
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def json_reply(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> BodyReply:
    """Any JSON payload as a reply (for custom routes)."""
    all_headers = {"content-type": "application/json", **(headers or {})}
    return BodyReply(status=status, body=_json_bytes(payload), headers=all_headers)


def completion(
    content: str | None = None,
    *,
    tool_args: str | None = None,
    tool_name: str = "extract",
    refusal: str | None = None,
    finish_reason: str | None = None,
    choices: Sequence[str | dict[str, Any]] | None = None,
    usage: tuple[int, int] = (10, 5),
    model: str = DEFAULT_MODEL,
) -> BodyReply:
    """A ``chat.completion`` reply.

    With ``choices`` (for ``n > 1``) each item is a content string or a :func:`choice`
    dict, and the single-choice arguments are ignored.
    """
    if choices is None:
        entries = [
            choice(
                content,
                tool_args=tool_args,
                tool_name=tool_name,
                refusal=refusal,
                finish_reason=finish_reason,
            )
        ]
    else:
        entries = [item if isinstance(item, dict) else choice(item) for item in choices]
    payload = {
        "id": f"chatcmpl-scripted-{next(_ids)}",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{**entry, "index": i} for i, entry in enumerate(entries)],
        "usage": _usage(usage),
    }
    return json_reply(payload)


def error(
    status: int,
    message: str = "scripted error",
    *,
    headers: Mapping[str, str] | None = None,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> BodyReply:
    """An OpenAI-style error body ``{"error": {message, type, param, code}}``."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return json_reply(body, status=status, headers=headers)


def raw(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> BodyReply:
    """Exact bytes (for malformed bodies). Content type defaults to application/json."""
    all_headers = {"content-type": "application/json", **(headers or {})}
    return BodyReply(status=status, body=body, headers=all_headers)


def delayed(reply: Reply, seconds: float) -> Reply:
    """The same reply, sent ``seconds`` after the request arrives (e.g. for timeouts)."""
    return replace(reply, pre_delay=seconds)


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


def _role_delta(content: str | None, tool_args: str | None, tool_name: str) -> dict[str, Any]:
    if content is not None or tool_args is None:
        return {"role": "assistant", "content": "", "refusal": None}
    call = _tool_call("", tool_name, _call_id())
    return {"role": "assistant", "content": None, "tool_calls": [{"index": 0, **call}]}


def _piece_deltas(
    content: str | None, tool_args: str | None, tool_name: str, size: int
) -> list[dict[str, Any]]:
    deltas: list[dict[str, Any]] = [{"content": p} for p in _pieces(content or "", size)]
    if tool_args is not None and content is not None:
        call = _tool_call("", tool_name, _call_id())
        deltas.append({"tool_calls": [{"index": 0, **call}]})
    for piece in _pieces(tool_args or "", size):
        deltas.append({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
    return deltas


def stream(
    content: str | None = None,
    *,
    tool_args: str | None = None,
    tool_name: str = "extract",
    chunk_size: int = 8,
    delay: float = 0.0,
    finish_reason: str | None = None,
    drop_after: int | None = None,
    usage: tuple[int, int] = (10, 5),
    model: str = DEFAULT_MODEL,
    framing: Literal["chunked", "close"] = "chunked",
) -> StreamReply:
    """A streamed chat completion (SSE ``data: {...}`` events, then ``data: [DONE]``).

    The first chunk carries the role (and, for tool-only replies, the tool call id and
    name); then ``content`` and ``tool_args`` follow in pieces of ``chunk_size`` chars;
    the last chunk has an empty delta and ``finish_reason`` (default ``"tool_calls"``
    when ``tool_args`` is given, else ``"stop"``). A usage chunk (``choices: []``) is
    added when the request asked for ``stream_options.include_usage``. ``delay`` is slept
    before every chunk.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    if finish_reason is None:
        finish_reason = "tool_calls" if tool_args is not None else "stop"
    cid = f"chatcmpl-scripted-{next(_ids)}"
    deltas = [
        _role_delta(content, tool_args, tool_name),
        *_piece_deltas(content, tool_args, tool_name, chunk_size),
    ]
    chunks = [_chunk(cid, model, delta, None) for delta in deltas]
    chunks.append(_chunk(cid, model, {}, finish_reason))
    return StreamReply(
        chunks=tuple(chunks),
        usage=_usage(usage),
        delay=delay,
        drop_after=drop_after,
        framing=framing,
    )


def _stream_events(reply: StreamReply, include_usage: bool) -> tuple[list[bytes], bool]:
    """SSE events to send and whether to cut the connection after them."""
    chunks = [dict(c, usage=None) if include_usage else c for c in reply.chunks]
    if reply.drop_after is not None:
        keep = 1 + min(reply.drop_after, len(chunks) - 2)
        return [_sse(c) for c in chunks[:keep]], True
    if include_usage:
        last = chunks[-1]
        chunks.append({**last, "choices": [], "usage": reply.usage})
    return [*(_sse(c) for c in chunks), b"data: [DONE]\n\n"], False


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + _json_bytes(payload) + b"\n\n"


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received. ``headers`` keys are lowercase."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes = b""
    query: dict[str, list[str]] = field(default_factory=dict)
    path_params: dict[str, str] = field(default_factory=dict)


RouteHandler: TypeAlias = "Callable[[ScriptedServer, RecordedRequest], Reply]"


def _parse_body(headers: Mapping[str, str], data: bytes) -> Any:
    if not data or "json" not in headers.get("content-type", "json"):
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _match(pattern: str, path: str) -> dict[str, str] | None:
    want = pattern.strip("/").split("/")
    got = path.strip("/").split("/")
    if len(want) != len(got):
        return None
    params: dict[str, str] = {}
    for w, g in zip(want, got, strict=True):
        if w.startswith("{") and w.endswith("}"):
            params[w[1:-1]] = g
        elif w != g:
            return None
    return params


# --------------------------------------------------------------------------- routes


def _chat_completions(srv: ScriptedServer, request: RecordedRequest) -> Reply:
    source = srv._next_scripted()
    if source is None:
        if srv.default is None:
            return error(
                500, f"scripted server: script exhausted for POST {CHAT_PATH}", type="server_error"
            )
        source = srv.default
    return source(request.body) if callable(source) else source


def _list_models(srv: ScriptedServer, request: RecordedRequest) -> Reply:
    model = {"id": DEFAULT_MODEL, "object": "model", "created": CREATED, "owned_by": "scripted"}
    return json_reply({"object": "list", "data": [model]})


DEFAULT_ROUTES: dict[tuple[str, str], RouteHandler] = {
    ("POST", CHAT_PATH): _chat_completions,
    ("GET", "/v1/models"): _list_models,
}


# --------------------------------------------------------------------------- HTTP layer


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, owner: ScriptedServer) -> None:
        self.owner = owner
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Keep unexpected handler exceptions in ``owner.errors`` instead of printing them."""
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, OSError):
            self.owner._record_error(exc)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        request = self._record()
        reply = self.server.owner._dispatch(request)
        time.sleep(self.server.owner.latency + reply.pre_delay)
        try:
            if isinstance(reply, StreamReply):
                self._send_stream(reply, request)
            else:
                self._send_body(reply)
        except OSError:
            self.close_connection = True

    def _record(self) -> RecordedRequest:
        headers = {k.lower(): v for k, v in self.headers.items()}
        data = self._read_body(headers)
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            headers=headers,
            body=_parse_body(headers, data),
            raw_body=data,
            query=parse_qs(parts.query),
        )
        self.server.owner._record(request)
        return request

    def _read_body(self, headers: Mapping[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return b"".join(self._read_chunks())
        return self.rfile.read(int(headers.get("content-length", "0") or 0))

    def _read_chunks(self) -> Iterator[bytes]:
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            yield self.rfile.read(size)
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass

    def _send_head(self, status: int, headers: Iterable[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()

    def _send_body(self, reply: BodyReply) -> None:
        headers = [*reply.headers.items(), ("content-length", str(len(reply.body)))]
        self._send_head(reply.status, headers)
        self.wfile.write(reply.body)

    def _send_stream(self, reply: StreamReply, request: RecordedRequest) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events, cut = _stream_events(reply, include_usage)
        chunked = reply.framing == "chunked"
        framing = ("transfer-encoding", "chunked") if chunked else ("connection", "close")
        self._send_head(
            200, [("content-type", "text/event-stream"), ("cache-control", "no-cache"), framing]
        )
        for event in events:
            time.sleep(reply.delay)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event) if chunked else event)
        if cut:
            self._cut()
        elif chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _cut(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------- server


class ScriptedServer:
    """Scripted OpenAI-compatible server on ``127.0.0.1`` (see the module docstring)."""

    def __init__(
        self,
        *replies: ReplySource,
        default: Callable[[Any], Reply] | None = None,
        latency: float = 0.0,
    ) -> None:
        self.default = default
        self.latency = latency
        self.routes: dict[tuple[str, str], RouteHandler] = dict(DEFAULT_ROUTES)
        self.state: dict[str, Any] = {}
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._queue: deque[ReplySource] = deque(replies)
        self._requests: list[RecordedRequest] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------

    def start(self) -> ScriptedServer:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="scripted-openai-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        with httpd.sockets_lock:
            sockets = list(httpd.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # script ------------------------------------------------------------------

    def push(self, *replies: ReplySource) -> None:
        """Queue replies (or ``callable(request_body) -> Reply``) for chat completions."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """How many pushed replies have not been served yet."""
        with self._lock:
            return len(self._queue)

    def add_route(self, method: str, pattern: str, handler: RouteHandler) -> None:
        self.routes[(method.upper(), pattern)] = handler

    # records -----------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def bodies(self, path: str = CHAT_PATH) -> list[Any]:
        """Parsed JSON bodies of the requests to ``path`` (chat completions by default)."""
        return [r.body for r in self.requests if r.path == path]

    def reset(self) -> None:
        """Forget recorded requests, errors and queued replies."""
        with self._lock:
            self._requests.clear()
            self._queue.clear()
            self.errors.clear()

    # internals ---------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _record_error(self, exc: BaseException) -> None:
        with self._lock:
            self.errors.append(exc)

    def _next_scripted(self) -> ReplySource | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def _dispatch(self, request: RecordedRequest) -> Reply:
        for (method, pattern), handler in self.routes.items():
            params = _match(pattern, request.path)
            if method == request.method and params is not None:
                try:
                    return handler(self, replace(request, path_params=params))
                except Exception as exc:
                    self._record_error(exc)
                    return error(
                        500, f"scripted server: handler raised {exc!r}", type="server_error"
                    )
        return error(404, f"scripted server: no route for {request.method} {request.path}")
