"""Known speakers in a request (OpenAI's known_speaker_names[]/references[]): 400 on bad ones."""

from __future__ import annotations

import asyncio

from whisper_ui.api.errors import bad_request
from whisper_ui.domain import Voice
from whisper_ui.jobs.voices import VoiceError, known_voices
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
