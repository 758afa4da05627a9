"""Batch throughput and memory of extractkit against the bare SDK, side by side in one run.

A scripted OpenAI-compatible server runs in a *separate process* (so it does
not share the GIL with the client) on loopback and answers every request
after ``--latency`` seconds. The same requests (rendered by extractkit
beforehand) are then sent by:

* ``bare``: ``AsyncOpenAI`` + ``asyncio.Semaphore(concurrency)``, each reply
  validated with ``Invoice.model_validate_json`` (what a hand-written loop does);
* ``async map``: ``AsyncExtractor.map(Invoice, texts, concurrency=...)``;
* ``sync map``: ``Extractor.map(...)`` (thread pool over the blocking driver).

Rounds alternate between the three so that machine load hits them alike;
each variant's best round is reported. Wall times exclude start-up (client
creation, first request, schema compilation). Budget: async map within 1.2×
bare. Both are reported against the ideal ``N * latency / concurrency``.

Then peak RSS of ``extractkit run`` (JSONL in, JSONL out, ``--concurrency``)
in a fresh process at 1,000 and 10,000 inputs (10,000 at ``--rss-latency``,
lower to keep the run short), next to its RSS after start-up.

    python bench/batch.py [--inputs 1000] [--latency 0.2] [--concurrency 32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import BaseModel  # noqa: E402


class LineItem(BaseModel):
    description: str
    quantity: float
    unit_price: float


class Invoice(BaseModel):
    number: str
    seller: str
    currency: str = "EUR"
    items: list[LineItem] = []
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

SCHEMA_FILE = """
from pydantic import BaseModel


class LineItem(BaseModel):
    description: str
    quantity: float
    unit_price: float


class Invoice(BaseModel):
    number: str
    seller: str
    currency: str = "EUR"
    items: list[LineItem] = []
    total: float | None = None
"""


def _text(i: int) -> str:
    return f"INVOICE No. {i} from Acme Tools GmbH: 2 x Hammer 12.50, 1 x nails 4.20, total 29.20"


# -- the server process ---------------------------------------------------------------


def serve(latency: float) -> None:
    """Child process: the scripted server; prints its port, runs until stdin closes."""
    from tests.scripted_server import ScriptedServer, completion

    reply = completion(json.dumps(VALUE), usage=(120, 60))
    srv = ScriptedServer(default=lambda body: reply, latency=latency).start()
    print(srv.port, flush=True)
    sys.stdin.read()
    srv.stop()


class Server:
    def __init__(self, latency: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}/v1"

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


# -- the variants -------------------------------------------------------------------


class _Clock:
    """Wall time and CPU time (all threads of this process) since creation."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


Timing = tuple[float, float]


def _bare(base_url: str, requests: list[dict[str, Any]], concurrency: int) -> Timing:
    import openai

    async def main() -> Timing:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
        await client.chat.completions.create(**requests[0])  # start-up
        sem = asyncio.Semaphore(concurrency)

        async def one(request: dict[str, Any]) -> Invoice:
            async with sem:
                response = await client.chat.completions.create(**request)
            return Invoice.model_validate_json(response.choices[0].message.content or "")

        clock = _Clock()
        values = await asyncio.gather(*(one(r) for r in requests))
        elapsed = clock.stop()
        assert len(values) == len(requests)
        await client.close()
        return elapsed

    return asyncio.run(main())


def _async_map(base_url: str, texts: list[str], concurrency: int) -> Timing:
    import openai

    from extractkit import AsyncExtractor

    async def main() -> Timing:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
        ex = AsyncExtractor(client=client, model="gpt-4o-mini")
        await ex.extract(Invoice, texts[0])  # start-up
        clock = _Clock()
        ok = 0
        async for item in ex.map(Invoice, texts, concurrency=concurrency):
            ok += item.ok
        elapsed = clock.stop()
        assert ok == len(texts)
        await client.close()
        return elapsed

    return asyncio.run(main())


def _sync_map(base_url: str, texts: list[str], concurrency: int) -> Timing:
    import openai

    from extractkit import Extractor

    client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0)
    ex = Extractor(client=client, model="gpt-4o-mini")
    ex.extract(Invoice, texts[0])  # start-up
    clock = _Clock()
    ok = sum(item.ok for item in ex.map(Invoice, texts, concurrency=concurrency))
    elapsed = clock.stop()
    assert ok == len(texts)
    client.close()
    return elapsed


BARE = "bare AsyncOpenAI + Semaphore"
ASYNC = "extractkit async map"
SYNC = "extractkit sync map (threads)"


