"""audio.PieceReader: a file's audio a piece at a time (issue 16, item 3).

The pieces must be the ones `split_on_silence` cuts from the whole decoded file, bit
for bit (so a job transcribes exactly what it did when it held the whole file), a
resumed job's pieces must start at its offset, and what the reader learns of a
damaged file must be what `decode_checked` says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA
from whisper_ui import audio

LONG = DATA / "long_speech.mp3"


def cut_whole(samples: np.ndarray, max_chunk_s: float, offset_s: float = 0.0) -> list:
    part = samples[int(offset_s * audio.SAMPLE_RATE) :]
    cuts = audio.split_on_silence(part, max_chunk_s=max_chunk_s, min_silence_ms=400)
    rate = audio.SAMPLE_RATE
    return [(offset_s + s, part[round(s * rate) : round(e * rate)]) for s, e in cuts]


@pytest.mark.parametrize("max_chunk_s", [7.0, 20.0, 600.0])
def test_the_pieces_are_the_cuts_of_the_whole_file(max_chunk_s: float) -> None:
    whole = audio.decode(LONG)
    reader = audio.PieceReader(LONG, max_chunk_s=max_chunk_s, min_silence_ms=400)
    pieces = list(reader)
    expected = cut_whole(whole, max_chunk_s)
    assert len(pieces) == len(expected) and (len(pieces) > 1) == (max_chunk_s < 89)
    for piece, (start, samples) in zip(pieces, expected, strict=True):
        assert piece.start_s == pytest.approx(start, abs=1e-6)
        assert len(piece.samples) <= max_chunk_s * audio.SAMPLE_RATE
        np.testing.assert_array_equal(piece.samples, samples)
    assert reader.decoded_s == pytest.approx(len(whole) / audio.SAMPLE_RATE)
    assert reader.warning is None


def test_a_resumed_reader_starts_at_its_offset() -> None:
    whole = audio.decode(LONG)
    reader = audio.PieceReader(LONG, start_s=33.3, max_chunk_s=20.0, min_silence_ms=400)
    pieces = list(reader)
    assert pieces[0].start_s == pytest.approx(33.3)
    for piece, (start, samples) in zip(pieces, cut_whole(whole, 20.0, 33.3), strict=True):
        assert piece.start_s == pytest.approx(start, abs=1e-6)
        np.testing.assert_array_equal(piece.samples, samples)
    assert pieces[-1].end_s == pytest.approx(len(whole) / audio.SAMPLE_RATE)


def test_an_offset_past_the_end_gives_no_piece() -> None:
    reader = audio.PieceReader(DATA / "speech.wav", start_s=60.0)
    assert list(reader) == []
    assert reader.decoded_s == 60.0


def test_a_cut_off_file_warns_as_decode_checked_does_before_its_last_piece(
    tmp_path: Path,
) -> None:
    cut = tmp_path / "cut.mp3"
    data = LONG.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    expected = audio.decode_checked(cut).warning
    assert expected is not None and "ends early" in expected
    seen: list[tuple[str | None, int]] = []
    pieces: list[audio.Piece] = []
    reader = audio.PieceReader(
        cut,
        max_chunk_s=20.0,
        min_silence_ms=400,
        on_end=lambda r: seen.append((r.warning, len(pieces))),
    )
    for piece in reader:
        pieces.append(piece)
    assert seen == [(expected, len(pieces) - 1)], "once, before the last piece"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("corrupt.mp3", "could not be decoded"),
        ("not_audio.mp3", "not a recognised audio or video file"),
        ("empty.wav", "file is empty"),
        ("video_noaudio.mp4", "has no audio track"),
    ],
)
def test_a_file_without_audio_is_an_audio_error_naming_it(name: str, reason: str) -> None:
    with pytest.raises(audio.AudioError) as err:
        list(audio.PieceReader(DATA / name, name=f"shown {name}"))
    assert str(err.value).startswith(f"shown {name}: ") and reason in str(err.value)


def test_memory_holds_one_piece_not_the_file(tmp_path: Path) -> None:
    """Ten minutes of audio in 20 s pieces: no piece object outlives its turn (the
    reader keeps no list of them), so the largest array alive is about one piece."""
    import tracemalloc

    long_wav = tmp_path / "ten_minutes.wav"
    clip = audio.decode(LONG)
    samples = np.tile(clip, 7)[: 600 * audio.SAMPLE_RATE]
    import wave

    with wave.open(str(long_wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(audio.SAMPLE_RATE)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    del clip, samples
    tracemalloc.start()
    total = 0.0
    for piece in audio.PieceReader(long_wav, max_chunk_s=20.0, min_silence_ms=400):
        total += len(piece.samples) / audio.SAMPLE_RATE
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total == pytest.approx(600, abs=0.01)
    whole_bytes = 600 * audio.SAMPLE_RATE * 4
    assert peak < whole_bytes / 5, f"peak {peak / 1e6:.1f} MB for a {whole_bytes / 1e6:.0f} MB file"


def test_decode_mapped_is_the_whole_decode_in_a_mapped_file() -> None:
    from whisper_ui.audio import decode, decode_mapped

    for name in ("long_speech.mp3", "stereo_44k.wav", "video.mp4"):
        path = DATA / name
        whole, mapped = decode(path), decode_mapped(path)
        assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
        assert np.array_equal(whole, mapped), name


def test_decode_mapped_refuses_what_decode_refuses_with_the_same_words() -> None:
    from whisper_ui.audio import AudioError, decode, decode_mapped

    for name in ("not_audio.mp3", "empty.wav", "video_noaudio.mp4", "corrupt.mp3"):
        with pytest.raises(AudioError) as whole:
            decode(DATA / name)
        with pytest.raises(AudioError) as mapped:
            decode_mapped(DATA / name)
        assert str(mapped.value) == str(whole.value) and name in str(mapped.value)
