"""Response bodies of the jobs API, built from the domain's inert Job."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, create_model

from whisper_ui.api.forms import option_type
from whisper_ui.domain import Job, JobStatus, TranscribeOptions
from whisper_ui.options import OPTIONS
from whisper_ui.services import Services


def _options_out() -> type[BaseModel]:
    """Every declared option, as the value a job runs with (nothing is left unset)."""
    fields: dict[str, Any] = {
        opt.name: (option_type(opt) | None if opt.nullable else option_type(opt), ...)
        for opt in OPTIONS
    }
    model: type[BaseModel] = create_model("OptionsOut", **fields)
    model.__doc__ = "The options a job runs with (see whisper_ui/options.py for each one)."
    return model


OptionsOut = _options_out()


def options_out(options: TranscribeOptions) -> BaseModel:
    return OptionsOut.model_validate(OPTIONS.as_dict(options))


class JobOut(BaseModel):
    """One file's job; `progress` is the fraction of its audio decoded so far."""

    id: str
    name: str
    status: JobStatus
    duration: float = Field(description="Seconds of audio (0 when the file was refused)")
    progress: float = Field(ge=0.0, le=1.0)
    stage: str = Field(
        "transcribing",
        description='While running: "transcribing", then "speakers" (speakers on)',
    )
    stage_progress: float = Field(0.0, ge=0.0, le=1.0, description="Of the speakers stage")
    queue_position: int | None = Field(description="0 = next to run; null unless queued")
    created_at: float = Field(description="Unix time")
    started_at: float | None
    finished_at: float | None
    device: str | None
    node: str | None = Field(None, description="The cluster node it ran on; null locally")
    error: str | None
    warnings: list[str] = Field(
        default_factory=list,
        description="What to know about a job that completed anyway, in words, e.g. "
        '"the file ends early (0.7 s of 9.8 s decoded)", "decoding stopped at 1:23 of '
        '5:00: <reason>" (a damaged or cut-off file: the transcript covers only what '
        'decoded) or "no speech found" (its exports are empty); [] when none. Also '
        "streamed as `warning` events.",
    )
    batch_id: str
    submitter: str
    options: OptionsOut  # type: ignore[valid-type]

    @classmethod
    def of(cls, job: Job, services: Services) -> JobOut:
        return cls(
            id=job.id,
            name=job.name,
            status=job.status,
            duration=job.duration,
            progress=min(1.0, max(0.0, services.registry.progress(job.id))),
            stage=services.registry.stage(job.id)[0],
            stage_progress=min(1.0, max(0.0, services.registry.stage(job.id)[1])),
            queue_position=services.queue.position(job.id),
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            device=job.device,
            node=job.node,
            error=job.error,
            warnings=list(job.warnings),
            batch_id=job.batch_id,
            submitter=job.submitter,
            options=options_out(job.options),
        )


class JobList(BaseModel):
    jobs: list[JobOut]
