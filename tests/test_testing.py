"""extractkit.testing: the public test doubles drive the real loop end to end."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from pydantic import BaseModel, Field, field_validator

from extractkit import AsyncExtractor, ExtractionError, Extractor, extract
from extractkit.testing import FunctionModel, ModelCall, TestModel, minimal_instance


class Person(BaseModel):
    name: str
    age: int = Field(ge=0)
    role: Literal["admin", "user"] = "user"

    @field_validator("name")
    @classmethod
    def _capitalised(cls, v: str) -> str:
        if not v[:1].isupper():
            raise ValueError("name must be capitalised")
        return v


def test_test_model_answers_values_in_turn_and_records_calls() -> None:
    model = TestModel([{"name": "Ann", "age": 3}, {"name": "Bo", "age": 4}])
    ex = Extractor(client=model)
    assert ex.extract(Person, "Ann is 3").name == "Ann"
    assert ex.extract(Person, "Bo is 4").age == 4
    assert ex.extract(Person, "again").name == "Bo"  # the last value repeats
    assert [c.number for c in model.calls] == [1, 2, 3]
    assert "Ann is 3" in model.calls[0].user_text
    assert model.calls[0].schema is not None and "name" in model.calls[0].schema["properties"]


def test_minimal_instances_validate() -> None:
    class Item(BaseModel):
        sku: str = Field(min_length=3)
        qty: int = Field(gt=0)
        tags: list[str] = Field(min_length=1)

    value = minimal_instance(Item.model_json_schema())
    assert Item.model_validate(value).qty == 1
    assert Extractor(client=TestModel()).extract(Item, "x").sku == "example"


def test_function_model_sees_reasks_and_raw_text() -> None:
    def answer(call: ModelCall) -> object:
        if not call.is_reask:
            return '```json\n{"name": "ann", "age": 5,}\n```'  # repaired locally, then invalid
        return {"name": "Ann", "age": 5}

    model = FunctionModel(answer)
    result = Extractor(client=model, max_retries=1).extract_result(Person, "ann, 5")
    assert result.value.name == "Ann"
    assert len(result.attempts) == 2
    assert "capitalised" in " ".join(result.attempts[0].errors)
    assert model.calls[1].is_reask


def test_exhausted_reasks_raise_with_every_attempt() -> None:
    model = TestModel([{"name": "x", "age": -1}])
    with pytest.raises(ExtractionError) as info:
        Extractor(client=model, max_retries=2).extract(Person, "nobody")
    assert len(info.value.attempts) == 3


def test_decorated_function_tools_mode_and_stream() -> None:
    model = TestModel([{"name": "Cy", "age": 7, "role": "admin"}])

    @extract(client=model, mode="tools")
    def person(text: str) -> Person:
        """Who? {{ text }}"""

    assert person("Cy, 7, admin").role == "admin"
    assert model.calls[0].tool_name == "Person"
    snaps = list(Extractor(client=model).stream(Person, "Cy"))
    assert snaps[-1].done and snaps[-1].value.name == "Cy"


def test_async_front_door() -> None:
    model = TestModel([{"name": "Di", "age": 9}])

    async def main() -> Person:
        return await AsyncExtractor(client=model).extract(Person, "Di is 9")

    assert asyncio.run(main()).name == "Di"
    assert len(model.calls) == 1
