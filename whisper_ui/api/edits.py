"""Corrections over the API: read a job's segments, edit one, restore one or all.

The rules live in jobs/edits.py (the page applies edits through the same object), so
a refused edit reads the same everywhere: 400 with the reason, and nothing changed.
Another person's job is a 404, as on every job route (deps.owned_job).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from whisper_ui.api.deps import OwnerDependency, owned_job
from whisper_ui.api.errors import ApiError, bad_request, errors, from_domain
from whisper_ui.domain import JobStateError, Segment
from whisper_ui.jobs.edits import MAX_TEXT_CHARS, EditError, EditNotSaved, SegmentView
from whisper_ui.services import Services

# The largest body a PATCH can need: MAX_TEXT_CHARS characters, each written as a JSON
# escape at worst, plus the times. A larger declared body is refused before it is read.
MAX_BODY_BYTES = MAX_TEXT_CHARS * 12 + 1024


class SegmentPatch(BaseModel):
    """What to change in one segment; any subset, at least one."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description=f"The new text (at most {MAX_TEXT_CHARS} chars)")
    start: float | None = Field(None, description="New start, seconds")
    end: float | None = Field(None, description="New end, seconds")
    speaker: str | None = Field(None, description="Who says it (speakers on): a name")


class OriginalOut(BaseModel):
    """What the model wrote for an edited segment."""

    start: float
    end: float
    text: str


class SegmentOut(BaseModel):
    """One segment as the transcript shows it; `original` only when `edited`."""

    id: int
    start: float
    end: float
    text: str
    edited: bool
    original: OriginalOut | None = None
    speaker: str | None = Field(None, description="Who speaks (speakers on), by their name")

    @classmethod
    def of(cls, view: SegmentView, names: dict[str, str] | None = None) -> SegmentOut:
        segment, original = view.segment, view.original
        speaker = segment.speaker
        return cls(
            id=segment.id,
            start=segment.start,
            end=segment.end,
            text=segment.text,
            edited=view.edited,
            original=_original(original) if view.edited else None,
            speaker=(names or {}).get(speaker, speaker) if speaker is not None else None,
        )


def _original(segment: Segment) -> OriginalOut:
    return OriginalOut(start=segment.start, end=segment.end, text=segment.text)


class SpeakerRename(BaseModel):
    """Call a speaker by another name in the whole transcript."""

    model_config = ConfigDict(extra="forbid")

    speaker: str = Field(description="The speaker as the transcript names them now")
    name: str = Field(max_length=200, description="The new name; empty gives back the label")


class SpeakerOut(BaseModel):
    label: str = Field(description="The speakers stage's label (Speaker 1, ...)")
    name: str
    talk_time: float = Field(description="Seconds of speech")


class SpeakerList(BaseModel):
    job_id: str
    speakers: list[SpeakerOut]


class SegmentList(BaseModel):
    """A job's segments, edits applied; `revision` changes with every edit or restore."""

    job_id: str
    revision: int
    segments: list[SegmentOut]


def _refused(exc: EditError) -> ApiError:
    return bad_request(str(exc), exc.code)


