"""What an ``@lm`` call gives back: :class:`LMResponse`, :class:`ToolCall` and :class:`Usage`.

``LMResponse`` is a ``str`` (the reply's text), so code that treats an LM call's result as a
string keeps working; the extra information of the reply hangs off it as read-only
attributes.  The three types know nothing about any provider: ``streamify._lm_chunks`` fills
them in from the raw chunks of the OpenAI and Anthropic streams.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterable, Optional, Tuple

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ("LMResponse", "ToolCall", "Usage")

_QUOTE_LIMIT = 1000  # characters of a broken argument text quoted in the ValueError


@dataclass(frozen=True)
class ToolCall:
    """A call of a tool (a function) that the model asked for.

    Parameters:
        id: the provider's id of the call, the one a tool result must refer to (OpenAI Chat
            Completions' ``tool_calls[i].id``, Responses' ``call_id``, Anthropic's
            ``tool_use`` block ``id``); ``""`` when the provider sent none.
        name: the name of the tool.
        arguments: the arguments exactly as the model wrote them, a JSON text (usually an
            object).  It is kept as text, unparsed, so nothing is lost or reordered; use
            :attr:`args` for the parsed value.
    """

    id: str
    name: str
    arguments: str

    @property
    def args(self) -> Any:
        """The arguments parsed from JSON, a fresh object on each access.

        An empty (or all-whitespace) argument text, which some servers send for a tool
        without parameters, gives ``{}``.

        Returns:
            The parsed JSON value, usually a ``dict``.

        Raises:
            ValueError: the argument text is not valid JSON (a model may write broken JSON,
                or the stream was cut off).  The message quotes the text.
        """
        text = self.arguments
        if not text.strip():
            return {}
        try:
            return json.loads(text)
        except ValueError as exc:
            quoted = text if len(text) <= _QUOTE_LIMIT else text[:_QUOTE_LIMIT] + "..."
            raise ValueError(
                f"the arguments of tool call {self.name!r} (id {self.id!r}) are not valid "
                f"JSON ({exc}): {quoted!r}"
            ) from exc


@dataclass(frozen=True)
class Usage:
    """Tokens counted by the provider for one LM reply (or a sum of replies of one model).

    Parameters:
        input_tokens: tokens of the prompt, cached ones included (OpenAI's ``prompt_tokens``
            / ``input_tokens``; Anthropic's ``input_tokens`` plus its
            ``cache_creation_input_tokens`` and ``cache_read_input_tokens``).
        output_tokens: tokens the model produced, reasoning tokens included.
        total_tokens: the provider's total when it sends one, else the sum of the two.
        model: the model that answered, as the provider names it; ``None`` when unknown.

    Usages of the same model add up with ``+`` (and ``sum(usages)`` works, starting from
    ``0``); :meth:`by_model` totals a mixed collection per model.
    """

    input_tokens: int
    output_tokens: int
    total_tokens: int
    model: Optional[str] = None

    def __add__(self, other: Usage) -> Usage:
        """Return the sum of two usages of the same model.

        Parameters:
            other: another ``Usage``.

        Returns:
            A new ``Usage`` with each count summed and the shared ``model``.

        Raises:
            ValueError: the two usages are of different models (adding them would make
                per-model accounting wrong; use :meth:`by_model`).
        """
        if not isinstance(other, Usage):
            return NotImplemented
        if other.model != self.model:
            raise ValueError(
                f"cannot add the usage of model {other.model!r} to that of model "
                f"{self.model!r}; total mixed usages with Usage.by_model()"
            )
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.total_tokens + other.total_tokens,
            self.model,
        )

    def __radd__(self, other: int) -> Usage:
        # ``sum(usages)`` starts from the int 0.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    @staticmethod
    def by_model(usages: Iterable[Optional[Usage]]) -> Dict[Optional[str], Usage]:
        """Total usages per model.

        Parameters:
            usages: any number of ``Usage`` records; ``None`` entries (replies without
                usage) are skipped.

        Returns:
            A dict from each model (``None`` for usages of no known model) to the sum of its
            usages, in the order the models first appear.
        """
        totals: Dict[Optional[str], Usage] = {}
        for usage in usages:
            if usage is None:
                continue
            known = totals.get(usage.model)
            totals[usage.model] = usage if known is None else known + usage
        return totals


class LMResponse(str):
    """The reply of an LM call: its text, as a ``str``, plus what else the model sent.

    ``LMResponse`` *is* the text: ``str`` methods, ``json.loads``, f-strings and string
    comparison all see the text alone.  In particular **equality and hashing are those of
    the text**: ``LMResponse("hi", reasoning="...") == "hi"`` is true, and two responses with
    the same text but different tool calls compare equal; compare the attributes to tell
    them apart.  String operations (``upper()``, slicing, ``+``) return plain ``str``.

    The response is immutable.  ``copy``, ``deepcopy`` and ``pickle`` keep every attribute.

    Parameters:
        text: the reply's text (every text delta joined).
        reasoning: the reasoning (thinking) text the model streamed, ``""`` when none.
        tool_calls: the tool calls the model asked for, in the order they began.
        usage: the tokens counted by the provider, ``None`` when it reported none.
        finish_reason: why the model stopped, in the provider's own words (Chat Completions'
            ``finish_reason`` such as ``"stop"``, ``"length"``, ``"tool_calls"``; Anthropic's
            ``stop_reason`` such as ``"end_turn"``, ``"max_tokens"``, ``"tool_use"``; for the
            Responses API the response's status ``"completed"``, or the reason it is
            incomplete such as ``"max_output_tokens"``); ``None`` when unknown.

    Raises:
        TypeError: an argument has the wrong type.
    """

    if TYPE_CHECKING:
        _reasoning: str
        _tool_calls: Tuple[ToolCall, ...]
        _usage: Optional[Usage]
        _finish_reason: Optional[str]

    def __new__(
        cls,
        text: str = "",
        *,
        reasoning: str = "",
        tool_calls: Iterable[ToolCall] = (),
        usage: Optional[Usage] = None,
        finish_reason: Optional[str] = None,
    ) -> Self:
        if not isinstance(text, str):
            raise TypeError(f"LMResponse text must be a str, got {type(text).__name__}")
        if not isinstance(reasoning, str):
            raise TypeError(f"LMResponse reasoning must be a str, got {type(reasoning).__name__}")
        calls = tuple(tool_calls)
        for call in calls:
            if not isinstance(call, ToolCall):
                raise TypeError(
                    f"LMResponse tool_calls must hold ToolCall objects, got {type(call).__name__}"
                )
        if usage is not None and not isinstance(usage, Usage):
            raise TypeError(f"LMResponse usage must be a Usage or None, got {type(usage).__name__}")
        if finish_reason is not None and not isinstance(finish_reason, str):
            raise TypeError(
                "LMResponse finish_reason must be a str or None, got "
                + type(finish_reason).__name__
            )
        self = super().__new__(cls, text)
        fields = self.__dict__
        fields["_reasoning"] = reasoning
        fields["_tool_calls"] = calls
        fields["_usage"] = usage
        fields["_finish_reason"] = finish_reason
        return self

    @property
    def text(self) -> str:
        """The reply's text as a plain ``str``."""
        return str.__str__(self)

    @property
    def reasoning(self) -> str:
        """The reasoning (thinking) text, ``""`` when the model streamed none."""
        return self._reasoning

    @property
    def tool_calls(self) -> Tuple[ToolCall, ...]:
        """The tool calls the model asked for, in the order they began (``()`` when none)."""
        return self._tool_calls

    @property
    def usage(self) -> Optional[Usage]:
        """The tokens counted by the provider, ``None`` when it reported none."""
        return self._usage

    @property
    def finish_reason(self) -> Optional[str]:
        """Why the model stopped, in the provider's own words; ``None`` when unknown."""
        return self._finish_reason

    if not TYPE_CHECKING:  # hidden from type checkers, which then flag stray assignments

        def __setattr__(self, name: str, value: object) -> None:
            raise AttributeError(f"LMResponse is immutable: cannot set {name!r}")

        def __delattr__(self, name: str) -> None:
            raise AttributeError(f"LMResponse is immutable: cannot delete {name!r}")

    def __reduce__(self) -> Tuple[Any, ...]:
        # Used by pickle (every protocol), copy.copy and copy.deepcopy.
        return (
            _rebuild,
            (
                type(self),
                str.__str__(self),
                self._reasoning,
                self._tool_calls,
                self._usage,
                self._finish_reason,
            ),
        )

    def __repr__(self) -> str:
        parts = [str.__repr__(self)]
        if self._reasoning:
            parts.append(f"reasoning={self._reasoning!r}")
        if self._tool_calls:
            parts.append(f"tool_calls={self._tool_calls!r}")
        if self._usage is not None:
            parts.append(f"usage={self._usage!r}")
        if self._finish_reason is not None:
            parts.append(f"finish_reason={self._finish_reason!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def _rebuild(
    cls: type[LMResponse],
    text: str,
    reasoning: str,
    tool_calls: Tuple[ToolCall, ...],
    usage: Optional[Usage],
    finish_reason: Optional[str],
) -> LMResponse:
    return cls(
        text, reasoning=reasoning, tool_calls=tool_calls, usage=usage, finish_reason=finish_reason
    )


def usage_by_model(usages: Iterable[Usage]) -> dict[str, dict[str, int]]:
    """Per-model totals in DSPy's ``get_lm_usage()`` shape (``"unknown"`` for no model)."""
    totals: dict[str, dict[str, int]] = {}
    for usage in usages:
        entry = totals.setdefault(
            usage.model or "unknown",
            {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        )
        entry["prompt_tokens"] += usage.input_tokens
        entry["completion_tokens"] += usage.output_tokens
        entry["total_tokens"] += usage.total_tokens
    return totals
