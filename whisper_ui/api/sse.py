"""Server-sent events framing, shared by the jobs event stream and OpenAI streaming."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

from whisper_ui.domain import JobEvent

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def frame(data: Any, *, event: str | None = None, id: int | None = None) -> bytes:
    """One SSE message; `data` is sent as compact JSON on a single line."""
    lines = []
    if id is not None:
        lines.append(f"id: {id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def event_data(event: JobEvent) -> dict[str, Any]:
    """A job event as plain JSON data (its `kind` included)."""
    return dataclasses.asdict(event)


def sse_response(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)


SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A text/event-stream of events",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}
