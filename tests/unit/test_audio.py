"""Tests for whisper_ui.audio: intake validation, decoding and silence splitting.

They run on the committed fixtures in tests/data (see its README) and on files made
in tmp_path; nothing here loads a model.
"""

from __future__ import annotations

import itertools
import os
import pickle
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from whisper_ui import audio
from whisper_ui.audio import AudioError, MediaInfo, decode, probe, split_on_silence

DATA = Path(__file__).resolve().parents[1] / "data"
SR = 16000

FFMPEG = ("ffmpeg", "-nostdin", "-v", "error", "-y")


def write_wav(path: Path, samples: np.ndarray, rate: int = SR, width: int = 2) -> Path:
    """Write PCM with the stdlib (int16 for width 2, unsigned 8-bit for width 1)."""
    data = np.asarray(samples)
    channels = 1 if data.ndim == 1 else data.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 2:
            pcm = (np.clip(data, -1, 1) * 32767).astype("<i2")
        else:
            pcm = (np.clip(data, -1, 1) * 127 + 128).astype(np.uint8)
        w.writeframes(pcm.tobytes())
    return path


def write_silent_wav(path: Path, seconds: float, rate: int, width: int) -> Path:
    """A long silent wav written block by block (no huge array in memory)."""
    silence = b"\x80" if width == 1 else b"\x00\x00"
    block = silence * rate * 60
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        whole, rest = divmod(round(seconds * rate), rate * 60)
        for _ in range(whole):
            w.writeframes(block)
        w.writeframes(silence * rest)
    return path


