"""Option fields of the multipart routes: validated by pydantic, documented from the same model.

`JobFields` is generated from the option declaration (whisper_ui/options.py); the
OpenAI form keeps OpenAI's names and shapes, and takes the constraints of the options
it carries from the same declaration (tests/unit/test_options.py checks the mapping).

The routes read their bodies with the streaming reader (uploads.py), so FastAPI cannot
infer the request schema; `multipart_body` writes it from these models instead, and
`parse_fields` validates with them, so the schema and the checks cannot disagree.
"""

from __future__ import annotations

import copy
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from whisper_ui.api.errors import bad_request
from whisper_ui.api.uploads import Form
from whisper_ui.options import OPTIONS, UNSET, Front, Option, OptionSet, Speakers, Task

M = TypeVar("M", bound=BaseModel)


def _constraints(opt: Option) -> dict[str, Any]:
    meta = opt.meta
    found: dict[str, Any] = {
        "ge": meta.minimum,
        "le": meta.maximum,
        "max_length": meta.max_length,
        "pattern": meta.pattern,
    }
    if opt.base_type is tuple:  # a ladder: bounds hold per item, not on the list
        found = {"max_length": meta.max_length}
    return {k: v for k, v in found.items() if v is not None}


def option_type(opt: Option) -> Any:
    """The field type a form sends for `opt` (choices as a Literal; tuples as lists)."""
    if opt.choices:
        return Literal[opt.choices]
    if opt.base_type is tuple:
        return list[float]
    return opt.base_type


def form_fields(name: str, front: Front, doc: str, options: OptionSet = OPTIONS) -> type[BaseModel]:
    """A pydantic model of the options `front` exposes, every field optional.

    Used to validate and to document the form; what was actually sent is
    `model_fields_set`, so a field left out stays UNSET (the server's default) and
    `language=auto` is a value (detect) that overrides a configured default.
    """
    fields: dict[str, Any] = {}
    for opt in options.on(front):
        help_text = opt.help
        fields[opt.name] = (
            option_type(opt) | None,
            Field(None, description=help_text, **_constraints(opt)),
        )
    model: type[BaseModel] = create_model(name, __config__=ConfigDict(extra="ignore"), **fields)
    model.__doc__ = doc
    return model


JobFields = form_fields(
    "JobFields", "api", "Options of POST /api/jobs; anything left out takes the server's default."
)


def option_changes(fields: BaseModel, options: OptionSet = OPTIONS) -> dict[str, Any]:
    """The options a form set, parsed by their declaration; UNSET for the rest.

    Raises OptionsError naming the option when a value is not allowed.
    """
    changes: dict[str, Any] = {}
    for name in type(fields).model_fields:
        if name in options:
            raw = getattr(fields, name) if name in fields.model_fields_set else UNSET
            changes[name] = options[name].parse(raw)
    return changes


_LANGUAGE = OPTIONS["language"].meta
_PROMPT = OPTIONS["initial_prompt"].meta
_TEMPERATURE = OPTIONS["temperature"].meta


ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt", "diarized_json"]
_SPEAKERS = OPTIONS["speakers"]


