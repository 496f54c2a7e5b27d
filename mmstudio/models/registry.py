"""Registries: a dict from a lowercase snake_case name to an :class:`Entry` that builds a component.

The pattern follows timm and torchvision: builders are thin, keyword-only functions; registering a
name twice raises (never a warning that lets the second silently win); an unknown name raises an
error that lists what exists. Unlike timm, nothing is registered by importing an unrelated module:
each registry lives in the module whose decorators fill it (``text.py`` holds ``TEXT_ENCODERS``), so
importing the registry always yields it complete.

Each entry declares its parameters (:class:`Param`) with type, default, range or choices and a
one-line help, so the GUI builds its forms from :meth:`Registry.describe` and validation checks a
spec without building anything. An entry may be listed but unavailable (a pretrained encoder whose
weights are not installed): :meth:`Entry.available` says why, and :meth:`Registry.build` refuses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mmstudio.formatting import key_title

PARAM_TYPES = ("int", "float", "bool", "choice", "str")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
LOG_SCALE_RATIO = 1e4  # a positive range wider than this spans decades (1e-5 … 1e-1)

#: ``available(params) -> (ok, reason)``; params are the component's (possibly partial) parameters.
Availability = Callable[[Mapping[str, Any]], tuple[bool, str]]
#: ``check(params, ctx) -> [(level, message), ...]``: entry-specific validation of complete params.
Check = Callable[[Mapping[str, Any], Any], Iterable[tuple[str, str]]]


class UnknownNameError(KeyError):
    """A name that is not in a registry; the message lists the names that are."""

    def __str__(self) -> str:  # KeyError would print the message quoted, as a repr
        return str(self.args[0]) if self.args else ""


class UnavailableError(RuntimeError):
    """An entry that is listed but cannot be built here (e.g. its weights are not installed)."""


@dataclass(frozen=True)
class Param:
    """One parameter of a registry entry, with what a form needs to edit it and validation to check it.

    ``type`` is one of ``int``, ``float``, ``bool``, ``choice`` (one of ``choices``) or ``str``;
    ``low`` and ``high`` bound numbers, inclusive. ``title`` names it in a form where its name says
    little (``ff``: "Feed-forward size"); ``path`` marks a ``str`` that is a ``file`` or a ``folder``
    (a form offers a Browse button).
    """

    name: str
    type: str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    help: str = ""
    title: str | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ValueError(f"parameter {self.name!r}: type must be one of {PARAM_TYPES}, not {self.type!r}")
        if self.type == "choice" and not self.choices:
            raise ValueError(f"parameter {self.name!r}: a choice needs its choices")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.path not in (None, "file", "folder") or (self.path and self.type != "str"):
            raise ValueError(f"parameter {self.name!r}: path is 'file' or 'folder', on a str parameter")
        problem = self.check(self.default)
        if problem:
            raise ValueError(f"parameter {self.name!r}: the default is invalid: {problem}")

    def coerce(self, value: Any) -> Any:
        """The canonical form of a valid value: an int given for a float becomes a float (JSON writes
        ``1`` and ``1.0`` differently, and a stored spec should read back identical)."""
        if self.type == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable, or None when it is."""
        if self.type == "bool":
            return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
        if self.type == "str":
            return None if isinstance(value, str) else f"expected a string, got {value!r}"
        if self.type == "choice":
            if value in self.choices:
                return None
            return f"{value!r} is not one of {', '.join(map(repr, self.choices))}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {value!r}"
        if self.type == "int" and not isinstance(value, int):
            return f"expected a whole number, got {value!r}"
        if self.low is not None and value < self.low:
            return f"{value!r} is below the minimum {_num(self.low)}"
        if self.high is not None and value > self.high:
            return f"{value!r} is above the maximum {_num(self.high)}"
        return None

    @property
    def label(self) -> str:
        """How a form names it: its ``title``, else its name as words (``embed_dim`` → ``Embed dim``)."""
        return self.title or key_title(self.name)

    @property
    def log_scale(self) -> bool:
        """Whether a float is better typed than spun: a tiny default (``1e-4``) or a range over decades."""
        if self.type != "float":
            return False
        default = float(self.default)
        if default and abs(default) < 1e-3:
            return True
        low, high = self.low, self.high
        return low is not None and high is not None and low > 0 and high / low >= LOG_SCALE_RATIO

    def int_range(self, limit: int) -> tuple[int, int]:
        """The whole numbers within the bounds, the missing bounds and all taken as at most ``limit``
        from zero (what an editor holding ``[-limit, limit]`` can offer)."""
        low = -limit if self.low is None else max(-limit, min(limit, math.ceil(self.low)))
        high = limit if self.high is None else max(-limit, min(limit, math.floor(self.high)))
        return low, high

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "low": self.low,
            "high": self.high,
            "choices": list(self.choices) if self.choices is not None else None,
            "help": self.help,
            "title": self.label,
            "path": self.path,
        }


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _always(_params: Mapping[str, Any]) -> tuple[bool, str]:
    return True, ""


