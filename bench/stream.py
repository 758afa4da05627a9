"""Cost of streaming extraction against the SDK's own stream consumption.

Both sides read the same pre-built SSE body through the real ``openai`` SDK
over an in-process transport (``httpx2.MockTransport``), so no network is
involved:

* **raw SDK**: iterate ``chat.completions.create(stream=True)`` and join the
  content -- nothing else;
* **extractkit**: ``Extractor.stream(schema, ...)`` consumed to the end,
  touching every snapshot's value (partial values, list items validated as
  they close, the final validation and result).

Budget: at 64 KB, extractkit ≤ 3× raw; extractkit's per-KB cost at 64 KB ≤ 2×
its per-KB cost at 8 KB (near-linear). Then hostile sizes (``--scaling``, on by
default): 64 KB, 1 MB and 5 MB answers in ``--big-chunk``-char pieces, where
extractkit's per-KB cost at 1 MB and 5 MB must stay ≤ 1.5× its per-KB cost at
64 KB (linear), and so must the bytes a consumer printing every snapshot
writes (what ``extractkit run --stream`` would print without its time throttle).
Run::

    python bench/stream.py [--chunk 8] [--repeat 5] [--big-chunk 64] [--no-scaling]

Exits 1 when a budget is exceeded.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import httpx2
import openai
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from extractkit import Extractor


class Record(BaseModel):
    name: str
    qty: int
    price: float
    status: Literal["new", "used", "refurbished"]
    tags: list[str]
    note: str | None = None


class Catalog(BaseModel):
    title: str
    items: list[Record]


def _record(k: int) -> dict[str, Any]:
    return {
        "name": f"Item number {k} with a moderately long name",
        "qty": k % 17,
        "price": round(k * 1.37, 2),
        "status": ("new", "used", "refurbished")[k % 3],
        "tags": [f"tag{k % 5}", "bench", "stream"],
        "note": None if k % 2 else f'note {k}: "quoted" text\nwith a newline',
    }


def document(size: int, wrapped: bool) -> str:
    """A JSON answer of about ``size`` bytes (the shortest with enough records)."""
    records: list[dict[str, Any]] = []
    written = 0
    while True:
        body = {"value": records} if wrapped else {"title": "Bench catalog", "items": records}
        if written + 64 >= size:  # each record is written once while growing: linear
            text = json.dumps(body)
            if len(text) >= size:
                return text
        record = _record(len(records))
        records.append(record)
        written += len(json.dumps(record)) + 2


def sse_body(text: str, chunk: int) -> bytes:
    """The SSE stream an OpenAI-compatible endpoint sends for ``text`` in ``chunk``-char pieces."""
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "m"}

    def event(choices: list[dict[str, Any]], usage: Any = None) -> str:
        return "data: " + json.dumps({**head, "choices": choices, "usage": usage}) + "\n\n"

    def delta(d: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": d, "finish_reason": finish, "logprobs": None}]

    events = [event(delta({"role": "assistant", "content": ""}))]
    events += [event(delta({"content": text[i : i + chunk]})) for i in range(0, len(text), chunk)]
    events.append(event(delta({}, "stop")))
    usage = {"prompt_tokens": 10, "completion_tokens": len(text) // 4}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    events.append(event([], usage))
    events.append("data: [DONE]\n\n")
    return "".join(events).encode()


def client_for(body: bytes) -> openai.OpenAI:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    transport = httpx2.MockTransport(handler)
    return openai.OpenAI(
        base_url="http://bench.invalid/v1",
        api_key="bench",
        max_retries=0,
        http_client=httpx2.Client(transport=transport),
    )


def raw_sdk(client: openai.OpenAI) -> str:
    events = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts = []
    for chunk in events:
        for choice in chunk.choices:
            if choice.delta.content:
                parts.append(choice.delta.content)
    return "".join(parts)


def extractkit_stream(client: openai.OpenAI, schema: Any, endpoint: str) -> Any:
    value = None
    for snapshot in Extractor(client, model="m", endpoint=endpoint).stream(schema, "x"):
        value = snapshot.value
    return value


def _timed(fn: Callable[[openai.OpenAI], Any], body: bytes) -> float:
    client = client_for(body)
    started = time.process_time()
    fn(client)
    elapsed = time.process_time() - started
    client.close()
    return elapsed


def best_of(repeat: int, body: bytes, *fns: Callable[[openai.OpenAI], Any]) -> list[float]:
    """Best CPU time of each function, runs interleaved (so both see the same machine load)."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            best[k] = min(best[k], _timed(fn, body))
    return best


CASES = [
    # label, schema, wrapped in {"value": ...}, endpoint profile
    ("Catalog", Catalog, False, "generic"),
    ("list[Record]", list[Record], True, "generic"),
    # OpenAI's strict encoding: optional fields come back as null and are decoded,
    # so partial documents are decoded in full (throttled)
    ("Catalog", Catalog, False, "openai"),
]