class TranscriptionFields(BaseModel):
    """OpenAI's /v1/audio/transcriptions (and translations) fields, besides `file`."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    model: str = Field(
        "whisper-1", description="'whisper-1' (the server's default) or a catalog name"
    )
    language: str | None = Field(
        None,
        max_length=_LANGUAGE.max_length,
        pattern=_LANGUAGE.pattern,
        description=OPTIONS["language"].help,
    )
    prompt: str | None = Field(
        None, max_length=_PROMPT.max_length, description="Passed to the model as initial_prompt"
    )
    response_format: ResponseFormat = "json"
    temperature: float | None = Field(
        None,
        ge=_TEMPERATURE.minimum,
        le=_TEMPERATURE.maximum,
        description="Starting temperature; the fallback ladder continues above it (0.2 steps)",
    )
    timestamp_granularities: list[Literal["word", "segment"]] = Field(
        default_factory=list,
        alias="timestamp_granularities[]",
        description="verbose_json only: 'word' adds words, 'segment' (the default) segments",
    )
    stream: bool = Field(False, description="Answer with server-sent transcript.text.* events")
    speakers: Speakers | None = Field(
        None,
        description=_SPEAKERS.help + "; diarized_json turns it on (auto) when left out",
    )
    known_speaker_names: list[str] = Field(
        default_factory=list,
        alias="known_speaker_names[]",
        description="Names for the voices of known_speaker_references[], in the same order "
        "(up to 4)",
    )
    known_speaker_references: list[str] = Field(
        default_factory=list,
        alias="known_speaker_references[]",
        description="Reference clips (data URLs, 2-10 s of one voice each): a speaker whose "
        "voice is nearest one is labelled with its name",
    )


def temperature_ladder(start: float | None) -> tuple[float, ...]:
    """OpenAI's one temperature as the first step of faster-whisper's fallback ladder."""
    default: tuple[float, ...] = OPTIONS["temperature"].default
    if start is None:
        return default
    return (start, *(t for t in default if t > start))


def openai_changes(fields: TranscriptionFields, task: Task) -> dict[str, Any]:
    """The options an OpenAI form carries, by each option's `openai_field`.

    `model` is passed through as sent (the route resolves 'whisper-1'); a translation
    detects the language (its output is English whatever was sent).
    """
    sent = fields.model_fields_set
    language = OPTIONS["language"].parse(fields.language) if "language" in sent else UNSET
    prompt = OPTIONS["initial_prompt"].parse(fields.prompt) if "prompt" in sent else UNSET
    return {
        "model": fields.model,
        "language": None if task == "translate" else language,
        "task": task,
        "initial_prompt": prompt,
        "word_timestamps": "word" in fields.timestamp_granularities,
        "temperature": temperature_ladder(fields.temperature),
        "speakers": _speakers(fields),
    }


def _speakers(fields: TranscriptionFields) -> Any:
    if fields.speakers is not None:
        return _SPEAKERS.parse(fields.speakers)
    if fields.response_format == "diarized_json" or fields.known_speaker_names:
        return "auto"
    return UNSET


_LIST_FIELDS = {
    name: base + "[]"
    for base in ("timestamp_granularities", "known_speaker_names", "known_speaker_references")
    for name in (base, base + "[]")
}


def parse_fields(model: type[M], form: Form) -> M:
    """Validate the text fields against `model`: the last value of a repeated field wins,
    list fields collect every value, and an empty optional field counts as left out."""
    values: dict[str, Any] = {}
    for name, items in form.fields.items():
        listed = _LIST_FIELDS.get(name)
        if listed is not None and listed.removesuffix("[]") in model.model_fields:
            values.setdefault(listed, []).extend(items)
            continue
        info = model.model_fields.get(name)
        if info is None or not items or (items[-1] == "" and info.default is None):
            continue
        values[name] = items[-1]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        msgs = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise bad_request("; ".join(msgs), "invalid_option") from None


def _drop_null(schema: Any) -> Any:
    """`X | None` becomes X: a multipart field is either sent or left out, never null."""
    if isinstance(schema, dict):
        any_of = schema.get("anyOf")
        if isinstance(any_of, list):
            rest = [s for s in any_of if s != {"type": "null"}]
            if len(rest) == 1:
                merged = {k: v for k, v in schema.items() if k != "anyOf"}
                merged.update(rest[0])
                schema = merged
        return {k: _drop_null(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_drop_null(s) for s in schema]
    return schema


BINARY = {"type": "string", "format": "binary"}


def multipart_body(model: type[BaseModel], files: dict[str, bool]) -> dict[str, Any]:
    """An OpenAPI requestBody for multipart/form-data: `model`'s fields plus file fields.

    `files` maps a field name to whether it takes many files (an array).
    """
    schema = _drop_null(copy.deepcopy(model.model_json_schema(by_alias=True)))
    schema.pop("title", None)
    props: dict[str, Any] = {
        name: ({"type": "array", "items": BINARY, "minItems": 1} if many else dict(BINARY))
        for name, many in files.items()
    }
    props.update(schema.get("properties", {}))
    for prop in props.values():
        if "default" in prop and prop["default"] is None:
            del prop["default"]
    encoding = {name: {"contentType": "application/octet-stream"} for name in files}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": list(files),
                        "properties": props,
                    },
                    "encoding": encoding,
                }
            },
        }
    }
