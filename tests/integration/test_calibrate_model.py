"""The calibration's timing with the real tiny.en model, on a few seconds of committed
speech (the choice from those numbers is tests/unit/test_calibrate.py's). No assertion on
which mode is faster: that is what differs between CPUs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA, until
from whisper_ui import audio
from whisper_ui.config import Settings
from whisper_ui.engine.calibrate import (
    CALIBRATION_AUDIO,
    CalibrationError,
    CalibrationKey,
    CalibrationStopped,
    Mode,
    calibrate,
    cpu_isa,
    load_cached,
    load_model,
    modes,
    speech_chunks,
)
from whisper_ui.engine.resources import SystemProbe
from whisper_ui.services import build_services

pytestmark = pytest.mark.integration

KEY = CalibrationKey("this CPU", cpu_isa(), 2, "tiny.en", "int8")


def speech() -> np.ndarray:
    """speech.wav three times (~30 s): a window full of speech, as calibration.ogg is (a
    short clip padded to 30 s lets tiny.en run on in the silence, which no job costs)."""
    return np.tile(audio.decode(str(DATA / "speech.wav")), 3)


def test_every_mode_is_timed_on_the_same_chunks(tiny_model_path: Path) -> None:
    seen: list[Mode] = []
    cal = calibrate(
        str(tiny_model_path),
        KEY,
        samples=speech(),
        beam=1,
        budget_s=12,
        progress=lambda m: seen.append(m.mode),
    )
    # The batch (2, or 1 where a slow CPU leaves no time for it) sizes every mode alike.
    batch = cal.chunks // 2
    assert [m.mode for m in cal.measurements] == seen == list(modes(2, batch))
    assert batch in (1, 2) and Mode(2, 1, 1) in seen
    assert all(m.seconds_per_chunk > 0 for m in cal.measurements)
    assert cal.key == KEY and cal.beam_size == 1


def test_a_calibration_past_its_time_budget_fails(tiny_model_path: Path) -> None:
    with pytest.raises(CalibrationError, match="over its time budget"):
        calibrate(str(tiny_model_path), KEY, samples=speech(), beam=1, budget_s=0.01)


def test_a_calibration_stops_when_asked(tiny_model_path: Path) -> None:
    with pytest.raises(CalibrationStopped):
        calibrate(
            str(tiny_model_path),
            KEY,
            samples=speech(),
            beam=1,
            should_stop=lambda: True,
        )


def test_the_packaged_calibration_audio_is_speech(tiny_model_path: Path) -> None:
    model = load_model(str(tiny_model_path), workers=1, threads=1)
    chunks = speech_chunks(model, audio.decode(str(CALIBRATION_AUDIO)), 3)
    assert len(chunks) == 3 and chunks[0].shape[-1] == 3000  # padded to a 30 s window


@pytest.mark.slow  # a whole calibration on the packaged 28 s of speech
def test_serve_calibrates_once_in_the_background_and_caches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cores count as quiet: a test run's own load would hold it back for 10 minutes.
    monkeypatch.setattr("whisper_ui.services.cpu_quiet", lambda cores: True)
    settings = Settings(data_dir=tmp_path, model="tiny.en", beam_size=1, auto_calibrate=True)
    probe = SystemProbe(use_torch_fallback=False, environ={})

    async def main() -> None:
        services = build_services(settings, probe=probe, persist=True, cuda_ok=False)
        await services.start()
        try:
            key = services.calibration_key()
            assert services.calibrations is not None
            held = services.calibrations
            await until(  # calibrate's own deadline is twice its 24 s budget
                lambda: held.get(key.model, key.compute_type), 180, "the calibration"
            )
            (placement,) = services.plan().placements
            assert placement.limited_by in ("measured", "memory", "cap")
            assert load_cached(tmp_path, key) is not None
        finally:
            await services.stop()

    asyncio.run(main())
