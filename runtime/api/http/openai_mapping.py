"""OpenAI-compatible requests mapped onto Generate, and a model's generated items read as text.

Which models can serve them (``text_target``), the request bodies, how a prompt or chat becomes
the inputs and parameters of a modelrt.v1 GenerateRequest, where each item's text comes from
(``item_text``) and how stop sequences cut the text (``StopScanner``). README "OpenAI-compatible
routes" documents the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from loader.config import InputSpec
from modelrt import codec
from modelrt.v1 import runtime_pb2, value_pb2
from registry.errors import ErrorCode, ModelrtError
from runtime.engine.models import ModelRecord
from runtime.errors import BadRequestError
from runtime.instances.outputs import ModelOutput

#: Where an item's text is read from, in this order: a named output, then a structured field.
TEXT_FIELDS = ("token", "text")
#: The structured field through which a model may report how many tokens its prompt had.
PROMPT_TOKENS_FIELD = "prompt_tokens"
MAX_STOP_SEQUENCES = 4


class NotATextGeneratorError(ModelrtError):
    """The model an OpenAI-compatible route names cannot generate text from a prompt."""

    code = ErrorCode.INVALID_ARGUMENT
    reason = "NOT_A_TEXT_GENERATOR"


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool | None = False


class _Generation(BaseModel):
    """What completions and chat share; fields this server does not use are ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field(description="A model name, or name:version for one version.")
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int | None = Field(default=1, description="Only 1 is supported.")
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, description="Accepted and ignored.")

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class CompletionRequest(_Generation):
    """POST /v1/completions."""

    prompt: str | list[str]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[ContentPart] | None = None


class ChatRequest(_Generation):
    """POST /v1/chat/completions."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)


@dataclass(frozen=True)
class TextTarget:
    """The input a prompt goes into (kind text) and the one chat messages go into (kind json,
    named ``messages``); at least one is set."""

    prompt_input: str | None
    messages_input: str | None


def _fits(inputs: Sequence[InputSpec], chosen: InputSpec | None) -> bool:
    """Whether ``chosen`` is the only input the model needs (every other one is optional)."""
    return chosen is not None and all(s.optional or s is chosen for s in inputs)


def text_target(record: ModelRecord) -> TextTarget | None:
    """Where a prompt or chat goes in ``record``'s model, or None when it cannot take one.

    A model qualifies when it generates and declares a text input (``prompt``, else its only
    text input) or a JSON input named ``messages``, and needs no other input.
    """
    if "generate" not in record.capabilities or record.prepared is None:
        return None
    inputs = record.prepared.config.inputs
    texts = [s for s in inputs if s.kind == "text"]
    prompt = next((s for s in texts if s.name == "prompt"), texts[0] if len(texts) == 1 else None)
    messages = next((s for s in inputs if s.name == "messages" and s.kind == "json"), None)
    target = TextTarget(
        prompt.name if prompt is not None and _fits(inputs, prompt) else None,
        messages.name if messages is not None and _fits(inputs, messages) else None,
    )
    return target if target.prompt_input or target.messages_input else None


def check_n(n: int | None) -> None:
    if n is not None and n != 1:
        raise BadRequestError(
            f"n={n} is not supported: this server generates one choice per request (n=1)",
            metadata={"field": "n"},
        )


def stop_sequences(stop: str | list[str] | None) -> list[str]:
    """The request's stop sequences (empty ones dropped); at most four, as OpenAI allows."""
    sequences = [stop] if isinstance(stop, str) else list(stop or [])
    if len(sequences) > MAX_STOP_SEQUENCES:
        raise BadRequestError(
            f"stop takes at most {MAX_STOP_SEQUENCES} sequences, got {len(sequences)}",
            metadata={"field": "stop"},
        )
    return [s for s in sequences if s]


def parameters(request: _Generation, max_tokens: int | None) -> dict[str, Any]:
    """The sampling settings the request gives, as Generate parameters (unset ones left out)."""
    given = {
        "max_tokens": max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "stop": stop_sequences(request.stop) or None,
    }
    return {name: value for name, value in given.items() if value is not None}


def completion_prompt(request: CompletionRequest) -> str:
    """The one prompt of a completion request (a list must hold exactly one)."""
    if isinstance(request.prompt, str):
        return request.prompt
    if len(request.prompt) != 1:
        raise BadRequestError(
            f"prompt: send one prompt per request, got {len(request.prompt)}",
            metadata={"field": "prompt"},
        )
    return request.prompt[0]


