"""engine/vad: faster-whisper's Silero VAD a block at a time gives the same answer."""

from __future__ import annotations

import faster_whisper.vad as fw_vad
import numpy as np
import pytest
from faster_whisper.utils import get_assets_path

from tests.conftest import DATA
from whisper_ui import audio
from whisper_ui.engine import vad

RNG = np.random.default_rng(16)


def speech_with_pauses(seconds: float) -> np.ndarray:
    """long_speech.mp3 again and again with pauses and faint noise between."""
    clip = audio.decode(DATA / "long_speech.mp3")
    gap = (1e-3 * RNG.standard_normal(3 * audio.SAMPLE_RATE)).astype(np.float32)
    one = np.concatenate([clip, gap])
    n = int(seconds * audio.SAMPLE_RATE)
    out = np.tile(one, n // len(one) + 1)[:n]
    return out[: len(out) - len(out) % 512]


def original_model() -> fw_vad.SileroVADModel:
    return fw_vad.SileroVADModel(f"{get_assets_path()}/silero_vad_v6.onnx")


@pytest.mark.parametrize("block_windows", [1, 999, vad.BLOCK_WINDOWS])
def test_the_same_probabilities_bit_for_bit(block_windows: int) -> None:
    # 400 s: two of faster-whisper's 10 000-window calls, so its state carry is covered.
    samples = speech_with_pauses(400 if block_windows > 1 else 20)
    original = original_model()
    ours = vad.BlockVAD(original.session, block_windows=block_windows)
    expected, got = np.asarray(original(samples)).reshape(-1), ours(samples)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_rejects_what_the_original_rejects() -> None:
    ours = vad.BlockVAD(original_model().session)
    with pytest.raises(ValueError):
        ours(np.zeros(513, dtype=np.float32))
    with pytest.raises(ValueError):
        ours(np.zeros((2, 512), dtype=np.float32))
    with pytest.raises(ValueError):
        vad.BlockVAD(None, block_windows=0)


def test_install_makes_get_speech_timestamps_use_it_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fw_vad, "get_vad_model", fw_vad.get_vad_model)  # undone after
    monkeypatch.setattr(vad, "_installed", None)
    samples = speech_with_pauses(60)
    expected = fw_vad.get_speech_timestamps(samples, fw_vad.VadOptions())
    vad.install()
    first = fw_vad.get_vad_model
    vad.install()  # a second model loaded: nothing changes
    assert fw_vad.get_vad_model is first
    assert isinstance(first(), vad.BlockVAD) and first() is first()
    assert fw_vad.get_speech_timestamps(samples, fw_vad.VadOptions()) == expected
    assert expected  # the fixture has speech
