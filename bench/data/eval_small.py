"""The schema of ``eval_small.jsonl``: twelve short order messages with expected values,
written by hand for extractkit's eval bench (``bench/eval_run.py``); no third-party text."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from extractkit.markers import Match


class Item(BaseModel):
    name: Annotated[str, Match("fuzzy", threshold=0.8)]  # "mugs" for "mug"
    quantity: int


class Order(BaseModel):
    customer: str
    email: str | None = None
    date: Annotated[str | None, Match("date")] = None
    total: Annotated[float | None, Match("numeric", tolerance=0.01)] = None
    items: list[Item] = []