def message_text(message: ChatMessage) -> str:
    """A message's content as text; content parts other than text are refused."""
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    pieces = []
    for part in message.content:
        if part.type != "text" or part.text is None:
            raise BadRequestError(
                f"messages: content parts of type {part.type!r} are not supported, only text",
                metadata={"field": "messages"},
            )
        pieces.append(part.text)
    return "".join(pieces)


def render_chat(messages: Sequence[Mapping[str, str]]) -> str:
    """Chat messages as one prompt: a ``role: content`` line each, then ``assistant:``.

    >>> render_chat([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    'system: Be brief.\\nuser: Hi\\nassistant:'
    """
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join([*lines, "assistant:"])


def chat_messages(request: ChatRequest) -> list[dict[str, str]]:
    return [{"role": m.role, "content": message_text(m)} for m in request.messages]


def generate_request(
    record: ModelRecord,
    target: TextTarget,
    chat: list[dict[str, str]] | None,
    prompt: str,
    params: Mapping[str, Any],
    request_id: str,
) -> runtime_pb2.GenerateRequest:
    """The GenerateRequest for a completion's ``prompt`` or a ``chat``.

    A chat goes into the model's ``messages`` input when it has one, else into its prompt input
    rendered by ``render_chat``; a completion goes into the prompt input, else into ``messages``
    as one user message.
    """
    messages = chat if chat is not None else [{"role": "user", "content": prompt}]
    use_messages = target.messages_input is not None and (
        chat is not None or target.prompt_input is None
    )
    if use_messages:
        assert target.messages_input is not None
        inputs = {target.messages_input: value_pb2.Value(json=codec.python_to_json(messages))}
    else:
        assert target.prompt_input is not None
        inputs = {target.prompt_input: value_pb2.Value(text=prompt)}
    return runtime_pb2.GenerateRequest(
        model=record.name,
        version=record.version,
        inputs=inputs,
        parameters=codec.dict_to_struct(params),
        request_id=request_id,
    )


def _as_text(value: Any) -> str | None:
    import numpy as np

    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray) and value.dtype.kind in "USO":
        return "".join(_as_text(v) or "" for v in value.ravel().tolist())
    return value if isinstance(value, str) else None


def item_text(item: ModelOutput) -> str | None:
    """The text of one generated item: an output named ``token`` or ``text``, else that field of
    the structured output (or the structured output itself when it is a string)."""
    for name in TEXT_FIELDS:
        if name in item.outputs:
            return _as_text(item.outputs[name])
    structured = item.structured
    if isinstance(structured, str):
        return structured
    if isinstance(structured, dict):
        for name in TEXT_FIELDS:
            if isinstance(structured.get(name), str):
                return str(structured[name])
    return None


def reported_prompt_tokens(item: ModelOutput) -> int | None:
    """The prompt's token count when the item's structured output reports it."""
    structured = item.structured
    if isinstance(structured, dict):
        count = structured.get(PROMPT_TOKENS_FIELD)
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            return count
    return None


class StopScanner:
    """Cuts generated text at the first stop sequence, across item boundaries.

    Text that may be the start of a stop sequence is held back until the next piece shows
    whether it is.

    >>> scanner = StopScanner(["\\n\\n"])
    >>> scanner.feed("one\\n"), scanner.feed("\\ntwo")
    (('one', False), ('', True))
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self._pending = ""

    def feed(self, piece: str) -> tuple[str, bool]:
        """(text safe to send now, whether a stop sequence was reached)."""
        if not self.stops:
            return piece, False
        pending = self._pending + piece
        found = [at for at in (pending.find(s) for s in self.stops) if at >= 0]
        if found:
            self._pending = ""
            return pending[: min(found)], True
        held = self._held(pending)
        self._pending = pending[len(pending) - held :] if held else ""
        return pending[: len(pending) - held], False

    def _held(self, text: str) -> int:
        """Length of the longest end of ``text`` that begins some stop sequence."""
        longest = max(len(s) for s in self.stops) - 1
        for size in range(min(longest, len(text)), 0, -1):
            if any(stop.startswith(text[-size:]) for stop in self.stops):
                return size
        return 0

    def flush(self) -> str:
        """What is still held back when the generation ends without a stop."""
        rest, self._pending = self._pending, ""
        return rest
