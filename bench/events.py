"""What ``on_event`` hooks and OpenTelemetry spans cost per call, side by side in one run.

The same in-process HTTP transport as ``bench/overhead.py`` (a fixed completion,
no network), so what is measured is client-side work. Contenders, interleaved
block by block: the raw SDK, ``Extractor`` with no hook (the default: no
emitter is built and every emit site is one ``is not None`` test), with a hook
that does nothing, and with ``SpanHook`` on an OpenTelemetry SDK provider
(spans recorded and exported to an in-memory exporter).

    python bench/events.py [--calls 1000] [--rounds 5]

The budget that matters is the no-hook one: ``bench/overhead.py`` must stay
within 1.15x the raw SDK (run it on this branch and on main side by side).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import openai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from overhead import TEXT, Invoice, _client, measure  # noqa: E402

from extractkit import Extractor  # noqa: E402
from extractkit.events import Event  # noqa: E402


def contenders(mode: str) -> dict[str, Callable[[], object]]:
    client = _client(mode)
    ex = Extractor(client, model="gpt-4o-mini", mode=mode)
    same = ex.render(Invoice, TEXT)
    messages = same["messages"]
    if mode == "json_schema":
        fmt = same["response_format"]

        def raw() -> object:
            r = client.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                               response_format=fmt)
            return Invoice.model_validate_json(r.choices[0].message.content or "")
    else:
        tools, choice = same["tools"], same["tool_choice"]

        def raw() -> object:
            r = client.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                               tools=tools, tool_choice=choice)
            call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
            return Invoice.model_validate_json(call.function.arguments)  # type: ignore[union-attr]

    def nothing(event: Event) -> None:
        pass

    hooked = ex.with_options(on_event=nothing)
    out: dict[str, Callable[[], object]] = {
        "raw SDK create+validate": raw,
        "Extractor, no hook": lambda: ex.extract(Invoice, TEXT),
        "Extractor, a no-op hook": lambda: hooked.extract(Invoice, TEXT),
    }
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
    except ImportError:
        print("(opentelemetry-sdk not installed: no SpanHook contender)")
        return out
    from extractkit.tracing import SpanHook

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = ex.with_options(on_event=SpanHook(provider))

    def with_spans() -> object:
        value = traced.extract(Invoice, TEXT)
        exporter.clear()
        return value

    out["Extractor, SpanHook (OTel SDK)"] = with_spans
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"openai {openai.__version__}, python {sys.version.split()[0]}, "
          f"{args.rounds} rounds x {args.calls} calls, median process CPU time per call")
    for mode in ("json_schema", "tools"):
        results = measure(contenders(mode), args.calls, args.rounds)
        base = results["raw SDK create+validate"]
        plain = results["Extractor, no hook"]
        print(f"\nmode {mode}")
        for name, seconds in results.items():
            extra = (seconds - plain) * 1e6
            note = "" if name.startswith(("raw", "Extractor, no")) else \
                f"   {extra:+.0f} us vs no hook"
            print(f"  {name:32s} {seconds * 1e3:7.3f} ms/call  {seconds / base:5.2f}x raw{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
