"""The dev set's schema: a contact / booking record pulled from a short message.

``messages.jsonl`` holds one JSON object per line, ``{"id", "text",
"expected"}``: a message written for this project and the record a careful
reader would extract from it (``null`` where the message does not say).
Every expected string is copied from its text, so a returned string that is
not in the text is an invented value. Used by ``bench/grounding_local.py``
(and readable by ``extractkit eval``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Booking(BaseModel):
    """A contact or booking request, as stated in the message."""

    name: str = Field(description="full name of the person writing or booking")
    email: str | None = Field(None, description="email address, if given")
    phone: str | None = Field(None, description="phone number as written, if given")
    city: str | None = Field(None, description="city mentioned for the person or booking")
    company: str | None = Field(None, description="company or organisation, if any")
    date: str | None = Field(None, description="date of the booking or meeting, as written")
    guests: int | None = Field(None, description="number of people, if given")


__all__ = ["Booking"]
