"""Loopback servers that accept a request and then misbehave in time (stdlib only).

``HostileServer("hang")`` reads the request and never answers;
``"trickle"`` sends a 200 with a Content-Length and then one byte of the body
every ``interval`` seconds (the SDK's per-read timeout never trips);
``"trickle-stream"`` does the same with an event stream. Every connection is
served on a daemon thread and everything closes on :meth:`stop`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from typing import Any

BODY = json.dumps({
    "id": "chatcmpl-hostile", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": '{"name": "Ada", "age": 36}'}}],
}).encode()


class HostileServer:
    def __init__(self, behaviour: str, *, interval: float = 0.5) -> None:
        self.behaviour = behaviour
        self.interval = interval
        self.requests = 0
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self._conns: list[socket.socket] = []
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for conn in [*self._conns, self._sock]:
            with contextlib.suppress(OSError):
                conn.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self._read_request(conn)
            self.requests += 1
            if self.behaviour == "hang":
                self._stop.wait()
                return
            if self.behaviour == "trickle":
                head = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n" % len(BODY))
                body = BODY
            else:
                head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
                chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                         "choices": [{"index": 0, "delta": {"content": '{"name": "Ada"'},
                                      "finish_reason": None}]}
                body = b"data: " + json.dumps(chunk).encode() + b"\n\n"
            conn.sendall(head)
            for byte in body:
                if self._stop.wait(self.interval):
                    return
                conn.sendall(bytes([byte]))
            self._stop.wait()

    @staticmethod
    def _read_request(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            part = conn.recv(65536)
            if not part:
                return
            data += part
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        while len(rest) < length:
            part = conn.recv(65536)
            if not part:
                return
            rest += part
