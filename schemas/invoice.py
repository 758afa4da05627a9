"""An invoice with line items, as an @extract function with its own prompt."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from extractkit import extract


class LineItem(BaseModel):
    description: str
    quantity: float = Field(gt=0)
    unit_price: float = Field(description="Price of one unit")


class Invoice(BaseModel):
    """An invoice: who issued it, when, and what it charges for."""

    number: str = Field(description="Invoice number as printed")
    issued: date | None = Field(default=None, description="Issue date")
    seller: str
    currency: Literal["EUR", "USD", "GBP", "CHF"] = "EUR"
    items: list[LineItem] = Field(default_factory=list)
    total: float | None = Field(default=None, description="Grand total, taxes included")


@extract(max_retries=2)
def invoice(text: str, currency_hint: str = "EUR") -> Invoice:
    """Extract the invoice below. Assume {{ currency_hint }} when no currency is given.

    Document:
    {{ text }}"""
