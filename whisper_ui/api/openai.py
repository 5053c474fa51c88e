"""OpenAI-compatible /v1/audio/transcriptions and /v1/audio/translations.

A request becomes an ordinary job (same queue, pool and fairness as the UI), and the
answer is built from the job's events: the final transcript, or with `stream=true`
one `transcript.text.delta` per decoded segment and a closing `transcript.text.done`.

Temperature: OpenAI takes one number; here it is the first temperature of
faster-whisper's fallback ladder, which continues upward in the default 0.2 steps
(0.3 -> 0.3, 0.4, 0.6, 0.8, 1.0). Left out, the full ladder from 0.0 is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from whisper_ui.api.catalog import resolve_model
from whisper_ui.api.deps import OwnerDependency
from whisper_ui.api.errors import ApiError, bad_request, errors
from whisper_ui.api.forms import (
    TranscriptionFields,
    multipart_body,
    openai_changes,
    parse_fields,
)
from whisper_ui.api.sse import frame, sse_response
from whisper_ui.api.uploads import read_form, submit_form
from whisper_ui.api.voices import known_voices_of
from whisper_ui.domain import (
    Cancelled,
    Completed,
    Failed,
    Job,
    JobStatus,
    SegmentAdded,
    Task,
    Transcript,
)
from whisper_ui.export import render
from whisper_ui.languages import name_of
from whisper_ui.services import Services


def _success_doc() -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "json / verbose_json: an object; text, srt, vtt: plain text; "
            "stream=true: text/event-stream of transcript.text.delta and transcript.text.done",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/plain": {"schema": {"type": "string"}},
                "text/event-stream": {"schema": {"type": "string"}},
            },
        },
        500: {"description": "The model failed while transcribing (the message says why)"},
    }


def openai_router(services: Services, owner: OwnerDependency) -> APIRouter:
    router = APIRouter(prefix="/v1/audio", tags=["openai"])
    responses = {**_success_doc(), **errors(400, 409, 413, 429)}
    body = multipart_body(TranscriptionFields, {"file": False})

    @router.post(
        "/transcriptions", response_class=Response, responses=responses, openapi_extra=body
    )
    async def create_transcription(request: Request, who: str = Depends(owner)) -> Response:
        """Transcribe one audio/video file in its own language (OpenAI's API)."""
        return await _handle(services, request, who, "transcribe")

    @router.post("/translations", response_class=Response, responses=responses, openapi_extra=body)
    async def create_translation(request: Request, who: str = Depends(owner)) -> Response:
        """Translate one file's speech into English; needs a multilingual model (e.g. base)."""
        return await _handle(services, request, who, "translate")

    return router


async def _handle(services: Services, request: Request, who: str, task: Task) -> Response:
    uploads_dir = services.settings.resolved_data_dir / "uploads"
    form = await read_form(
        request,
        spool_dir=uploads_dir,
        limit_mb=services.settings.max_upload_mb,
        file_fields=frozenset({"file"}),
    )
    try:
        fields = parse_fields(TranscriptionFields, form)
        if len(form.files) != 1:
            raise bad_request("send exactly one multipart 'file'", "invalid_file")
        changes = openai_changes(fields, task)
        changes["model"] = resolve_model(services, fields.model)
        options = services.default_options(**changes)
        voices = await known_voices_of(
            services, fields.known_speaker_names, fields.known_speaker_references
        )
    except BaseException:
        form.discard()
        raise
    (job,) = await submit_form(services, form, options, who, voices)
    if job.status is JobStatus.FAILED:
        raise bad_request(job.error or f"{job.name}: not an audio or video file", "invalid_file")
    if fields.stream:
        return sse_response(_stream(services, job))
    transcript = await _until_done(services, request, job)
    return _render(transcript, fields, task)


async def _wait_terminal(services: Services, job: Job) -> Transcript:
    async for event in services.bus.subscribe(job.id):
        if isinstance(event, Completed):
            return event.transcript
        if isinstance(event, Failed):
            raise _failure(services, job, event.message)
        if isinstance(event, Cancelled):
            raise ApiError(409, f"{job.name}: the job was cancelled", "cancelled")
    raise ApiError(409, f"{job.name}: the job ended without a result", "cancelled")


async def _until_done(services: Services, request: Request, job: Job) -> Transcript:
    """Wait for the job; if the client hangs up first, cancel it (nobody will read it)."""
    result = asyncio.ensure_future(_wait_terminal(services, job))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({result, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not result.done():
            services.dispatcher.cancel(job.id)
            result.cancel()
            with contextlib.suppress(asyncio.CancelledError, ApiError):
                await result
    if result.cancelled():
        raise ApiError(409, f"{job.name}: the client went away", "cancelled")
    return result.result()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _failure(services: Services, job: Job, message: str) -> ApiError:
    current = services.registry.get(job.id) or job
    if current.started_at is None:  # refused before decoding: the file or model
        return bad_request(message, "invalid_file")
    return ApiError(500, message, "transcription_failed", type="server_error")


async def _stream(services: Services, job: Job) -> AsyncIterator[bytes]:
    """OpenAI's streaming events; the deltas concatenate to the final text exactly."""
    pieces: list[str] = []
    over = False
    try:
        async for event in services.bus.subscribe(job.id):
            if isinstance(event, SegmentAdded):
                piece = event.segment.text.strip()
                if piece:
                    delta = (" " if pieces else "") + piece
                    pieces.append(delta)
                    data = {"type": "transcript.text.delta", "delta": delta}
                    yield frame(data, event="transcript.text.delta")
            elif isinstance(event, Completed):
                over = True
                done = {
                    "type": "transcript.text.done",
                    "text": "".join(pieces),
                    "usage": _usage(event.transcript),
                }
                yield frame(done, event="transcript.text.done")
            elif isinstance(event, Failed | Cancelled):
                over = True
                message = event.message if isinstance(event, Failed) else "the job was cancelled"
                error = {"message": message, "type": "server_error", "code": event.kind}
                yield frame({"type": "error", "error": error}, event="error")
    finally:
        if not over:  # the client went away mid-stream
            services.dispatcher.cancel(job.id)


def _usage(transcript: Transcript) -> dict[str, Any]:
    return {"type": "duration", "seconds": round(transcript.info.duration, 3)}


def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _verbose(transcript: Transcript, fields: TranscriptionFields, task: Task) -> dict[str, Any]:
    granularities = set(fields.timestamp_granularities) or {"segment"}
    temperature = fields.temperature or 0.0
    body: dict[str, Any] = {
        "task": task,
        "language": name_of(transcript.info.language),  # OpenAI says "english", not "en"
        "duration": transcript.info.duration,
        "text": transcript.text,
        "usage": _usage(transcript),
    }
    if "segment" in granularities:
        body["segments"] = [
            {
                "id": s.id,
                "seek": round(s.start * 100),
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "tokens": [],
                "temperature": temperature,
                "avg_logprob": s.avg_logprob,
                "compression_ratio": _compression_ratio(s.text),
                "no_speech_prob": s.no_speech_prob,
            }
            for s in transcript.segments
        ]
    if "word" in granularities:
        body["words"] = [
            {"word": w.word.strip(), "start": w.start, "end": w.end}
            for s in transcript.segments
            for w in s.words
        ]
    return body


def _letters(transcript: Transcript) -> dict[str, str]:
    """OpenAI labels unnamed speakers A, B, ...; named ones keep their names."""
    found: dict[str, str] = {}
    for segment in transcript.segments:
        label = segment.speaker
        if label is not None and label not in found:
            unnamed = label.startswith("Speaker ") and label[8:].isdigit()
            found[label] = _letter(int(label[8:]) - 1) if unnamed else label
    return found


def _letter(n: int) -> str:
    return chr(ord("A") + n) if n < 26 else f"S{n + 1}"


def _diarized(transcript: Transcript) -> dict[str, Any]:
    """OpenAI's diarized_json: segments of one speaker each, with their label."""
    labels = _letters(transcript)
    segments = [
        {
            "type": "transcript.text.segment",
            "id": f"seg_{s.id:03d}",
            "start": s.start,
            "end": s.end,
            "text": s.text.strip(),
            "speaker": labels.get(s.speaker or "", "A"),
        }
        for s in transcript.segments
        if s.text.strip()
    ]
    return {
        "task": "transcribe",
        "duration": transcript.info.duration,
        "text": transcript.text,
        "segments": segments,
        "usage": _usage(transcript),
    }


def _render(transcript: Transcript, fields: TranscriptionFields, task: Task) -> Response:
    fmt = fields.response_format
    if fmt == "diarized_json":
        return JSONResponse(_diarized(transcript))
    if fmt == "json":
        return JSONResponse({"text": transcript.text, "usage": _usage(transcript)})
    if fmt == "verbose_json":
        return JSONResponse(_verbose(transcript, fields, task))
    if fmt == "text":
        return PlainTextResponse(transcript.text + "\n")
    return PlainTextResponse(render(transcript, fmt))
