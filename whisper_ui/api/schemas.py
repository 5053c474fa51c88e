"""Response bodies of the jobs API, built from the domain's inert Job."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from whisper_ui.domain import Job, JobStatus, TranscribeOptions
from whisper_ui.services import Services


class OptionsOut(BaseModel):
    model: str
    language: str | None
    task: Literal["transcribe", "translate"]
    beam_size: int
    vad_filter: bool
    word_timestamps: bool
    initial_prompt: str | None
    temperature: list[float]

    @classmethod
    def of(cls, options: TranscribeOptions) -> OptionsOut:
        return cls(
            model=options.model,
            language=options.language,
            task=options.task,
            beam_size=options.beam_size,
            vad_filter=options.vad_filter,
            word_timestamps=options.word_timestamps,
            initial_prompt=options.initial_prompt,
            temperature=list(options.temperature),
        )


class JobOut(BaseModel):
    """One file's job; `progress` is the fraction of its audio decoded so far."""

    id: str
    name: str
    status: JobStatus
    duration: float = Field(description="Seconds of audio (0 when the file was refused)")
    progress: float = Field(ge=0.0, le=1.0)
    queue_position: int | None = Field(description="0 = next to run; null unless queued")
    created_at: float = Field(description="Unix time")
    started_at: float | None
    finished_at: float | None
    device: str | None
    error: str | None
    batch_id: str
    submitter: str
    options: OptionsOut

    @classmethod
    def of(cls, job: Job, services: Services) -> JobOut:
        return cls(
            id=job.id,
            name=job.name,
            status=job.status,
            duration=job.duration,
            progress=min(1.0, max(0.0, services.dispatcher.progress(job.id))),
            queue_position=services.queue.position(job.id),
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            device=job.device,
            error=job.error,
            batch_id=job.batch_id,
            submitter=job.submitter,
            options=OptionsOut.of(job.options),
        )


class JobList(BaseModel):
    jobs: list[JobOut]
