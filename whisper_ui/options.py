"""The one declaration of the per-job transcription options.

`TranscribeOptions` is both the value every layer passes around and the declaration:
each field is made with `option(...)`, which records its help text, its label, its
allowed values and the fronts that expose it (settings, the jobs API, the OpenAI
form, the UI, the CLI). Type and default are the field's own. Every front is built
from, or checked against, `OptionSet(TranscribeOptions)`, so adding an option is one
field here plus the code that uses it (tests/unit/test_options.py fails otherwise).

"Not set" is `UNSET`, distinct from `None`: `language=None` means "detect", and a
request that says `language=auto` must override a configured default language, while
a request that leaves the field out keeps it.

This module imports nothing from the project: it is the lowest layer.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

Front = Literal["settings", "api", "openai", "ui", "cli"]
FRONTS: Final[tuple[Front, ...]] = ("settings", "api", "openai", "ui", "cli")
_META = "whisper_ui.option"


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset.UNSET
"""A value nobody gave: the front's default (the server's setting) applies."""


class OptionsError(ValueError):
    """Options that can never work (an unknown value, or translate with an English-only model)."""


@dataclass(frozen=True)
class OptionMeta:
    """What a field declares besides its type and default (see `option`)."""

    help: str
    label: str
    fronts: frozenset[Front]
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    pattern: str | None = None
    none_word: str | None = None
    cli_flag: str | None = None
    openai_field: str | None = None


def option(
    default: Any,
    *,
    help: str,
    label: str = "",
    fronts: tuple[Front, ...] = ("settings", "api", "ui", "cli"),
    minimum: float | None = None,
    maximum: float | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
    none_word: str | None = None,
    cli_flag: str | None = None,
    openai_field: str | None = None,
) -> Any:
    """A dataclass field that declares one option.

    `none_word` is what a person types for None ("auto" for the language: detect).
    `openai_field` names the OpenAI form field that carries it, when one does.
    Allowed values come from a `Literal[...]` annotation; ranges from minimum/maximum.
    """
    unknown = set(fronts) - set(FRONTS)
    if unknown:
        raise ValueError(f"unknown fronts {sorted(unknown)}")
    meta = OptionMeta(
        help=help,
        label=label,
        fronts=frozenset(fronts),
        minimum=minimum,
        maximum=maximum,
        max_length=max_length,
        pattern=pattern,
        none_word=none_word,
        cli_flag=cli_flag,
        openai_field=openai_field,
    )
    return dataclasses.field(default=default, metadata={_META: meta})


Task = Literal["transcribe", "translate"]
Speakers = Literal["off", "auto", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
MAX_SPEAKERS: Final = 10
LANGUAGE_PATTERN = r"^[A-Za-z_-]{2,}$"


@dataclass(frozen=True)
class TranscribeOptions:
    """Per-job decoding options; `model` names a catalog entry or a local directory."""

    model: str = option(
        "tiny.en",
        help="A model of the catalog (`whisper-ui models`, GET /v1/models)",
        label="Model",
        fronts=("settings", "api", "openai", "ui", "cli"),
        openai_field="model",
    )
    language: str | None = option(
        None,
        help="Language code such as en, de, zh; 'auto' (or left out with no default) detects it",
        label="Language",
        fronts=("settings", "api", "openai", "ui", "cli"),
        max_length=16,
        pattern=LANGUAGE_PATTERN,
        none_word="auto",
        openai_field="language",
    )
    task: Task = option(
        "transcribe",
        help="transcribe, or translate into English (needs a multilingual model)",
        label="Task",
    )
    beam_size: int = option(5, help="Beam search width", label="Beam size", minimum=1, maximum=20)
    # On by default: without it tiny.en writes "You" into every 30 s of silence, and
    # bench/vad.py measured the same WER on speech with it (README, "Silence and VAD").
    vad_filter: bool = option(
        True,
        help="Skip silence with faster-whisper's Silero VAD (no words from silence or noise)",
        label="Skip silence (VAD)",
        cli_flag="--vad",
    )
    word_timestamps: bool = option(
        False,
        help="Per-word timing (json and tsv exports)",
        label="Word timestamps (json)",
        fronts=("settings", "api", "openai", "ui", "cli"),
        openai_field="timestamp_granularities[]",
    )
    initial_prompt: str | None = option(
        None,
        help="Text that primes the vocabulary and style (names, jargon)",
        label="Initial prompt",
        fronts=("api", "openai", "cli"),
        max_length=4000,
        openai_field="prompt",
    )
    speakers: Speakers = option(
        "off",
        help="Label who speaks: off, auto (count the voices) or how many people speak; "
        "needs the speakers extra (pip install 'whisper-ui[speakers]')",
        label="Speakers",
        fronts=("settings", "api", "openai", "ui", "cli"),
        openai_field="speakers",
    )
    min_speakers: int | None = option(
        None,
        help="With speakers=auto: at least this many voices",
        label="At least",
        fronts=("settings", "api", "cli"),
        minimum=1,
        maximum=MAX_SPEAKERS,
        none_word="auto",
    )
    max_speakers: int | None = option(
        None,
        help="With speakers=auto: at most this many voices",
        label="At most",
        fronts=("settings", "api", "cli"),
        minimum=1,
        maximum=MAX_SPEAKERS,
        none_word="auto",
    )
    temperature: tuple[float, ...] = option(
        (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
        help="Temperature fallback ladder; OpenAI's form gives its first step",
        label="Temperature",
        fronts=("openai",),
        minimum=0.0,
        maximum=1.0,
        openai_field="temperature",
    )


@dataclass(frozen=True)
class Option:
    """One declared option: a field of the options class with its declaration."""

    name: str
    annotation: Any
    default: Any
    meta: OptionMeta

    @property
    def base_type(self) -> type:
        """bool, int, float, str or tuple: what a value is once parsed."""
        for arg in _non_none(self.annotation):
            origin = typing.get_origin(arg)
            if origin is Literal:
                return type(typing.get_args(arg)[0])
            if origin is tuple:
                return tuple
            if isinstance(arg, type):
                return arg
        raise TypeError(f"option {self.name}: unsupported annotation {self.annotation!r}")

    @property
    def nullable(self) -> bool:
        return type(None) in _union_args(self.annotation)

    @property
    def choices(self) -> tuple[Any, ...]:
        """Allowed values from a Literal annotation; () when any value of the type goes."""
        for arg in _non_none(self.annotation):
            if typing.get_origin(arg) is Literal:
                return tuple(typing.get_args(arg))
        return ()

    @property
    def help(self) -> str:
        return self.meta.help

    @property
    def label(self) -> str:
        return self.meta.label or self.name.replace("_", " ").capitalize()

    @property
    def cli_flag(self) -> str:
        return self.meta.cli_flag or "--" + self.name.replace("_", "-")

    def exposed(self, front: Front) -> bool:
        return front in self.meta.fronts

    def parse(self, raw: Any) -> Any:
        """A value as a person or a form gives it (text included) -> the typed value.

        Raises OptionsError naming the option and the reason.
        """
        if raw is UNSET:
            return UNSET
        if raw is None or (
            isinstance(raw, str)
            and self.nullable
            and raw.strip().lower() in ("", *(w for w in [self.meta.none_word] if w))
        ):
            if not self.nullable:
                raise OptionsError(f"{self.name}: a value is required")
            return None
        kind = self.base_type
        try:
            if kind is bool:
                value: Any = _parse_bool(raw)
            elif kind is int:
                if isinstance(raw, float) and not raw.is_integer():
                    raise ValueError(raw)
                value = int(raw)
            elif kind is float:
                value = float(raw)
            elif kind is tuple:
                value = tuple(float(v) for v in raw)
            else:
                value = str(raw).strip()
                if self.meta.pattern is not None:
                    value = value.lower()
        except (TypeError, ValueError):
            raise OptionsError(f"{self.name}: {raw!r} is not a valid {kind.__name__}") from None
        self.check(value)
        return value

    def check(self, value: Any) -> None:
        """Raise OptionsError when `value` is outside what the declaration allows."""
        if value is None:
            if not self.nullable:
                raise OptionsError(f"{self.name}: a value is required")
            return
        meta = self.meta
        if self.choices and value not in self.choices:
            allowed = ", ".join(str(c) for c in self.choices)
            raise OptionsError(f"{self.name} must be one of {allowed}, not {value!r}")
        numbers = value if isinstance(value, tuple) else (value,)
        for number in numbers:
            if isinstance(number, bool) or not isinstance(number, int | float):
                continue
            if meta.minimum is not None and number < meta.minimum:
                raise OptionsError(f"{self.name} must be at least {meta.minimum:g}, not {number}")
            if meta.maximum is not None and number > meta.maximum:
                raise OptionsError(f"{self.name} must be at most {meta.maximum:g}, not {number}")
        if isinstance(value, str):
            if meta.max_length is not None and len(value) > meta.max_length:
                raise OptionsError(f"{self.name} must be at most {meta.max_length} characters long")
            if meta.pattern is not None and not re.fullmatch(meta.pattern, value):
                raise OptionsError(f"{self.name}: {value!r} is not a valid code")


class OptionSet:
    """The declared options of an options class, in field order, and what they share."""

    def __init__(self, cls: type[TranscribeOptions] = TranscribeOptions) -> None:
        self.cls = cls
        hints = typing.get_type_hints(cls)
        found: list[Option] = []
        for f in dataclasses.fields(cls):
            meta = f.metadata.get(_META)
            if not isinstance(meta, OptionMeta):
                raise TypeError(f"{cls.__name__}.{f.name} is not declared with option()")
            found.append(Option(f.name, hints[f.name], f.default, meta))
        self._options = {o.name: o for o in found}

    def __iter__(self) -> Iterator[Option]:
        return iter(self._options.values())

    def __getitem__(self, name: str) -> Option:
        return self._options[name]

    def __contains__(self, name: object) -> bool:
        return name in self._options

    def names(self, front: Front | None = None) -> tuple[str, ...]:
        return tuple(o.name for o in self if front is None or o.exposed(front))

    def on(self, front: Front) -> tuple[Option, ...]:
        return tuple(o for o in self if o.exposed(front))

    def defaults(self) -> TranscribeOptions:
        return self.cls()

    def build(self, base: TranscribeOptions, changes: Mapping[str, Any]) -> TranscribeOptions:
        """`base` with every change that is set; UNSET changes are dropped, None is kept.

        Raises OptionsError for an unknown name or a value the declaration does not allow.
        """
        unknown = [name for name in changes if name not in self._options]
        if unknown:
            raise OptionsError(f"unknown option(s): {', '.join(sorted(unknown))}")
        given = {name: value for name, value in changes.items() if value is not UNSET}
        for name, value in given.items():
            self._options[name].check(value)
        return dataclasses.replace(base, **given)

    def check(self, options: TranscribeOptions) -> None:
        """Raise OptionsError when any field of `options` breaks its declaration."""
        for opt in self:
            opt.check(getattr(options, opt.name))

    def as_dict(self, options: TranscribeOptions) -> dict[str, Any]:
        """Plain JSON-friendly values (tuples become lists)."""
        out: dict[str, Any] = {}
        for opt in self:
            value = getattr(options, opt.name)
            out[opt.name] = list(value) if isinstance(value, tuple) else value
        return out

    def from_dict(self, data: Mapping[str, Any]) -> TranscribeOptions:
        """The inverse of `as_dict`; unknown keys (an older or newer journal) are ignored."""
        values: dict[str, Any] = {
            name: tuple(value) if isinstance(value, list) else value
            for name, value in data.items()
            if name in self._options
        }
        return self.cls(**values)


def _union_args(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _non_none(annotation: Any) -> list[Any]:
    return [a for a in _union_args(annotation) if a is not type(None)]


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


OPTIONS: Final = OptionSet(TranscribeOptions)
"""The options every front exposes, declared once above."""