def tone(seconds: float, freq: float = 440.0, amp: float = 0.5, rate: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def quiet(seconds: float, rate: int = SR) -> np.ndarray:
    return np.zeros(round(seconds * rate), dtype=np.float32)


@pytest.fixture
def count_decoded(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the packets and samples that audio.py decodes (via its _decode_packet seam)."""
    counts = {"packets": 0, "samples": 0}
    real = audio._decode_packet

    def counting(packet: Any) -> list[Any]:
        frames = real(packet)
        counts["packets"] += 1
        counts["samples"] += sum(f.samples for f in frames)
        return frames

    monkeypatch.setattr(audio, "_decode_packet", counting)
    return counts


# ---- probe: the fixtures -------------------------------------------------------

# name: (duration s, container, codec, sample rate, channels, has_video)
GOOD = {
    "speech.wav": (9.833, "wav", "pcm_s16le", 16000, 1, False),
    "speech.mp3": (9.833, "mp3", "mp3", 16000, 1, False),
    "speech.m4a": (9.834, "mov,mp4,m4a,3gp,3g2,mj2", "aac", 16000, 1, False),
    "speech.ogg": (9.840, "ogg", "opus", 48000, 1, False),
    "speech.flac": (9.833, "flac", "flac", 16000, 1, False),
    "speech.webm": (9.841, "matroska,webm", "opus", 48000, 1, False),
    "second_speech.wav": (3.892, "wav", "pcm_s16le", 16000, 1, False),
    "stereo_44k.wav": (2.720, "wav", "pcm_s16le", 44100, 2, False),
    "speech_8k.wav": (4.896, "wav", "pcm_mulaw", 8000, 1, False),
    "silence.wav": (5.0, "wav", "pcm_s16le", 16000, 1, False),
    "tiny_0.1s.wav": (0.1, "wav", "pcm_s16le", 16000, 1, False),
    "long_speech.mp3": (89.619, "mp3", "mp3", 16000, 1, False),
    "video.mp4": (4.939, "mov,mp4,m4a,3gp,3g2,mj2", "aac", 22050, 1, True),
    "video.mkv": (5.046, "matroska,webm", "aac", 22050, 1, True),
    "video.mov": (4.939, "mov,mp4,m4a,3gp,3g2,mj2", "aac", 22050, 1, True),
}


@pytest.mark.parametrize("fname", sorted(GOOD))
def test_probe_fixture(fname: str) -> None:
    duration, container, codec, rate, channels, has_video = GOOD[fname]
    path = DATA / fname
    info = probe(path)
    assert isinstance(info, MediaInfo)
    assert info.duration == pytest.approx(duration, abs=0.06)
    assert info.duration > 0
    assert info.container == container
    assert info.codec == codec
    assert info.sample_rate == rate
    assert info.channels == channels
    assert info.has_video is has_video
    assert info.size_bytes == path.stat().st_size
    assert info.path == str(path)
    assert info.name == fname


def test_probe_accepts_str_and_pathlike() -> None:
    assert probe(str(DATA / "speech.wav")) == probe(DATA / "speech.wav")


# ---- probe: every error reason ---------------------------------------------------


@pytest.mark.parametrize(
    ("fname", "reason"),
    [
        ("corrupt.mp3", "could not be decoded: invalid data found when processing input"),
        ("not_audio.mp3", "not a recognised audio or video file"),
        ("empty.wav", "file is empty (0 bytes)"),
        ("video_noaudio.mp4", "has no audio track"),
    ],
)
def test_probe_bad_fixture(fname: str, reason: str) -> None:
    with pytest.raises(AudioError) as err:
        probe(DATA / fname)
    assert err.value.reason == reason
    assert err.value.name == fname
    assert err.value.path == str(DATA / fname)
    assert str(err.value) == f"{fname}: {reason}"
    assert err.value.__cause__ is None  # no raw av exception chained for display


def test_probe_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as err:
        probe(tmp_path / "nowhere.wav")
    assert str(err.value) == "nowhere.wav: file not found"


def test_probe_folder(tmp_path: Path) -> None:
    (tmp_path / "music.mp3").mkdir()
    with pytest.raises(AudioError) as err:
        probe(tmp_path / "music.mp3")
    assert err.value.reason == "is a folder, not a file"


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="posix only")
def test_probe_device_file_is_refused_without_reading() -> None:
    with pytest.raises(AudioError) as err:
        probe("/dev/null")
    assert err.value.reason == "is not a regular file"


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="root ignores file permissions"
)
def test_probe_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "locked.wav"
    shutil.copy(DATA / "speech.wav", path)
    path.chmod(0)
    try:
        with pytest.raises(AudioError) as err:
            probe(path)
        assert err.value.reason.startswith("could not be read: ")
    finally:
        path.chmod(0o644)


def test_probe_zero_duration(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "nothing.wav", np.zeros(0, dtype=np.float32))
    assert path.stat().st_size > 0  # a valid header and no samples
    with pytest.raises(AudioError) as err:
        probe(path)
    assert str(err.value) == "nothing.wav: has no audio (duration 0 s)"


def test_probe_too_long(tmp_path: Path) -> None:
    # 3725 s of 8 kHz 8-bit silence: 30 MB, and the header gives the duration.
    path = write_silent_wav(tmp_path / "long.wav", 3725, rate=8000, width=1)
    assert probe(path).duration == pytest.approx(3725, abs=0.01)
    with pytest.raises(AudioError) as err:
        probe(path, max_duration_s=3600)
    assert err.value.reason == "is 3725 s long (1:02:05); the limit is 3600 s (1:00:00)"
    assert probe(path, max_duration_s=3725).duration == pytest.approx(3725, abs=0.01)


def test_probe_too_long_fixture() -> None:
    with pytest.raises(AudioError) as err:
        probe(DATA / "long_speech.mp3", max_duration_s=60)
    assert str(err.value) == "long_speech.mp3: is 90 s long (1:30); the limit is 60 s (1:00)"
    with pytest.raises(AudioError) as err:
        probe(DATA / "speech.wav", max_duration_s=2.5)
    assert err.value.reason == "is 10 s long; the limit is 2.5 s"


def test_probe_truncated_mp4_index(tmp_path: Path) -> None:
    """An mp4 cut off before its index is damaged, not 'some other kind of file'."""
    data = (DATA / "speech.m4a").read_bytes()  # index (moov) at the end
    path = tmp_path / "upload.m4a"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError) as err:
        probe(path)
    assert err.value.reason.startswith("could not be decoded: the file is damaged or incomplete")


def test_probe_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.wav"
    path.write_bytes(bytes(range(7, 256)) * 40)
    with pytest.raises(AudioError) as err:
        probe(path)
    assert err.value.reason == "not a recognised audio or video file"


# ---- names: unicode, spaces, display-name override ------------------------------

UNICODE_NAME = "Réunion d'équipe — 会议 2024 (final).wav"


def test_probe_unicode_name_with_spaces(tmp_path: Path) -> None:
    path = tmp_path / UNICODE_NAME
    shutil.copy(DATA / "speech.wav", path)
    info = probe(path)
    assert info.name == UNICODE_NAME
    assert info.duration == pytest.approx(9.833, abs=0.01)
    assert decode(path).shape == decode(DATA / "speech.wav").shape


def test_probe_unicode_name_error(tmp_path: Path) -> None:
    path = tmp_path / "Ünïcode файл (1).mp3"
    shutil.copy(DATA / "corrupt.mp3", path)
    with pytest.raises(AudioError) as err:
        probe(path)
    assert str(err.value).startswith("Ünïcode файл (1).mp3: could not be decoded: ")


def test_probe_colon_in_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FFmpeg would read 'call 10:30.wav' as protocol 'call 10'; probe must not."""
    shutil.copy(DATA / "speech.wav", tmp_path / "call10:30.wav")
    monkeypatch.chdir(tmp_path)
    assert probe("call10:30.wav").duration == pytest.approx(9.833, abs=0.01)
    assert len(decode("call10:30.wav")) > 0


def test_display_name_override(tmp_path: Path) -> None:
    upload = tmp_path / "tmpk3j9x_upload"
    shutil.copy(DATA / "speech.mp3", upload)
    info = probe(upload, name="Interview – Anna.mp3")
    assert info.name == "Interview – Anna.mp3"
    assert info.path == str(upload)


@pytest.mark.parametrize("fname", ["empty.wav", "corrupt.mp3", "not_audio.mp3"])
def test_display_name_override_in_errors(tmp_path: Path, fname: str) -> None:
    upload = tmp_path / "tmp_upload_0001"
    shutil.copy(DATA / fname, upload)
    for call in (probe, decode):
        with pytest.raises(AudioError) as err:
            call(upload, name="My Talk.wav")
        assert err.value.name == "My Talk.wav"
        assert err.value.path == str(upload)
        assert str(err.value) == f"My Talk.wav: {err.value.reason}"
        assert "tmp_upload_0001" not in str(err.value)


def test_missing_file_override_name(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as err:
        probe(tmp_path / "x", name="lecture.mp3")
    assert str(err.value) == "lecture.mp3: file not found"


def test_audio_error_api() -> None:
    err = AudioError("/tmp/abc/rec.wav", "has no audio track")
    assert (err.path, err.name, err.reason) == ("/tmp/abc/rec.wav", "rec.wav", "has no audio track")
    assert str(err) == "rec.wav: has no audio track"
    named = AudioError(Path("/tmp/abc/x"), "file not found", name="Talk.mp3")
    assert str(named) == "Talk.mp3: file not found"
    copy = pickle.loads(pickle.dumps(named))
    assert (copy.path, copy.name, copy.reason, str(copy)) == (
        named.path,
        named.name,
        named.reason,
        str(named),
    )


# ---- probe: cheap on big files, fallbacks ---------------------------------------


def test_probe_does_not_decode_a_long_file(tmp_path: Path, count_decoded: dict[str, int]) -> None:
    path = write_silent_wav(tmp_path / "twenty_minutes.wav", 20 * 60, rate=SR, width=2)
    t0 = time.perf_counter()
    info = probe(path)
    probe_s = time.perf_counter() - t0
    assert info.duration == pytest.approx(1200, abs=0.01)
    probed = dict(count_decoded)
    assert probed["samples"] < 5 * SR, probed  # a few packets, not 20 minutes

    t0 = time.perf_counter()
    samples = decode(path)
    decode_s = time.perf_counter() - t0
    assert len(samples) == 1200 * SR
    decoded = count_decoded["samples"] - probed["samples"]
    assert decoded == 1200 * SR
    # Informative only: probe should be far cheaper than decoding.
    print(f"probe {probe_s * 1000:.1f} ms vs decode {decode_s * 1000:.1f} ms")


def test_probe_without_duration_header(tmp_path: Path, count_decoded: dict[str, int]) -> None:
    """A streamed webm (no duration in its header) is timed from packet timestamps."""
    path = tmp_path / "recorded.webm"
    with path.open("wb") as out:
        subprocess.run(
            [*FFMPEG, "-i", str(DATA / "speech.wav"), "-c:a", "libopus", "-f", "webm", "-"],
            stdout=out,
            check=True,
        )
    import av

    with av.open(str(path)) as container:  # the premise: no duration anywhere
        assert container.duration is None
        assert container.streams.audio[0].duration is None
    info = probe(path)
    assert info.duration == pytest.approx(9.84, abs=0.06)
    assert count_decoded["packets"] <= 3  # timestamps were read, audio was not decoded


def test_probe_counts_samples_as_last_resort(monkeypatch: pytest.MonkeyPatch) -> None:
    """No duration in the headers and no packet timestamps: decode and count."""
    real_scan = audio._scan

    def scan_without_timestamps(container: Any, stream: Any, *, need_end: bool) -> Any:
        scan = real_scan(container, stream, need_end=need_end)
        scan.first_pts = scan.end_pts = None
        return scan

    monkeypatch.setattr(audio, "_metadata_duration", lambda container, stream: None)
    monkeypatch.setattr(audio, "_scan", scan_without_timestamps)
    assert probe(DATA / "speech.ogg").duration == pytest.approx(9.833, abs=0.01)


def test_probe_header_without_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """A header that promises audio but yields no frame (and no error) is damage."""
    monkeypatch.setattr(audio, "_decode_packet", lambda packet: [])
    with pytest.raises(AudioError) as err:
        probe(DATA / "speech.mp3")
    assert err.value.reason == "could not be decoded: no audio frames found (truncated file?)"


def test_cover_art_is_not_video(tmp_path: Path) -> None:
    cover = tmp_path / "cover.png"
    subprocess.run(
        [*FFMPEG, "-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1", str(cover)],
        check=True,
    )
    tagged = tmp_path / "tagged.mp3"
    subprocess.run(
        [
            *FFMPEG,
            *("-i", str(DATA / "speech.mp3"), "-i", str(cover)),
            *("-map", "0:a", "-map", "1:v", "-c", "copy", "-disposition:v", "attached_pic"),
            *("-id3v2_version", "3", str(tagged)),
        ],
        check=True,
    )
    info = probe(tagged)
    assert info.has_video is False
    assert info.codec == "mp3"


# ---- decode -----------------------------------------------------------------------

SPEECHY = sorted(set(GOOD) - {"silence.wav", "tiny_0.1s.wav"})


@pytest.mark.parametrize("fname", sorted(GOOD))
def test_decode_fixture(fname: str) -> None:
    duration = GOOD[fname][0]
    samples = decode(DATA / fname)
    assert samples.dtype == np.float32
    assert samples.ndim == 1
    assert len(samples) == pytest.approx(duration * SR, abs=0.06 * SR)
    assert float(np.abs(samples).max()) <= 1.0
    if fname in SPEECHY:
        rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
        assert rms > 0.02, rms


def test_decode_silence_is_zero() -> None:
    samples = decode(DATA / "silence.wav")
    assert len(samples) == 5 * SR
    assert not samples.any()


def test_decode_other_rate() -> None:
    assert len(decode(DATA / "speech.wav", sample_rate=8000)) == pytest.approx(9.833 * 8000, abs=8)
    assert len(decode(DATA / "speech_8k.wav", sample_rate=8000)) == pytest.approx(
        4.896 * 8000, abs=8
    )


def test_decode_same_speech_in_every_container() -> None:
    """The lossy copies carry the same audio as the wav (correlated envelopes)."""
    ref = decode(DATA / "speech.wav")

    def envelope(x: np.ndarray) -> np.ndarray:
        n = len(x) // 800
        return np.sqrt(np.mean(x[: n * 800].reshape(n, 800) ** 2, axis=1))

    ref_env = envelope(ref)
    for fname in ("speech.mp3", "speech.m4a", "speech.ogg", "speech.flac", "speech.webm"):
        env = envelope(decode(DATA / fname))
        n = min(len(env), len(ref_env))
        corr = float(np.corrcoef(env[:n], ref_env[:n])[0, 1])
        assert corr > 0.8, (fname, corr)


def test_decode_stereo_is_averaged() -> None:
    """Stereo is downmixed to (L + R) / 2, not summed (no clipping, same loudness)."""
    with wave.open(str(DATA / "stereo_44k.wav")) as w:
        raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    expected = raw.astype(np.float32).mean(axis=1) / 32768
    got = decode(DATA / "stereo_44k.wav", sample_rate=44100)
    assert len(got) == len(expected)
    assert float(np.abs(got - expected).max()) < 2e-3


def test_decode_six_channels_does_not_clip(tmp_path: Path) -> None:
    sine = tone(1.0, amp=0.9, rate=48000)
    path = write_wav(tmp_path / "surround.wav", np.stack([sine] * 6, axis=1), rate=48000)
    info = probe(path)
    assert info.channels == 6
    samples = decode(path)
    assert len(samples) == SR
    peak = float(np.abs(samples).max())
    assert 0.5 < peak <= 0.95, peak  # a float downmix would sum to ~3.1 and clip


def test_decode_video_audio_tracks_match() -> None:
    mp4 = decode(DATA / "video.mp4")
    mov = decode(DATA / "video.mov")
    mkv = decode(DATA / "video.mkv")
    assert np.array_equal(mp4, mov)  # same bytes, same container family
    assert abs(len(mkv) - len(mp4)) < 0.1 * SR


def test_decode_truncated_mp3_returns_what_decodes(tmp_path: Path) -> None:
    data = (DATA / "long_speech.mp3").read_bytes()
    path = tmp_path / "cut.mp3"
    path.write_bytes(data[: len(data) // 2])
    assert probe(path).duration == pytest.approx(89.6, abs=0.1)  # header still says 89.6 s
    samples = decode(path)
    assert 40 * SR < len(samples) < 50 * SR  # about half


def test_decode_truncated_wav(tmp_path: Path) -> None:
    data = (DATA / "speech.wav").read_bytes()
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: 44 + 2 * SR * 3 + 1])  # header + 3 s + an odd byte
    assert probe(path).duration == pytest.approx(3.0, abs=0.01)
    assert len(decode(path)) == pytest.approx(3 * SR, abs=2)


def test_decode_video_cut_mid_stream(tmp_path: Path) -> None:
    data = (DATA / "video.mp4").read_bytes()  # faststart: index first
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    assert probe(path).has_video
    samples = decode(path)
    assert 0 < len(samples) < 4.9 * SR


TRUNCATABLE = ["speech.wav", "speech.mp3", "speech.m4a", "speech.ogg", "speech.flac"]
TRUNCATABLE += ["speech.webm", "video.mp4", "video.mkv", "long_speech.mp3"]


@pytest.mark.parametrize("fname", TRUNCATABLE)
def test_cut_off_header_is_damaged(tmp_path: Path, fname: str) -> None:
    path = tmp_path / fname
    path.write_bytes((DATA / fname).read_bytes()[:12])
    for call in (probe, decode):
        with pytest.raises(AudioError) as err:
            call(path)
        assert err.value.reason.startswith(
            "could not be decoded: the file is damaged or incomplete ("
        ), err.value.reason


@pytest.mark.parametrize("fname", TRUNCATABLE)
@pytest.mark.parametrize("keep", [44, 100, 400, 1000, 5000, 0.5, 0.9])
def test_truncated_files_never_leak_raw_errors(tmp_path: Path, fname: str, keep: float) -> None:
    data = (DATA / fname).read_bytes()
    path = tmp_path / fname
    path.write_bytes(data[: int(keep * len(data)) if keep < 1 else int(keep)])
    for call in (probe, decode):
        try:
            call(path)
        except AudioError as err:  # anything else fails the test
            assert str(err).startswith(f"{fname}: ")


@pytest.mark.parametrize(
    ("fname", "reason"),
    [
        ("corrupt.mp3", "could not be decoded: invalid data found when processing input"),
        ("not_audio.mp3", "not a recognised audio or video file"),
        ("empty.wav", "file is empty (0 bytes)"),
        ("video_noaudio.mp4", "has no audio track"),
        ("missing.wav", "file not found"),
    ],
)
def test_decode_errors(fname: str, reason: str) -> None:
    with pytest.raises(AudioError) as err:
        decode(DATA / fname)
    assert str(err.value) == f"{fname}: {reason}"


def test_decode_zero_samples(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "nothing.wav", np.zeros(0, dtype=np.float32))
    with pytest.raises(AudioError) as err:
        decode(path)
    assert err.value.reason == "has no audio (duration 0 s)"


def test_decode_rejects_bad_rate() -> None:
    with pytest.raises(ValueError):
        decode(DATA / "speech.wav", sample_rate=0)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_no_file_handles_leak() -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    probe(DATA / "speech.wav")  # warm up lazy library state
    before = open_fds()
    for _ in range(20):
        probe(DATA / "speech.m4a")
        decode(DATA / "video.mkv")
        for bad in ("corrupt.mp3", "not_audio.mp3", "video_noaudio.mp4"):
            with pytest.raises(AudioError):
                probe(DATA / bad)
            with pytest.raises(AudioError):
                decode(DATA / bad)
    assert open_fds() <= before


# ---- split_on_silence ---------------------------------------------------------------


def check_cover(chunks: list[tuple[float, float]], samples: np.ndarray, max_chunk_s: float) -> None:
    assert chunks, "no chunks"
    assert chunks[0][0] == 0.0
    assert chunks[-1][1] == pytest.approx(len(samples) / SR, abs=1e-9)
    for (_, end), (start, _) in itertools.pairwise(chunks):
        assert start == end  # no gaps, no overlaps
    for start, end in chunks:
        assert end > start
        assert end - start <= max_chunk_s + 1.0 / SR


def test_split_cuts_in_the_silence() -> None:
    samples = np.concatenate([tone(3), quiet(1), tone(3)])
    chunks = split_on_silence(samples, max_chunk_s=5)
    check_cover(chunks, samples, 5)
    assert len(chunks) == 2
    cut = chunks[0][1]
    assert 3.0 < cut < 4.0
    assert cut == pytest.approx(3.5, abs=0.05)


def test_split_prefers_the_latest_silence() -> None:
    samples = np.concatenate([tone(4.5), quiet(1), tone(0.5), quiet(1), tone(5)])
    chunks = split_on_silence(samples, max_chunk_s=8)
    check_cover(chunks, samples, 8)
    assert chunks[0][1] == pytest.approx(6.5, abs=0.05)


def test_split_hard_cut_without_silence() -> None:
    samples = tone(10)
    chunks = split_on_silence(samples, max_chunk_s=4)
    assert chunks == [(0.0, 4.0), (4.0, 8.0), (8.0, 10.0)]


def test_split_ignores_short_pauses() -> None:
    samples = np.concatenate([tone(3), quiet(0.3), tone(3)])
    chunks = split_on_silence(samples, max_chunk_s=5, min_silence_ms=700)
    assert chunks == [(0.0, 5.0), (5.0, 6.3)]
    shorter = split_on_silence(samples, max_chunk_s=5, min_silence_ms=200)
    assert 3.0 < shorter[0][1] < 3.3


def test_split_threshold() -> None:
    samples = np.concatenate([tone(3), tone(1, amp=0.05), tone(3)])  # -26 dBFS "pause"
    assert split_on_silence(samples, max_chunk_s=5)[0][1] == pytest.approx(5.0)
    cut = split_on_silence(samples, max_chunk_s=5, silence_thresh_db=-20)[0][1]
    assert 3.0 < cut < 4.0


def test_split_all_silence() -> None:
    samples = quiet(10)
    chunks = split_on_silence(samples, max_chunk_s=4)
    check_cover(chunks, samples, 4)


def test_split_short_and_empty() -> None:
    assert split_on_silence(tone(2), max_chunk_s=5) == [(0.0, 2.0)]
    assert split_on_silence(tone(5), max_chunk_s=5) == [(0.0, 5.0)]
    assert split_on_silence(np.zeros(0, dtype=np.float32)) == []


def test_split_other_rate_and_dtype() -> None:
    samples = np.concatenate([tone(3, rate=8000), quiet(1, rate=8000), tone(3, rate=8000)])
    chunks = split_on_silence(samples.astype(np.float64), sample_rate=8000, max_chunk_s=5)
    assert chunks[0][1] == pytest.approx(3.5, abs=0.05)
    assert chunks[-1][1] == pytest.approx(7.0)


def test_split_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        split_on_silence(tone(1), max_chunk_s=0)
    with pytest.raises(ValueError):
        split_on_silence(tone(1), sample_rate=0)


def test_split_long_speech_between_paragraphs() -> None:
    samples = decode(DATA / "long_speech.mp3")
    chunks = split_on_silence(samples, max_chunk_s=30)
    check_cover(chunks, samples, 30)
    gaps = [18.0, 36.6, 54.4, 72.3]  # middles of the 2.1 s pauses between paragraphs
    cuts = [end for _, end in chunks[:-1]]
    assert len(cuts) == 4
    for cut, gap in zip(cuts, gaps, strict=True):
        assert cut == pytest.approx(gap, abs=1.0)
        around = samples[int((cut - 0.3) * SR) : int((cut + 0.3) * SR)]
        assert float(np.abs(around).max()) < 0.01  # in silence: no word is cut
    whole = split_on_silence(samples)  # default max 600 s: one chunk
    assert whole == [(0.0, len(samples) / SR)]


def test_split_long_audio_is_quick() -> None:
    samples = np.tile(decode(DATA / "long_speech.mp3"), 14)  # ~21 minutes
    t0 = time.perf_counter()
    chunks = split_on_silence(samples, max_chunk_s=600)
    elapsed = time.perf_counter() - t0
    check_cover(chunks, samples, 600)
    assert len(chunks) == 3
    assert elapsed < 30, elapsed  # ~1 s here; pydub's 1 ms seek step would take minutes
    for _, end in chunks[:-1]:
        around = samples[int((end - 0.3) * SR) : int((end + 0.3) * SR)]
        assert float(np.abs(around).max()) < 0.01


def test_clock_format() -> None:
    assert audio._clock(3725) == "1:02:05"
    assert audio._clock(59.2) == "1:00"
    assert audio._clock(0) == "0:00"
    assert audio._secs(2.5) == "2.5"
    assert audio._secs(3600.0) == "3600"
    assert audio._clock_note(3725) == " (1:02:05)"
    assert audio._clock_note(59) == ""
