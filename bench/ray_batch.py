"""``extractkit run --ray`` (a local Ray cluster, 2 actors) beside ``extractkit run
--concurrency`` on one machine, side by side in one run.

A scripted OpenAI-compatible server runs in its own process (``bench/batch.py``'s)
and answers every request after ``--latency`` seconds. Each variant is a fresh
``extractkit run`` process over the same JSONL inputs, timed wall-clock from
start to exit (so Ray's cluster start-up is in its time):

* ``local C``: ``--concurrency C``;
* ``local 2C``: ``--concurrency 2C`` (one machine, the same limit Ray gets);
* ``ray 2x C``: ``--ray --ray-actors 2 --concurrency 2C`` (each actor runs up to
  2C, the cluster-wide limit holds them to 2C together).

Every variant also runs over one input: that is its fixed cost (process start,
imports, for Ray the cluster and the actors). The per-input cost is
``(T(N) - T(1)) / (N - 1)``; the corpus size where Ray pays off is where its
line crosses the fastest local one (``never`` when its per-input cost is not lower:
against one endpoint with the same in-flight limit the cluster adds no
throughput; it pays off when one machine is the bottleneck -- CPU-bound
validation, the embedded model, or several machines' worth of endpoints).

    python bench/ray_batch.py [--inputs 1000] [--latency 0.2] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from batch import VALUE, Server  # noqa: E402


def _run(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "extractkit.cli", *argv], env=env,
                          capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"extractkit run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    server = Server(args.latency)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENAI_BASE_URL": server.base_url,
           "OPENAI_API_KEY": "sk-bench", "EXTRACTKIT_MODEL": "m",
           "RAY_USAGE_STATS_ENABLED": "0"}
    c = args.concurrency
    variants = {
        f"local {c}": ["--concurrency", str(c)],
        f"local {2 * c}": ["--concurrency", str(2 * c)],
        f"ray 2x{c}": ["--ray", "--ray-actors", "2", "--concurrency", str(2 * c)],
    }
    times: dict[str, dict[int, float]] = {name: {} for name in variants}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            schema = Path(tmp) / "invoice.json"
            from batch import Invoice

            schema.write_text(json.dumps(Invoice.model_json_schema()))
            for count in (1, args.inputs):
                inputs = Path(tmp) / f"in-{count}.jsonl"
                inputs.write_text("".join(
                    json.dumps({"id": f"doc-{i}", "text": f"Invoice {i} from ACME"}) + "\n"
                    for i in range(count)))
                for name, options in variants.items():  # side by side, same load
                    out = Path(tmp) / f"out-{count}-{name.replace(' ', '_')}.jsonl"
                    times[name][count] = _run(
                        ["run", str(schema), str(inputs), "-o", str(out), "--overwrite",
                         *options], env)
                    if count == 1:
                        continue  # one input locally: one JSON value, not records
                    lines = out.read_text().splitlines()
                    assert len(lines) == count and all(json.loads(x)["ok"] for x in lines)
                    assert json.loads(lines[0])["value"]["number"] == VALUE["number"]
    finally:
        server.close()

    n = args.inputs
    ideal = n * args.latency / (2 * c)
    print(f"\n{n} inputs, latency {args.latency * 1000:.0f} ms; ideal at {2 * c} in flight "
          f"= {ideal:.2f} s; wall time of the whole `extractkit run` process")
    print(f"{'variant':<12} {'T(1) s':>8} {'T(N) s':>8} {'per input ms':>13} {'vs local 2C':>12}")
    per: dict[str, float] = {}
    base = times[f"local {2 * c}"][n]
    for name, t in times.items():
        per[name] = (t[n] - t[1]) / max(1, n - 1)
        print(f"{name:<12} {t[1]:>8.2f} {t[n]:>8.2f} {per[name] * 1000:>13.2f} "
              f"{t[n] / base:>11.2f}x")
    ray_name = f"ray 2x{c}"
    startup = times[ray_name][1] - times[f"local {2 * c}"][1]
    print(f"\nRay's start-up cost (T(1) ray - T(1) local): {startup:.2f} s")
    best_local = min((k for k in per if k != ray_name), key=lambda k: times[k][n])
    gain = per[best_local] - per[ray_name]
    if gain > 0:
        crossing = (times[ray_name][1] - times[best_local][1]) / gain
        print(f"the cluster pays off beyond ~{crossing:,.0f} inputs (vs {best_local})")
    else:
        print(f"the cluster does not pay off here: per input it costs {-gain * 1000:.2f} ms more "
              f"than {best_local} (one endpoint, one limit: Ray adds start-up, not throughput)")


if __name__ == "__main__":
    main()
