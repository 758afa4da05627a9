"""@extract on sync and async functions, against the scripted server through the real SDK."""

from __future__ import annotations

from enum import Enum
from typing import Literal

import pytest
from pydantic import BaseModel, ValidationInfo, field_validator

from extractkit import ConfigurationError, TemplateError, extract
from tests.scripted_server import completion


class Invoice(BaseModel):
    number: str
    currency: str
    total: float


class Size(Enum):
    S = "S"
    M = "M"


def test_sync_function_binds_arguments_and_defaults(server, client):
    @extract(client=client, model="m", mode="json_schema", max_retries=2)
    def invoice(text: str, currency_hint: str = "EUR") -> Invoice:
        """Extract the invoice. Assume {{ currency_hint }} when no currency is given.
        Document:
        {{ text }}"""

    server.push(completion('{"number": "7", "currency": "EUR", "total": 3.5}'))
    inv = invoice("Invoice 7, total 3.50")
    assert inv == Invoice(number="7", currency="EUR", total=3.5)
    user = server.bodies()[0]["messages"][-1]["content"]
    assert user == (
        "Extract the invoice. Assume EUR when no currency is given.\n"
        "Document:\nInvoice 7, total 3.50"
    )
    server.push(completion('{"number": "8", "currency": "USD", "total": 1}'))
    invoice(text="x", currency_hint="USD")
    assert "Assume USD" in server.bodies()[1]["messages"][-1]["content"]


def test_wrong_arguments_raise_type_error_naming_the_function(client):
    @extract(client=client, model="m")
    def invoice(text: str) -> Invoice:
        """{{ text }}"""

    with pytest.raises(TypeError, match="invoice"):
        invoice()  # type: ignore[call-arg]


async def test_async_function_returns_awaitable(server, aclient):
    @extract(client=aclient, model="m")
    async def invoice(text: str) -> Invoice:
        """{{ text }}"""

    server.push(completion('{"number": "1", "currency": "EUR"}'),
                completion('{"number": "1", "currency": "EUR", "total": 2}'))
    result = await invoice.result("doc")
    assert result.value.total == 2 and len(result.attempts) == 2


def test_list_and_primitive_return_types(server, client):
    @extract(client=client, model="m")
    def names(text: str) -> list[str]:
        """Names in: {{ text }}"""

    @extract(client=client, model="m")
    def size(text: str) -> Size:
        """Size in: {{ text }}"""

    @extract(client=client, model="m")
    def answer(text: str) -> Literal["yes", "no"] | None:
        """{{ text }}"""

    @extract(client=client, model="m")
    def count(text: str) -> int:
        """{{ text }}"""

    server.push(completion('{"value": ["Ada", "Bob"]}'), completion('{"value": "M"}'),
                completion('{"value": null}'), completion('{"value": 4}'))
    assert names("Ada and Bob") == ["Ada", "Bob"]
    assert size("medium") is Size.M
    assert answer("?") is None
    assert count("four") == 4


def test_json_schema_document_through_schema_argument(server, client):
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

    @extract(client=client, model="m", schema=schema)
    def place(text: str) -> dict:
        """{{ text }}"""

    server.push(completion('{"city": "Oslo"}'))
    assert place("I live in Oslo") == {"city": "Oslo"}


def test_body_returns_extra_template_variables(server, client):
    @extract(client=client, model="m")
    def invoice(text: str) -> Invoice:
        """Today is {{ today }}. {{ text | upper }}"""
        return {"today": "2026-01-02"}

    server.push(completion('{"number": "1", "currency": "EUR", "total": 1}'))
    invoice("abc")
    assert server.bodies()[0]["messages"][-1]["content"] == "Today is 2026-01-02. ABC"


def test_body_returning_a_non_dict_is_an_error(client):
    @extract(client=client, model="m")
    def invoice(text: str) -> Invoice:
        """{{ text }}"""
        return 3  # type: ignore[return-value]

    with pytest.raises(ConfigurationError, match="dict of extra template variables"):
        invoice.render("x")


def test_template_override_by_inline_text_and_by_path(server, client, tmp_path):
    path = tmp_path / "ask.j2"
    path.write_text("{% block system %}You are terse.{% endblock %}"
                    "{% block user %}Doc: {{ text }}{% endblock %}")

    @extract(client=client, model="m", prompt=path)
    def by_path(text: str) -> Invoice: ...

    @extract(client=client, model="m", prompt="Inline: {{ text }}")
    def inline(text: str) -> Invoice: ...

    messages = by_path.render("abc")["messages"]
    assert messages == [{"role": "system", "content": "You are terse."},
                        {"role": "user", "content": "Doc: abc"}]
    assert inline.render("abc")["messages"][-1]["content"] == "Inline: abc"


def test_template_override_by_name_in_prompts_dir(client, tmp_path):
    (tmp_path / "invoice.j2").write_text("Named template: {{ text }}")
    (tmp_path / "system.j2").write_text("Custom default system for {{ name }}.")

    @extract(client=client, model="m", prompt="invoice.j2", prompts_dir=tmp_path)
    def invoice(text: str) -> Invoice: ...

    messages = invoice.render("abc")["messages"]
    assert messages[0]["content"] == "Custom default system for Invoice."
    assert messages[1]["content"] == "Named template: abc"


