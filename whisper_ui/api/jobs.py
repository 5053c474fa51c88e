"""The jobs API: submit many files, follow them live, fetch transcripts, cancel and retry.

Every route goes through the same dispatcher as the UI; a user sees only their own
jobs (see deps.owned_job).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import PlainTextResponse

from whisper_ui.api.catalog import resolve_model
from whisper_ui.api.deps import OwnerDependency, owned_job
from whisper_ui.api.errors import ApiError, errors, from_domain
from whisper_ui.api.forms import JobFields, multipart_body, option_changes, parse_fields
from whisper_ui.api.schemas import JobList, JobOut
from whisper_ui.api.sse import SSE_DOC, event_data, frame, sse_response
from whisper_ui.api.uploads import read_form, submit_form
from whisper_ui.api.voices import known_voices_of
from whisper_ui.domain import TERMINAL, JobStateError, JobStatus
from whisper_ui.export import FORMATS, render
from whisper_ui.names import content_disposition, safe_stem
from whisper_ui.services import Services

ExportFormat = Literal["txt", "srt", "vtt", "json", "tsv"]
assert set(FORMATS) == set(ExportFormat.__args__)  # type: ignore[attr-defined]

MEDIA_TYPES = {
    "txt": "text/plain",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "json": "application/json",
    "tsv": "text/tab-separated-values",
}
COMPLETE_HEADER = "X-Transcript-Complete"


def jobs_router(services: Services, owner: OwnerDependency) -> APIRouter:
    router = APIRouter(prefix="/api/jobs", tags=["jobs"])

    @router.post(
        "",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=JobList,
        responses=errors(400, 413, 429),
        openapi_extra=multipart_body(JobFields, {"files": True}),
    )
    async def submit_jobs(request: Request, who: str = Depends(owner)) -> JobList:
        """Queue one job per uploaded file (multipart `files`, plus option fields).

        A file that is not audio/video comes back as a failed job with the reason;
        options that can never work (e.g. translate with an English-only model) are a 400
        and nothing is queued; a queue without room for the files is a 429. The whole body
        (all files together) may be at most max_upload_mb, else 413 as soon as it is crossed.
        """
        settings = services.settings
        uploads_dir = settings.resolved_data_dir / "uploads"
        form = await read_form(
            request,
            spool_dir=uploads_dir,
            limit_mb=settings.max_upload_mb,
            file_fields=frozenset({"files", "file"}),
        )
        try:
            fields = parse_fields(JobFields, form)
            if not form.files:
                raise ApiError(400, "no files: send one or more multipart 'files'", "no_files")
            changes = option_changes(fields)
            if "model" in fields.model_fields_set:
                changes["model"] = resolve_model(services, changes["model"])
            names = form.values("known_speaker_names")
            if names and "speakers" not in fields.model_fields_set:
                changes["speakers"] = "auto"  # naming speakers asks for them
            options = services.default_options(**changes)
            clips = form.values("known_speaker_references")
            voices = await known_voices_of(services, names, clips)
        except BaseException:
            form.discard()
            raise
        jobs = await submit_form(services, form, options, who, voices)
        return JobList(jobs=[JobOut.of(job, services) for job in jobs])

    @router.get("", response_model=JobList, responses=errors(400))
    async def list_jobs(
        status: Annotated[JobStatus | None, Query(description="Only jobs in this status")] = None,
        who: str = Depends(owner),
    ) -> JobList:
        """Your jobs, oldest first."""
        jobs = sorted(
            (j for j in services.registry.jobs() if j.submitter == who),
            key=lambda j: j.created_at,
        )
        if status is not None:
            jobs = [j for j in jobs if j.status is status]
        return JobList(jobs=[JobOut.of(j, services) for j in jobs])

    @router.get("/{job_id}", response_model=JobOut, responses=errors(404))
    async def get_job(job_id: str, who: str = Depends(owner)) -> JobOut:
        return JobOut.of(owned_job(services, job_id, who), services)

    @router.get(
        "/{job_id}/events", response_class=Response, responses={**SSE_DOC, **errors(400, 404)}
    )
    async def job_events(
        job_id: str,
        last_event_id: Annotated[
            int | None,
            Header(ge=-1, description="Resume after this event id (the SSE Last-Event-ID)"),
        ] = None,
        who: str = Depends(owner),
    ) -> Response:
        """Server-sent events: the job's history first, then live events until a terminal one.

        Each message has `event:` = the event kind (queued, started, info, progress,
        segment, warning, completed, failed, cancelled), `id:` = its index in the job's
        log, and JSON `data`; a `warning` (`message`: e.g. the file ends early) is also
        kept in the job's `warnings`. Reconnect with Last-Event-ID to continue without
        repeats.
        """
        owned_job(services, job_id, who)
        after = -1 if last_event_id is None else last_event_id

        async def stream() -> AsyncIterator[bytes]:
            index = -1
            async for event in services.bus.subscribe(job_id):
                index += 1
                if index > after:
                    yield frame(event_data(event), event=event.kind, id=index)

        return sse_response(stream())

    @router.get(
        "/{job_id}/transcript",
        response_class=PlainTextResponse,
        responses={
            200: {
                "description": f"The transcript; header {COMPLETE_HEADER} is 'false' while the "
                "job is still running (a partial transcript)",
                "content": {m: {"schema": {"type": "string"}} for m in MEDIA_TYPES.values()},
            },
            **errors(400, 404),
        },
    )
    async def transcript(
        job_id: str,
        format: Annotated[ExportFormat, Query(description="Output format")] = "txt",
        who: str = Depends(owner),
    ) -> Response:
        """The transcript rendered as txt, srt, vtt, json or tsv (partial while running)."""
        job = owned_job(services, job_id, who)
        result = services.registry.transcript(job.id)
        assert result is not None
        stem = safe_stem(job.name)  # drops the one extension: talk.final.mp3 -> talk.final
        return Response(
            render(result, format),
            media_type=MEDIA_TYPES[format],
            headers={
                COMPLETE_HEADER: "true" if job.status is JobStatus.COMPLETED else "false",
                "Content-Disposition": content_disposition(f"{stem}.{format}"),
            },
        )

    @router.delete(
        "/{job_id}",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=JobOut,
        responses=errors(404, 409),
    )
    async def cancel_job(
        job_id: str,
        who: str = Depends(owner),
        purge: Annotated[
            bool,
            Query(
                description="Delete a finished job instead: its record, transcript, "
                "uploaded file and exports (409 while it is queued or running)."
            ),
        ] = False,
    ) -> JobOut:
        """Cancel a queued or running job (202: a running job stops after its current
        segment); 409 when it has already finished. With `purge=true`, delete a finished
        job and its files instead (the answer is the job as it was)."""
        job = owned_job(services, job_id, who)
        if purge:
            if job.status not in TERMINAL:
                raise from_domain(JobStateError(f"{job.name}: cancel the job before deleting it"))
            answer = JobOut.of(job, services)
            services.delete_job(job_id)
            return answer
        if job.status in TERMINAL or not services.dispatcher.cancel(job_id):
            current = services.registry.get(job_id) or job
            raise from_domain(
                JobStateError(f"{job.name}: the job is already {current.status.value}")
            )
        await asyncio.sleep(0)  # let a queued job's cancellation show in the answer
        return JobOut.of(services.registry.get(job_id) or job, services)

    @router.post(
        "/{job_id}/retry",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=JobOut,
        responses=errors(404, 409, 429),
    )
    async def retry_job(job_id: str, who: str = Depends(owner)) -> JobOut:
        """Queue a failed or cancelled job's file again as a new job (409 otherwise)."""
        owned_job(services, job_id, who)
        new = await services.dispatcher.retry(job_id)
        return JobOut.of(new, services)

    return router