def run(chunk: int, repeat: int) -> bool:
    ok = True
    print(
        f"chunk = {chunk} chars; process CPU ms, best of {repeat * 3} (8 KB) / {repeat} (64 KB) "
        "interleaved runs\n"
    )
    head = f"{'schema':<14}{'endpoint':<10}{'size':>6}{'chunks':>8}{'raw SDK':>10}"
    print(f"{head}{'extractkit':>12}{'ratio':>8}{'extra µs/chunk':>16}")
    for label, schema, wrapped, endpoint in CASES:
        per_kb: dict[int, float] = {}
        ratio_64 = 0.0
        for kb in (8, 64):
            text = document(kb * 1024, wrapped)
            body = sse_body(text, chunk)
            ours_fn = functools.partial(extractkit_stream, schema=schema, endpoint=endpoint)
            runs = repeat * 3 if kb == 8 else repeat  # small runs are cheap: more of them
            raw, ours = best_of(runs, body, raw_sdk, ours_fn)
            per_kb[kb] = ours / kb
            ratio = ours / raw
            ratio_64 = ratio if kb == 64 else ratio_64
            chunks = -(-len(text) // chunk)
            extra = (ours - raw) / chunks * 1e6
            print(
                f"{label:<14}{endpoint:<10}{kb:>4}KB{chunks:>8}{raw * 1e3:>10.1f}"
                f"{ours * 1e3:>12.1f}{ratio:>8.2f}{extra:>16.1f}"
            )
        growth = per_kb[64] / per_kb[8]
        within = ratio_64 <= 3.0 and growth <= 2.0
        ok = ok and within
        print(
            f"  -> extractkit/raw at 64KB = {ratio_64:.2f} (budget 3.00); "
            f"per-KB 64KB/8KB = {growth:.2f} (budget 2.00): {'OK' if within else 'OVER BUDGET'}\n"
        )
    return ok


def _stream_with_output(client: openai.OpenAI, schema: Any, endpoint: str,
                        written: list[int]) -> None:
    """Consume the stream, serialising every snapshot as the CLI would (bytes counted)."""
    from pydantic_core import to_json

    total = 0
    for snapshot in Extractor(client, model="m", endpoint=endpoint).stream(schema, "x"):
        total += len(to_json(snapshot.value))
    written.append(total)


def scaling(big_chunk: int) -> bool:
    """Per-KB CPU cost and bytes of snapshots written, 64 KB vs 1 MB vs 5 MB."""
    print(f"hostile sizes: chunk = {big_chunk} chars; process CPU, one run each\n")
    print(f"{'schema':<14}{'endpoint':<10}{'size':>8}{'raw SDK s':>11}{'extractkit s':>14}"
          f"{'µs/KB':>8}{'growth':>8}{'snapshot MB':>13}{'out/in':>8}")
    ok = True
    for label, schema, wrapped, endpoint in CASES:
        base_kb = base_out = 0.0
        for kb in (64, 1024, 5120):
            text = document(kb * 1024, wrapped)
            body = sse_body(text, big_chunk)
            written: list[int] = []
            ours_fn = functools.partial(_stream_with_output, schema=schema, endpoint=endpoint,
                                        written=written)
            raw, ours = best_of(1, body, raw_sdk, ours_fn)
            per_kb = ours / kb * 1e6
            out_ratio = written[0] / len(text)
            if kb == 64:
                base_kb, base_out = per_kb, out_ratio
            growth = per_kb / base_kb
            within = kb == 64 or (growth <= 1.5 and out_ratio <= max(1.5 * base_out, 12.0))
            ok = ok and within
            print(f"{label:<14}{endpoint:<10}{kb:>6}KB{raw:>11.2f}{ours:>14.2f}{per_kb:>8.0f}"
                  f"{growth:>8.2f}{written[0] / 2**20:>13.1f}{out_ratio:>8.1f}"
                  f"{'' if within else '  OVER BUDGET'}")
        print()
    print(f"budget: per-KB growth ≤ 1.50 from 64 KB to 5 MB: {'OK' if ok else 'OVER BUDGET'}")
    return ok


def opening_scaling(big_chunk: int) -> bool:
    """``md_json``: finding the fence after a long preamble, 64 KB vs 1 MB vs 5 MB."""
    from extractkit.drivers.stream import _Opening

    print(f"\nmd_json opening (prose / a run of fences before the JSON), chunk = {big_chunk}")
    ok = True
    for label, unit in (("prose", "Some prose words here. "), ("fence run", "```")):
        base = 0.0
        for kb in (64, 1024, 5120):
            text = unit * (kb * 1024 // len(unit)) + "\n```json\n{}"
            opening = _Opening(fenced=True)
            started = time.process_time()
            for i in range(0, len(text), big_chunk):
                opening.feed(text[i : i + big_chunk])
            per_kb = (time.process_time() - started) / kb * 1e6
            base = base or per_kb
            within = kb == 64 or per_kb / base <= 1.5
            ok = ok and within and opening.started
            print(f"  {label:<10}{kb:>6}KB{per_kb:>8.1f} µs/KB  growth {per_kb / base:.2f}"
                  f"{'' if within else '  OVER BUDGET'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--chunk", type=int, default=8, help="characters per chunk (default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    parser.add_argument("--big-chunk", type=int, default=64,
                        help="characters per chunk for the 1 MB / 5 MB answers (default 64)")
    parser.add_argument("--no-scaling", dest="scaling", action="store_false",
                        help="skip the 1 MB / 5 MB answers")
    args = parser.parse_args(argv)
    ok = run(args.chunk, args.repeat)
    if args.scaling:
        ok = scaling(args.big_chunk) and ok
        ok = opening_scaling(args.big_chunk) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
