"""extractkit: typed structured extraction from LLMs.

Declare *what* to extract as a Pydantic model (or a JSON Schema), *how to ask*
as a Jinja template, and get validated, typed values back from OpenAI, any
OpenAI-compatible endpoint, or the embedded local model.
"""

from __future__ import annotations

from .batch_api import BatchAPI
from .cache import ResponseCache
from .conversation import Message, Messages
from .decorator import AsyncExtractFunction, ExtractFunction, extract
from .drivers.gate import Gate, ThreadGate
from .drivers.jobs import ItemResult
from .drivers.stream import Snapshot
from .endpoints import Endpoint
from .errors import (
    ArgumentsError,
    ConfigurationError,
    ContentFilterError,
    DeadlineError,
    EndpointsUnavailableError,
    ExtractionError,
    ExtractkitError,
    FatalError,
    IncompleteOutputError,
    InputError,
    ModerationError,
    RefusalError,
    SchemaError,
    SpendLimitReached,
    TemplateError,
)
from .eval import EvalReport, evaluate
from .extractor import AsyncExtractor, Extractor
from .profiles import Profile, get_profile, register_profile
from .results import Attempt, Result, Usage

__version__ = "0.1.0"

__all__ = [
    "ArgumentsError",
    "AsyncExtractFunction",
    "AsyncExtractor",
    "Attempt",
    "BatchAPI",
    "ConfigurationError",
    "ContentFilterError",
    "DeadlineError",
    "Endpoint",
    "EndpointsUnavailableError",
    "EvalReport",
    "ExtractFunction",
    "ExtractionError",
    "ExtractkitError",
    "Extractor",
    "FatalError",
    "Gate",
    "IncompleteOutputError",
    "InputError",
    "ItemResult",
    "Message",
    "Messages",
    "ModerationError",
    "Profile",
    "RefusalError",
    "ResponseCache",
    "Result",
    "SchemaError",
    "Snapshot",
    "SpendLimitReached",
    "TemplateError",
    "ThreadGate",
    "Usage",
    "__version__",
    "evaluate",
    "extract",
    "get_profile",
    "register_profile",
]