def edits_router(services: Services, owner: OwnerDependency) -> APIRouter:
    router = APIRouter(prefix="/api/jobs", tags=["jobs"])
    edits = services.edits

    def listing(job_id: str) -> SegmentList:
        views = edits.segments(job_id)
        return SegmentList(
            job_id=job_id,
            revision=edits.revision(job_id),
            segments=[SegmentOut.of(v, services.registry.speaker_names(job_id)) for v in views],
        )

    def speakers(job_id: str) -> SpeakerList:
        names = services.registry.speaker_names(job_id)
        original = services.registry.original_transcript(job_id)
        talk = original.talk_time() if original is not None else {}
        return SpeakerList(
            job_id=job_id,
            speakers=[
                SpeakerOut(label=label, name=names.get(label, label), talk_time=round(t, 3))
                for label, t in talk.items()
            ],
        )

    def limit_body(request: Request) -> None:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise bad_request(
                f"the body is {declared} bytes; a segment's text may have at most "
                f"{MAX_TEXT_CHARS} characters",
                "text_too_long",
            )

    @router.get("/{job_id}/segments", response_model=SegmentList, responses=errors(404))
    async def list_segments(job_id: str, who: str = Depends(owner)) -> SegmentList:
        """The transcript's segments with every edit applied; each says whether it was
        edited and, if so, what the model wrote."""
        owned_job(services, job_id, who)
        return listing(job_id)

    @router.patch(
        "/{job_id}/segments/{n}",
        response_model=SegmentOut,
        responses=errors(400, 404, 409),
        dependencies=[Depends(limit_body)],
    )
    async def edit_segment(
        job_id: str, n: int, change: SegmentPatch, who: str = Depends(owner)
    ) -> SegmentOut:
        """Change segment `n`'s text, start and/or end (a finished job only: 409 while it
        is queued or running). 400 with the reason, and nothing changed, for start after
        end, an overlap with a neighbour, an end past the recording, text over the bound
        or a segment that does not exist. Of two writes to one segment the later wins;
        giving back the model's values restores it. Every export shows the edit."""
        owned_job(services, job_id, who)
        try:
            view = edits.apply(
                job_id, n, text=change.text, start=change.start, end=change.end,
                speaker=change.speaker,
            )  # fmt: skip
        except EditError as exc:
            raise _refused(exc) from None
        except JobStateError as exc:
            raise from_domain(exc) from None
        except EditNotSaved as exc:
            raise ApiError(500, str(exc), "edit_not_saved", type="server_error") from None
        return SegmentOut.of(view, services.registry.speaker_names(job_id))

    @router.delete(
        "/{job_id}/segments/{n}", response_model=SegmentOut, responses=errors(400, 404, 409)
    )
    async def restore_segment(job_id: str, n: int, who: str = Depends(owner)) -> SegmentOut:
        """Back to what the model wrote for segment `n` (nothing happens if not edited)."""
        owned_job(services, job_id, who)
        try:
            restored = edits.restore(job_id, n)
            return SegmentOut.of(restored, services.registry.speaker_names(job_id))
        except EditError as exc:
            raise _refused(exc) from None
        except JobStateError as exc:
            raise from_domain(exc) from None
        except EditNotSaved as exc:
            raise ApiError(500, str(exc), "edit_not_saved", type="server_error") from None

    @router.get("/{job_id}/speakers", response_model=SpeakerList, responses=errors(404))
    async def list_speakers(job_id: str, who: str = Depends(owner)) -> SpeakerList:
        """The job's speakers in order of first speech, with their names and talk time."""
        owned_job(services, job_id, who)
        return speakers(job_id)

    @router.put("/{job_id}/speakers", response_model=SpeakerList, responses=errors(400, 404, 409))
    async def rename_speaker(
        job_id: str, change: SpeakerRename, who: str = Depends(owner)
    ) -> SpeakerList:
        """Rename a speaker once for the whole file: every export and the page use the
        name. Two speakers given one name read as one person."""
        owned_job(services, job_id, who)
        try:
            edits.rename_speaker(job_id, change.speaker, change.name)
        except EditError as exc:
            raise _refused(exc) from None
        except JobStateError as exc:
            raise from_domain(exc) from None
        except EditNotSaved as exc:
            raise ApiError(500, str(exc), "edit_not_saved", type="server_error") from None
        return speakers(job_id)

    @router.delete("/{job_id}/segments", response_model=SegmentList, responses=errors(404, 409))
    async def restore_all(job_id: str, who: str = Depends(owner)) -> SegmentList:
        """Back to the model's transcript: every edit of the job dropped."""
        owned_job(services, job_id, who)
        try:
            edits.restore_all(job_id)
        except JobStateError as exc:
            raise from_domain(exc) from None
        except EditNotSaved as exc:
            raise ApiError(500, str(exc), "edit_not_saved", type="server_error") from None
        return listing(job_id)

    return router