@dataclass(frozen=True)
class Entry:
    """A registered component: its builder, help, parameters, availability and facts (``info``) that
    validation and the GUI use without building it (e.g. the tasks a head serves)."""

    name: str
    builder: Callable[..., Any]
    help: str
    params: tuple[Param, ...] = ()
    availability: Availability = _always
    check: Check | None = None
    info: Mapping[str, Any] = field(default_factory=dict)

    def available(self, params: Mapping[str, Any] | None = None) -> tuple[bool, str]:
        """``(True, "")`` or ``(False, why)``; some entries depend on their params (a model folder)."""
        return self.availability(params or {})

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        accepted = ", ".join(self.param_names()) or "none"
        raise UnknownNameError(f"{self.name} has no parameter {name!r}; its parameters: {accepted}")

    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def builder_defaults(self) -> dict[str, Any]:
        """The defaults the builder takes: parameters listed in ``info["loss_params"]`` configure
        the task's loss (read by the model), not the module, so the builder never sees them."""
        loss_params = self.info.get("loss_params", ())
        return {p.name: p.default for p in self.params if p.name not in loss_params}

    def describe(self) -> dict[str, Any]:
        ok, reason = self.available()
        return {
            "name": self.name,
            "help": self.help,
            "available": ok,
            "reason": reason,
            "params": [p.describe() for p in self.params],
            "info": _jsonable(self.info),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


class Registry:
    """Name → :class:`Entry` for one kind of component (``kind`` words the error messages)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(
        self,
        name: str,
        *,
        help: str,
        params: Iterable[Param] = (),
        available: Availability | None = None,
        check: Check | None = None,
        **info: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register the decorated builder under ``name`` and return it unchanged."""

        def decorate(builder: Callable[..., Any]) -> Callable[..., Any]:
            self.add(
                Entry(
                    name=name,
                    builder=builder,
                    help=help,
                    params=tuple(params),
                    availability=available or _always,
                    check=check,
                    info=dict(info),
                )
            )
            return builder

        return decorate

    def add(self, entry: Entry) -> None:
        if not _NAME.match(entry.name):
            raise ValueError(f"{self.kind} name {entry.name!r} must be lowercase snake_case")
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} is already registered")
        names = [p.name for p in entry.params]
        if "name" in names or len(set(names)) != len(names):
            raise ValueError(f"{self.kind} {entry.name!r}: parameter names must be unique and not 'name'")
        self._entries[entry.name] = entry

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: Any) -> str:
        return f"unknown {self.kind} {name!r}; choose one of: {', '.join(self._entries)}"

    def build(self, name: str, /, **kwargs: Any) -> Any:
        """Build ``name`` with ``kwargs`` (its params, defaults filled, plus what the caller supplies)."""
        entry = self.get(name)
        ok, reason = entry.available(kwargs)
        if not ok:
            raise UnavailableError(f"{self.kind} {name!r} is not available: {reason}")
        return entry.builder(**{**entry.builder_defaults(), **kwargs})

    def names(self, *, available_only: bool = False) -> list[str]:
        return [n for n, e in self._entries.items() if not available_only or e.available()[0]]

    def describe(self) -> list[dict[str, Any]]:
        """JSON-friendly entries in registration order (the order a GUI lists them)."""
        return [e.describe() for e in self._entries.values()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, name: str) -> Entry:
        return self.get(name)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"