def throughput(args: argparse.Namespace) -> None:
    from extractkit import Extractor

    texts = [_text(i) for i in range(args.inputs)]
    ex = Extractor(base_url="http://127.0.0.1:9/v1", api_key="bench", model="gpt-4o-mini")
    requests = [ex.render(Invoice, t) for t in texts]
    server = Server(args.latency)
    variants: dict[str, Callable[[], Timing]] = {
        BARE: lambda: _bare(server.base_url, requests, args.concurrency),
        ASYNC: lambda: _async_map(server.base_url, texts, args.concurrency),
        SYNC: lambda: _sync_map(server.base_url, texts, args.concurrency),
    }
    times: dict[str, list[Timing]] = {name: [] for name in variants}
    try:
        for round_ in range(args.rounds):
            for name, run in variants.items():
                times[name].append(run())
                wall, cpu = times[name][-1]
                print(
                    f"  round {round_ + 1}: {name}: {wall:.2f} s wall, {cpu:.2f} s CPU",
                    file=sys.stderr,
                )
    finally:
        server.close()
    _report(args, times)


def _report(args: argparse.Namespace, times: dict[str, list[Timing]]) -> None:
    ideal = args.inputs * args.latency / args.concurrency
    bare = min(w for w, _ in times[BARE])
    bare_cpu = min(c for _, c in times[BARE])
    print(
        f"\n{args.inputs} inputs, latency {args.latency * 1000:.0f} ms, concurrency "
        f"{args.concurrency}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"ideal N*latency/concurrency = {ideal:.2f} s"
    )
    print(
        f"{'variant':32} {'wall':>7} {'rounds':>14} {'/ideal':>7} {'/bare':>6} "
        f"{'CPU':>7} {'/bare':>6}"
    )
    for name, values in times.items():
        wall = min(w for w, _ in values)
        cpu = min(c for _, c in values)
        rounds = " ".join(f"{w:.1f}" for w, _ in values)
        print(
            f"{name:32} {wall:6.2f}s {rounds:>14} {wall / ideal:6.2f}x {wall / bare:5.2f}x "
            f"{cpu:6.2f}s {cpu / bare_cpu:5.2f}x"
        )
    ratio = min(w for w, _ in times[ASYNC]) / bare
    verdict = "within" if ratio <= 1.2 else "OVER"
    print(f"budget: extractkit async map / bare (wall) = {ratio:.2f} ({verdict} the 1.2x budget)")


# -- memory -----------------------------------------------------------------------


def _status_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Start the peak (``VmHWM``) afresh from the current RSS, where Linux allows it."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def rss_child(base_url: str, inputs: int, concurrency: int, workdir: str) -> None:
    """Child process: ``extractkit run`` over a JSONL of ``inputs`` lines; prints RSS."""
    from extractkit.cli import main

    work = Path(workdir)
    schema = work / "invoice.py"
    schema.write_text(SCHEMA_FILE)
    data = work / f"inputs-{inputs}.jsonl"
    with data.open("w") as f:
        for i in range(inputs):
            f.write(json.dumps({"id": f"doc-{i}", "text": _text(i)}) + "\n")
    os.environ.update({"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "bench"})
    argv = ["run", str(schema), "--model", "gpt-4o-mini", "--concurrency", str(concurrency)]
    warm = work / "one.jsonl"
    warm.write_text("".join(json.dumps({"id": f"w{i}", "text": _text(i)}) + "\n" for i in (0, 1)))
    main([*argv, str(warm), "--output", str(work / "warm.out")], err=open(os.devnull, "w"))  # noqa: SIM115
    after_start = _status_mb("VmRSS")
    _reset_peak()
    start = time.perf_counter()
    code = main([*argv, str(data), "--output", str(work / "out.jsonl")], err=open(os.devnull, "w"))  # noqa: SIM115
    elapsed = time.perf_counter() - start
    lines = sum(1 for _ in (work / "out.jsonl").open())
    assert code == 0 and lines == inputs, (code, lines)
    peak = _status_mb("VmHWM")
    print(json.dumps({"after_start": after_start, "peak": peak, "seconds": elapsed}))


def memory(args: argparse.Namespace) -> None:
    print(f"\npeak RSS of `extractkit run` (JSONL in/out, --concurrency {args.concurrency}):")
    for inputs, latency in ((1_000, args.latency), (10_000, args.rss_latency)):
        server = Server(latency)
        try:
            with tempfile.TemporaryDirectory() as work:
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--rss-child",
                        server.base_url,
                        str(inputs),
                        str(args.concurrency),
                        work,
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
        finally:
            server.close()
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"  {inputs:>6} inputs (latency {latency * 1000:.0f} ms): after start-up "
            f"{r['after_start']:.1f} MB, peak {r['peak']:.1f} MB "
            f"(+{r['peak'] - r['after_start']:.1f} MB), {r['seconds']:.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--rss-latency",
        type=float,
        default=0.02,
        help="server latency for the 10,000-input memory run",
    )
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--rss-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(args.serve)
    if args.rss_child:
        base_url, inputs, concurrency, work = args.rss_child
        return rss_child(base_url, int(inputs), int(concurrency), work)
    print(f"load average at start: {os.getloadavg()}", file=sys.stderr)
    if not args.skip_throughput:
        throughput(args)
    if not args.skip_memory:
        memory(args)


if __name__ == "__main__":
    main()
