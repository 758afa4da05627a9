"""Per-call overhead of extractkit against the raw openai SDK, side by side in one run.

The HTTP layer is an in-process ``httpx2.MockTransport`` answering a fixed
completion, so what is measured is client-side work only: building the
request, the SDK's own request/response handling, parsing and validation.

    python bench/overhead.py [--calls 2000] [--rounds 7]

Budget: extractkit ≤ 1.15× the raw SDK (``create`` + ``model_validate_json``)
in ``json_schema`` and ``tools`` modes, through ``Extractor`` and ``@extract``,
with their defaults -- the deadline included (600 s, cut in the client's HTTP
layer). Two rows in parentheses, outside the budget, show what that cut costs:
no deadline at all, and the worker-thread cut other backends get.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx2
import openai
from pydantic import BaseModel, Field

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from extractkit import Extractor, extract
from extractkit.backends import OpenAIBackend


class LineItem(BaseModel):
    description: str
    quantity: float
    unit_price: float


class Invoice(BaseModel):
    number: str
    seller: str
    currency: str = "EUR"
    items: list[LineItem] = Field(default_factory=list)
    total: float | None = None


VALUE = {
    "number": "2024-117",
    "seller": "Acme Tools GmbH",
    "currency": "EUR",
    "items": [
        {"description": "Hammer", "quantity": 2, "unit_price": 12.5},
        {"description": "Box of nails", "quantity": 1, "unit_price": 4.2},
    ],
    "total": 29.2,
}
TEXT = "INVOICE No. 2024-117 from Acme Tools GmbH: 2 x Hammer 12.50, 1 x nails 4.20, total 29.20 EUR"
ARGS = json.dumps(VALUE)


def _body(mode: str) -> bytes:
    message: dict[str, object] = {"role": "assistant", "content": ARGS, "refusal": None}
    finish = "stop"
    if mode == "tools":
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "Invoice", "arguments": ARGS}}
            ],
        }
        finish = "tool_calls"
    return json.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 60, "total_tokens": 160},
    }).encode()


def _client(mode: str) -> openai.OpenAI:
    body = _body(mode)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "application/json"})

    return openai.OpenAI(
        api_key="sk-bench", base_url="https://api.openai.com/v1",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )


def contenders(mode: str) -> dict[str, Callable[[], object]]:
    client = _client(mode)
    ex = Extractor(client, model="gpt-4o-mini", mode=mode)
    # The raw SDK sends exactly what extractkit sends (same strict wire schema and
    # messages), so the comparison measures client-side work, not request size.
    same = ex.render(Invoice, TEXT)
    messages = same["messages"]
    out: dict[str, Callable[[], object]] = {}
    if mode == "json_schema":
        fmt = same["response_format"]

        def raw() -> object:
            r = client.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                               response_format=fmt)
            return Invoice.model_validate_json(r.choices[0].message.content or "")

        def sdk_parse() -> object:
            r = client.chat.completions.parse(model="gpt-4o-mini", messages=messages,
                                              response_format=Invoice)
            return r.choices[0].message.parsed

        out["raw SDK create+validate"] = raw
        out["SDK chat.completions.parse()"] = sdk_parse
    else:
        tools = same["tools"]
        choice = same["tool_choice"]

        def raw() -> object:
            r = client.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                               tools=tools, tool_choice=choice)
            call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
            return Invoice.model_validate_json(call.function.arguments)  # type: ignore[union-attr]

        out["raw SDK create+validate"] = raw

    # the default: the deadline (600 s) is enforced in the client's HTTP layer
    out["extractkit Extractor"] = lambda: ex.extract(Invoice, TEXT)
    # side by side, not in the budget: no deadline at all (what the cut itself costs), and
    # the worker-thread cut that backends without the HTTP-layer cut get
    unbounded = ex.with_options(timeout=math.inf)
    out["(Extractor, no deadline)"] = lambda: unbounded.extract(Invoice, TEXT)
    threaded = OpenAIBackend(client)
    threaded.cuts_at_deadline = False
    by_thread = Extractor(client=threaded, model="gpt-4o-mini", mode=mode)
    out["(Extractor, worker-thread cut)"] = lambda: by_thread.extract(Invoice, TEXT)

    @extract(client=client, model="gpt-4o-mini", mode=mode)
    def invoice(text: str) -> Invoice:
        """{{ text }}"""

    out["extractkit @extract"] = lambda: invoice(TEXT)

    try:
        import instructor  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        imode = instructor.Mode.JSON_SCHEMA if mode == "json_schema" else instructor.Mode.TOOLS
        ic = instructor.from_openai(client, mode=imode)
        out["instructor"] = lambda: ic.chat.completions.create(
            model="gpt-4o-mini", messages=messages, response_model=Invoice, max_retries=0
        )
    return out


def measure(fns: dict[str, Callable[[], object]], calls: int, rounds: int) -> dict[str, float]:
    """Median per-call CPU time over many short blocks, contenders interleaved block by
    block, so that drift and other processes hit every contender alike."""
    for fn in fns.values():  # warm up: compile, caches, lazy imports
        for _ in range(50):
            fn()
    block = 25
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds * max(1, calls // block)):
        for name, fn in fns.items():
            start = time.process_time()  # CPU time: steadier than wall time on a busy machine
            for _ in range(block):
                fn()
            samples[name].append((time.process_time() - start) / block)
    return {name: statistics.median(values) for name, values in samples.items()}


def own_work(mode: str, calls: int) -> float:
    """extractkit's own per-call work, SDK excluded: build the request from the
    template and schema, then read, validate and type a ready-made response."""
    client = _client(mode)
    ex = Extractor(client, model="gpt-4o-mini", mode=mode)
    response = client.chat.completions.create(**ex.render(Invoice, TEXT))
    for _ in range(200):
        ex._prepare(Invoice, TEXT, {}, None)[1].receive(response)
    start = time.process_time()
    for _ in range(calls):
        extraction = ex._prepare(Invoice, TEXT, {}, None)[1]
        extraction.request()
        extraction.receive(response)
    return (time.process_time() - start) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"openai {openai.__version__}, python {sys.version.split()[0]}, "
          f"{args.rounds} rounds x {args.calls} calls, median process CPU time per call")
    worst = 0.0
    for mode in ("json_schema", "tools"):
        results = measure(contenders(mode), args.calls, args.rounds)
        base = results["raw SDK create+validate"]
        own = own_work(mode, args.calls * 5)
        print(f"\nmode {mode}   (extractkit's own work per call, SDK excluded: "
              f"{own * 1e6:.0f} us = {own / base:.1%} of a raw call)")
        for name, seconds in results.items():
            ratio = seconds / base
            print(f"  {name:32s} {seconds * 1e3:7.3f} ms/call   {ratio:5.2f}x raw")
            if name.startswith("extractkit"):
                worst = max(worst, ratio)
    verdict = "within" if worst <= 1.15 else "OVER"
    print(f"\nworst extractkit ratio {worst:.2f}x raw SDK: {verdict} the 1.15x budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
