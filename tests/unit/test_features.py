"""The block feature extractor computes faster-whisper's features, in bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from tests.conftest import DATA
from whisper_ui import audio
from whisper_ui.engine.features import BLOCK_FRAMES, BlockFeatureExtractor, install

RNG = np.random.default_rng(7)


@pytest.mark.parametrize(
    "samples",
    [
        401,  # a few frames
        16000 * 5,
        BLOCK_FRAMES * 160,  # exactly one block
        BLOCK_FRAMES * 160 * 3 + 77,  # blocks and a ragged end
    ],
)
@pytest.mark.parametrize("n_mels", [80, 128])  # large-v3 has 128
def test_the_same_features_as_faster_whispers_extractor(samples: int, n_mels: int) -> None:
    wave = (0.1 * RNG.standard_normal(samples)).astype(np.float32)
    original = FeatureExtractor(feature_size=n_mels)
    ours = BlockFeatureExtractor.like(original)
    expected, got = original(wave), ours(wave)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)  # bit for bit: beam search is that touchy


def test_the_same_features_on_real_speech_and_with_chunk_length() -> None:
    wave = audio.decode(str(DATA / "long_speech.mp3"))
    original, ours = FeatureExtractor(), BlockFeatureExtractor.like(FeatureExtractor())
    np.testing.assert_allclose(
        ours(wave, chunk_length=30), original(wave, chunk_length=30), atol=2e-5
    )
    assert ours.nb_max_frames == original.nb_max_frames


def test_install_replaces_a_models_extractor_once() -> None:
    class Model:
        feature_extractor = FeatureExtractor()

    model = Model()
    install(model)
    first = model.feature_extractor
    assert isinstance(first, BlockFeatureExtractor)
    install(model)
    assert model.feature_extractor is first
