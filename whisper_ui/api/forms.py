"""Option fields of the multipart routes: validated by pydantic, documented from the same model.

The routes read their bodies with the streaming reader (uploads.py), so FastAPI cannot
infer the request schema; `multipart_body` writes it from these models instead, and
`parse_fields` validates with them, so the schema and the checks cannot disagree.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from whisper_ui.api.errors import bad_request
from whisper_ui.api.uploads import Form

M = TypeVar("M", bound=BaseModel)

Language = Annotated[str, Field(min_length=2, max_length=16, pattern=r"^[A-Za-z_-]+$")]
Prompt = Annotated[str, Field(max_length=4000)]


class JobFields(BaseModel):
    """Options of POST /api/jobs; anything left out takes the server's default."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(None, description="Catalog model name (GET /v1/models)")
    language: Language | None = Field(None, description="Language code; omit or 'auto' to detect")
    task: Literal["transcribe", "translate"] | None = None
    beam_size: int | None = Field(None, ge=1, le=20)
    vad_filter: bool | None = None
    word_timestamps: bool | None = None
    initial_prompt: Prompt | None = None


ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]


class TranscriptionFields(BaseModel):
    """OpenAI's /v1/audio/transcriptions (and translations) fields, besides `file`."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    model: str = Field(
        "whisper-1", description="'whisper-1' (the server's default) or a catalog name"
    )
    language: Language | None = None
    prompt: Prompt | None = Field(None, description="Passed to the model as initial_prompt")
    response_format: ResponseFormat = "json"
    temperature: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Starting temperature; the fallback ladder continues above it (0.2 steps)",
    )
    timestamp_granularities: list[Literal["word", "segment"]] = Field(
        default_factory=list,
        alias="timestamp_granularities[]",
        description="verbose_json only: 'word' adds words, 'segment' (the default) segments",
    )
    stream: bool = Field(False, description="Answer with server-sent transcript.text.* events")


_LIST_FIELDS = {"timestamp_granularities[]", "timestamp_granularities"}


def parse_fields(model: type[M], form: Form) -> M:
    """Validate the text fields against `model`: the last value of a repeated field wins,
    list fields collect every value, and an empty optional field counts as left out."""
    values: dict[str, Any] = {}
    for name, items in form.fields.items():
        if name in _LIST_FIELDS and "timestamp_granularities" in model.model_fields:
            values.setdefault("timestamp_granularities[]", []).extend(items)
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