def test_undefined_variable_names_variable_and_template_before_any_request(server, client):
    @extract(client=client, model="m")
    def invoice(text: str) -> Invoice:
        """{{ text }} {{ currency }}"""

    with pytest.raises(TemplateError) as info:
        invoice("x")
    assert info.value.variable == "currency"
    assert "invoice" in str(info.value) and "'currency'" in str(info.value)
    assert server.bodies() == []


def test_template_syntax_error_names_file_and_line(client, tmp_path):
    path = tmp_path / "broken.j2"
    path.write_text("line one\n{{ text }\n")

    @extract(client=client, model="m", prompt=path)
    def invoice(text: str) -> Invoice: ...

    with pytest.raises(TemplateError) as info:
        invoice.render("x")
    assert info.value.line == 2
    assert str(path) in str(info.value) and "line 2" in str(info.value)


def test_input_with_template_syntax_is_sent_verbatim(server, client):
    @extract(client=client, model="m")
    def invoice(text: str) -> Invoice:
        """Doc: {{ text }}"""

    nasty = "{{ 7*7 }} {% for x in range(3) %}{{ x }}{% endfor %} {{ config }}"
    server.push(completion('{"number": "1", "currency": "EUR", "total": 1}'))
    invoice(nasty)
    assert server.bodies()[0]["messages"][-1]["content"] == "Doc: " + nasty


def test_sandbox_blocks_unsafe_attribute_access(client):
    @extract(client=client, model="m")
    def invoice(text: str) -> Invoice:
        """{{ text.__class__.__mro__[1].__subclasses__() }}"""

    with pytest.raises(TemplateError, match=r"sandbox|unsafe|undefined"):
        invoice.render("x")


def test_validation_context_carries_template_variables(server, client):
    class Quote(BaseModel):
        quote: str

        @field_validator("quote")
        @classmethod
        def in_source(cls, v: str, info: ValidationInfo) -> str:
            if v not in info.context["text"]:
                raise ValueError(f"not in the source text (hint {info.context['hint']})")
            return v

    @extract(client=client, model="m")
    def quote(text: str, hint: str = "h") -> Quote:
        """{{ text }}"""

    server.push(completion('{"quote": "zzz"}'), completion('{"quote": "abc"}'))
    result = quote.result("abcdef")
    assert result.value.quote == "abc"
    assert "not in the source text (hint h)" in result.attempts[0].errors[0]


def test_dry_run_sends_nothing(server, client):
    @extract(client=client, model="m", temperature=0)
    def invoice(text: str) -> Invoice:
        """{{ text }}"""

    request = invoice.render("abc")
    assert request["model"] == "m" and request["temperature"] == 0
    assert request["response_format"]["type"] == "json_schema"
    assert request["messages"][-1]["content"] == "abc"
    assert server.bodies() == []


def test_settings_resolve_call_over_decorator_over_environment(server, client, monkeypatch):
    monkeypatch.setenv("EXTRACTKIT_MODEL", "env-model")

    @extract(client=client)
    def bare(text: str) -> Invoice:
        """{{ text }}"""

    @extract(client=client, model="deco-model")
    def deco(text: str) -> Invoice:
        """{{ text }}"""

    assert bare.render("x")["model"] == "env-model"
    assert deco.render("x")["model"] == "deco-model"
    assert deco.with_options(model="call-model", temperature=0.5).render("x")["model"] == "call-model"


def test_bare_decorator_with_environment(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "env-model")

    @extract
    def invoice(text: str) -> Invoice:
        """{{ text }}"""

    server.push(completion('{"number": "1", "currency": "EUR", "total": 1}'))
    assert invoice("x").number == "1"
    assert server.requests[0].headers["authorization"] == "Bearer sk-env"


def test_missing_model_for_remote_endpoint_is_a_configuration_error(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)

    @extract
    def invoice(text: str) -> Invoice:
        """{{ text }}"""

    with pytest.raises(ConfigurationError, match="EXTRACTKIT_MODEL"):
        invoice("x")


def test_decoration_errors_are_early():
    with pytest.raises(ConfigurationError, match="docstring"):
        @extract(model="m")
        def no_doc(text: str) -> Invoice: ...

    with pytest.raises(ConfigurationError, match="return annotation"):
        @extract(model="m")
        def no_return(text: str):  # type: ignore[no-untyped-def]
            """{{ text }}"""


def test_docstring_indentation_is_normalised(client):
    @extract(client=client, model="m")
    def f(text: str) -> Invoice:
        """First line.
            Indented more.
        Back.
        {{ text }}"""

    assert f.render("x")["messages"][-1]["content"] == "First line.\n    Indented more.\nBack.\nx"


def test_kwargs_are_spread_into_variables(client):
    @extract(client=client, model="m")
    def f(text: str, **extra: str) -> Invoice:
        """{{ text }} / {{ lang }}"""

    assert f.render("x", lang="de")["messages"][-1]["content"] == "x / de"
