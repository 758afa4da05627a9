"""Files and Batches endpoints for the scripted server (OpenAI Batch API, scripted).

``install(srv)`` adds the routes the ``openai`` SDK uses for a batch run::

    POST /v1/files                    upload (multipart; purpose=batch)
    GET  /v1/files/{file_id}/content  download
    POST /v1/batches                  create
    GET  /v1/batches/{batch_id}       retrieve (each call advances the batch)

A batch is ``validating`` when created, ``in_progress`` on the first poll, and
reaches ``final_status`` (default ``completed``) after ``polls`` polls. Then
each input line is answered by ``answer(body)`` (default: the server's
``default``), a :class:`~tests.scripted_server.BodyReply`: status 200 goes to
the output file, other statuses to the error file. ``drop`` names custom ids
left out of both files; the output lines are written in reverse order so a
client must match them by ``custom_id``.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from tests.scripted_server import (
    CREATED,
    BodyReply,
    RecordedRequest,
    Reply,
    ScriptedServer,
    error,
    json_reply,
    raw,
)

Answer = Callable[[Any], BodyReply]


@dataclass
class BatchScript:
    polls: int = 2
    final_status: str = "completed"
    answer: Answer | None = None
    drop: Collection[str] = ()
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls_seen: dict[str, int] = field(default_factory=dict)

    def input_lines(self, batch_id: str) -> list[dict[str, Any]]:
        """The parsed lines of the input file of ``batch_id``."""
        data = self.files[self.batches[batch_id]["input_file_id"]]["content"]
        return [json.loads(line) for line in data.splitlines() if line.strip()]


def install(srv: ScriptedServer, **options: Any) -> BatchScript:
    """Add the Files and Batches routes to ``srv``; returns the script (state and knobs)."""
    script = BatchScript(**options)
    srv.state["batch"] = script
    srv.add_route("POST", "/v1/files", _create_file)
    srv.add_route("GET", "/v1/files/{file_id}/content", _file_content)
    srv.add_route("POST", "/v1/batches", _create_batch)
    srv.add_route("GET", "/v1/batches/{batch_id}", _retrieve_batch)
    return script


def _script(srv: ScriptedServer) -> BatchScript:
    script: BatchScript = srv.state["batch"]
    return script


def _multipart(request: RecordedRequest) -> dict[str, tuple[bytes, str | None]]:
    """Form fields of a multipart body: name → (content, filename)."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.raw_body)
    fields: dict[str, tuple[bytes, str | None]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields[str(name)] = (payload if isinstance(payload, bytes) else b"", part.get_filename())
    return fields


def _file_object(file_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": len(entry["content"]),
        "created_at": CREATED,
        "filename": entry["filename"],
        "purpose": entry["purpose"],
        "status": "processed",
    }


def _add_file(script: BatchScript, content: bytes, filename: str, purpose: str) -> str:
    file_id = f"file-{len(script.files) + 1}"
    script.files[file_id] = {"content": content, "filename": filename, "purpose": purpose}
    return file_id


def _create_file(srv: ScriptedServer, request: RecordedRequest) -> Reply:
    script = _script(srv)
    fields = _multipart(request)
    content, filename = fields.get("file", (b"", None))
    purpose = fields.get("purpose", (b"", None))[0].decode()
    file_id = _add_file(script, content, filename or "upload", purpose)
    return json_reply(_file_object(file_id, script.files[file_id]))


def _file_content(srv: ScriptedServer, request: RecordedRequest) -> Reply:
    entry = _script(srv).files.get(request.path_params["file_id"])
    if entry is None:
        return error(404, "no such file")
    return raw(200, entry["content"], headers={"content-type": "application/octet-stream"})


def _create_batch(srv: ScriptedServer, request: RecordedRequest) -> Reply:
    script = _script(srv)
    body = request.body or {}
    if body.get("input_file_id") not in script.files:
        return error(400, "unknown input_file_id")
    batch_id = f"batch_{len(script.batches) + 1}"
    script.batches[batch_id] = {
        "id": batch_id,
        "object": "batch",
        "endpoint": body.get("endpoint"),
        "input_file_id": body["input_file_id"],
        "completion_window": body.get("completion_window"),
        "metadata": body.get("metadata"),
        "status": "validating",
        "created_at": CREATED,
        "output_file_id": None,
        "error_file_id": None,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
    }
    script.polls_seen[batch_id] = 0
    return json_reply(script.batches[batch_id])


def _retrieve_batch(srv: ScriptedServer, request: RecordedRequest) -> Reply:
    script = _script(srv)
    batch_id = request.path_params["batch_id"]
    batch = script.batches.get(batch_id)
    if batch is None:
        return error(404, "no such batch")
    script.polls_seen[batch_id] += 1
    if batch["status"] in ("validating", "in_progress"):
        if script.polls_seen[batch_id] >= script.polls:
            _finish(srv, script, batch)
        else:
            batch["status"] = "in_progress"
    return json_reply(batch)


def _finish(srv: ScriptedServer, script: BatchScript, batch: dict[str, Any]) -> None:
    batch["status"] = script.final_status
    if script.final_status == "failed":
        return
    answer = script.answer or srv.default
    assert answer is not None, "install(answer=...) or a server default is needed"
    outputs: list[str] = []
    errors: list[str] = []
    lines = script.input_lines(batch["id"])
    for number, line in enumerate(lines):
        if line["custom_id"] in script.drop:
            continue
        reply = answer(line["body"])
        entry = {
            "id": f"batch_req_{number}",
            "custom_id": line["custom_id"],
            "response": {
                "status_code": reply.status,
                "request_id": f"req_{number}",
                "body": json.loads(reply.body),
            },
            "error": None,
        }
        (outputs if reply.status == 200 else errors).append(json.dumps(entry))
    outputs.reverse()
    if outputs:
        batch["output_file_id"] = _add_file(script, _jsonl(outputs), "output.jsonl", "batch_output")
    if errors:
        batch["error_file_id"] = _add_file(script, _jsonl(errors), "errors.jsonl", "batch_output")
    batch["request_counts"] = {
        "total": len(lines),
        "completed": len(outputs),
        "failed": len(errors),
    }


def _jsonl(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()
