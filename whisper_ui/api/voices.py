"""Known speakers: a request's own (OpenAI's known_speaker_names[]/references[]) and a
person's saved voices (/api/voices); a clip that is not audio is a 400 naming it."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from whisper_ui.api.deps import OwnerDependency
from whisper_ui.api.errors import bad_request, errors, not_found
from whisper_ui.api.forms import multipart_body, parse_fields
from whisper_ui.api.uploads import read_form
from whisper_ui.domain import Voice
from whisper_ui.jobs.voices import MAX_NAME_CHARS, VoiceError, known_voices
from whisper_ui.services import Services


async def known_voices_of(
    services: Services, names: list[str], references: list[str]
) -> tuple[Voice, ...]:
    """The request's reference clips stored and checked as audio; a clip that is not
    audio, or names that do not pair up with clips, is a 400 naming which one."""
    if not names and not references:
        return ()
    voices_dir = services.settings.resolved_data_dir / "voices"
    try:
        return await asyncio.to_thread(known_voices, names, references, voices_dir)
    except VoiceError as exc:
        raise bad_request(str(exc), "invalid_speaker_reference") from None


class VoiceOut(BaseModel):
    name: str
    duration: float = Field(description="Seconds of the reference clip")


class VoiceList(BaseModel):
    """A person's saved voices: their later jobs with speakers on are labelled with them."""

    voices: list[VoiceOut]


def voices_router(services: Services, owner: OwnerDependency) -> APIRouter:
    router = APIRouter(prefix="/api/voices", tags=["speakers"])
    saved = services.voices

    def listing(who: str) -> VoiceList:
        return VoiceList(
            voices=[VoiceOut(name=v.name, duration=v.duration) for v in saved.list(who)]
        )

    @router.get("", response_model=VoiceList, responses=errors())
    async def list_voices(who: str = Depends(owner)) -> VoiceList:
        """Your saved voices, by name."""
        return await asyncio.to_thread(listing, who)

    @router.post(
        "",
        response_model=VoiceList,
        responses=errors(400, 413),
        openapi_extra=multipart_body(VoiceFields, {"file": False}),
    )
    async def save_voice(request: Request, who: str = Depends(owner)) -> VoiceList:
        """Keep a named reference clip (1-30 s of one voice; multipart `name` and `file`):
        in your later files with speakers on, the speaker nearest it is given its name.
        The same name again replaces the clip."""
        form = await read_form(
            request,
            spool_dir=services.settings.resolved_data_dir / "uploads",
            limit_mb=min(services.settings.max_upload_mb, 20),
            file_fields=frozenset({"file"}),
        )
        try:
            fields = parse_fields(VoiceFields, form)
            if len(form.files) != 1:
                raise bad_request(
                    "send exactly one multipart 'file': the voice's clip", "invalid_file"
                )
            data = await asyncio.to_thread(form.files[0].path.read_bytes)
            await asyncio.to_thread(saved.save, who, fields.name, data)
        except VoiceError as exc:
            raise bad_request(str(exc), "invalid_speaker_reference") from None
        finally:
            form.discard()
        return await asyncio.to_thread(listing, who)

    @router.delete("/{name}", response_model=VoiceList, responses=errors(404))
    async def delete_voice(name: str, who: str = Depends(owner)) -> VoiceList:
        """Forget a saved voice (files already labelled keep their names)."""
        if not await asyncio.to_thread(saved.delete, who, name):
            raise not_found(f"no saved voice named {name!r}")
        return await asyncio.to_thread(listing, who)

    return router


class VoiceFields(BaseModel):
    """The text fields of POST /api/voices, besides `file`."""

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS, description="The speaker's name")
