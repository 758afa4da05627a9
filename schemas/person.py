"""A person mentioned in a text: the smallest useful example."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Person(BaseModel):
    """The main person described in the text."""

    name: str = Field(description="Full name as written")
    age: int | None = Field(default=None, ge=0, le=150, description="Age in years")
    city: str | None = Field(default=None, description="City where the person lives")
