"""What ``endpoint="auto"`` costs, side by side with one extraction, in one run.

A scripted loopback server answers like llama-cpp-python's (``owned_by: "me"`` in
``/models``, its ``/openapi.json`` title), so a detection takes its real number of
GETs (``/models``, ``/props``, ``/openapi.json``). Measured, each the median of
``--rounds``:

* ``extract``: one extraction through ``Extractor`` with ``endpoint="llamacpp"``
  (the request, the answer, validation);
* ``detect (first)``: the detection of a base URL not seen before;
* ``detect (cached)``: a later extractor's detection of the same URL (memory);
* ``detect (unknown)``: an unrecognized server, every probe tried once.

    python bench/detect_cost.py [--rounds 21]

Detection happens once per base URL and cache period, never per call, so the
budget is on the cached case: at most 1 % of one extraction.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import openai
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from extractkit import Extractor
from extractkit.detect import Detector
from tests.scripted_server import ScriptedServer, completion, json_reply


class Person(BaseModel):
    name: str
    age: int


def _llama_like(srv: ScriptedServer) -> None:
    srv.add_route("GET", "/v1/models", lambda s, r: json_reply(
        {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "me"}]}))
    srv.add_route("GET", "/openapi.json", lambda s, r: json_reply(
        {"info": {"title": "🦙 llama.cpp Python API", "version": "0.3.36"}, "paths": {}}))


def _median_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    answer = completion('{"name": "Ada", "age": 36}')
    with ScriptedServer(default=lambda body: answer) as llama, ScriptedServer() as unknown:
        _llama_like(llama)
        client = openai.OpenAI(base_url=llama.base_url, api_key="k", max_retries=0)
        ex = Extractor(client, model="m", endpoint="llamacpp")
        ex.extract(Person, "Ada is 36.")  # warm: plan compiled, connection open
        extract = _median_ms(lambda: ex.extract(Person, "Ada is 36."), args.rounds)

        def first() -> None:
            found = Detector(cache_file=None).detect(llama.base_url)
            assert found.profile == "llamacpp", found

        cached_detector = Detector(cache_file=None)
        cached_detector.detect(llama.base_url)
        detect_first = _median_ms(first, args.rounds)
        detect_cached = _median_ms(lambda: cached_detector.detect(llama.base_url), args.rounds)
        detect_unknown = _median_ms(
            lambda: Detector(cache_file=None).detect(unknown.base_url), args.rounds)
        gets = Detector(cache_file=None).detect(llama.base_url).requests
    rows = [
        ("extract (one call)", extract),
        (f"detect (first, {gets} GETs)", detect_first),
        ("detect (cached)", detect_cached),
        ("detect (unknown server)", detect_unknown),
    ]
    for name, ms in rows:
        print(f"{name:28} {ms:9.3f} ms   {ms / extract:7.3f}x one extraction")
    ok = detect_cached / extract <= 0.01
    print(f"cached detection ≤ 1 % of one extraction: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
