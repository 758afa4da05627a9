"""Every event in a text: a list return type."""

from __future__ import annotations

from pydantic import BaseModel, Field

from extractkit import extract


class Event(BaseModel):
    title: str
    date: str | None = Field(default=None, description="ISO date (YYYY-MM-DD) if given")
    location: str | None = None


@extract
def events(text: str) -> list[Event]:
    """List every event mentioned in this text, in order.

    {{ text }}"""
