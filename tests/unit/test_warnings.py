"""Damaged input says so (issue 12, item 4), without the model: the pure decision
(decoded vs stated duration -> warning), what PyAV really gives for cut-off files,
the journal keeping a job's warnings, the zip leaving empty transcripts out, and the
page showing the warning, escaped.

The damaged files are cut from the committed fixtures in tmp_path (nothing new is
committed). What PyAV does with them (measured, PyAV 18 / FFmpeg 7): the first 3000
bytes of speech.mp3 decode to 0.65 s of the 9.8 s its Info header states, with no
error at all; the first half of speech.flac to 4.86 s, ending in "invalid data" on the
cut frame; every intact fixture to within 30 ms of its header.
"""

from __future__ import annotations

import io
import sqlite3
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import DATA
from whisper_ui import audio
from whisper_ui.audio import decode_checked, decode_warning
from whisper_ui.domain import (
    NO_SPEECH,
    Job,
    JobStatus,
    Segment,
    TranscribeOptions,
    Transcript,
    TranscriptInfo,
)
from whisper_ui.export.files import write_zip
from whisper_ui.jobs.store import JobStore
from whisper_ui.ui import view
from whisper_ui.ui.queue_view import chip, queue_html
from whisper_ui.ui.transcript_view import transcript_html

ENDS_EARLY = "the file ends early (0.7 s of 9.8 s decoded)"


def cut(name: str, keep: int | float, folder: Path, as_name: str | None = None) -> Path:
    """The first `keep` bytes (an int) or fraction (a float) of a fixture, in `folder`."""
    data = (DATA / name).read_bytes()
    size = keep if isinstance(keep, int) else int(len(data) * keep)
    path = folder / (as_name or name)
    path.write_bytes(data[:size])
    return path


# ---- the decision ---------------------------------------------------------------------


def test_a_file_that_decodes_to_far_less_than_its_header_ends_early() -> None:
    assert decode_warning(0.651, 9.833) == ENDS_EARLY
    assert decode_warning(44.787, 89.619) == "the file ends early (0:44 of 1:30 decoded)"
    assert decode_warning(0.2, 7200.0) == "the file ends early (0:00 of 2:00:00 decoded)"
    # 0.6 s of a 0.7 s clip missing: the 0.5 s floor is absolute, not a share.
    assert decode_warning(0.1, 0.7) == "the file ends early (0.1 s of 0.7 s decoded)"


@pytest.mark.parametrize(
    ("decoded", "header"),
    [
        (9.856, 9.834),  # AAC priming: a little more than the header
        (5.016, 5.046),  # Matroska: 30 ms less
        (9.0, 9.833),  # 0.8 s short, but 92 % there: a header that is only close
        (9.4, 9.833),  # 0.43 s short: under the 0.5 s floor
        (3.0, None),  # no header to compare with (or only a bitrate guess)
    ],
)
def test_small_or_unprovable_shortfalls_say_nothing(decoded: float, header: float | None) -> None:
    assert decode_warning(decoded, header) is None


def test_a_decoding_error_says_where_decoding_stopped_and_why() -> None:
    error = "invalid data found when processing input"
    assert decode_warning(4.864, 9.833, error=error, error_at_s=4.864) == (
        f"decoding stopped at 4.9 s of 9.8 s: {error}"
    )
    # An error is damage seen, not inferred: 0.5 s missing is enough, whatever the share.
    assert decode_warning(83.0, 300.0, error=error, error_at_s=83.4) == (
        f"decoding stopped at 1:23 of 5:00: {error}"
    )
    skipped = "parts of the file could not be decoded and were skipped"
    assert decode_warning(9.3, 9.833, error=error, error_at_s=4.9) == (
        f"{skipped} (9.3 s of 9.8 s decoded): {error}"
    )
    # An error with no audio missing (a bad packet skipped): nothing to tell.
    assert decode_warning(9.82, 9.833, error=error, error_at_s=4.9) is None


def test_a_read_that_fails_outright_is_reported_even_without_a_header() -> None:
    assert decode_warning(61.0, None, error="i/o error", error_at_s=61.0, stopped=True) == (
        "decoding stopped at 1:01: i/o error"
    )
    assert decode_warning(61.0, None, stopped=True) is None  # no error: nothing to say


# ---- what PyAV gives ------------------------------------------------------------------


def test_the_first_3_kb_of_an_mp3_decode_without_error_and_end_early(tmp_path: Path) -> None:
    path = cut("speech.mp3", 3000, tmp_path)
    assert audio.probe(path).duration == pytest.approx(9.833, abs=0.01)  # the header's word
    decoded = decode_checked(path)
    assert decoded.error is None and 0.4 < decoded.duration < 1.0
    assert decoded.warning == ENDS_EARLY


def test_half_a_flac_stops_in_a_decoding_error(tmp_path: Path) -> None:
    decoded = decode_checked(cut("speech.flac", 0.5, tmp_path))
    assert decoded.error is not None and 4.5 < decoded.duration < 5.2
    assert decoded.warning is not None
    assert decoded.warning.startswith("decoding stopped at 4.") and "of 9.8 s: " in decoded.warning


@pytest.mark.parametrize(
    "name",
    [
        "speech.wav",
        "speech.mp3",
        "speech.m4a",
        "speech.ogg",
        "speech.flac",
        "speech.webm",
        "second_speech.wav",
        "stereo_44k.wav",
        "speech_8k.wav",
        "video.mp4",
        "video.mkv",
        "video.mov",
        "long_speech.mp3",
        "silence.wav",
        "tiny_0.1s.wav",
    ],
)
def test_intact_fixtures_have_no_warning(name: str) -> None:
    assert decode_checked(DATA / name).warning is None


def test_a_duration_ffmpeg_guessed_from_the_bitrate_is_not_held_against_the_file(
    tmp_path: Path,
) -> None:
    """A VBR mp3 without a Xing header, starting in 20 s of silence: FFmpeg estimates
    its length from the first (8 kb/s) frames at far more than it is. Intact, so quiet."""
    speech = audio.decode(DATA / "second_speech.wav")
    pcm = np.concatenate([np.zeros(20 * audio.SAMPLE_RATE, np.float32), speech])
    path = tmp_path / "vbr_no_xing.mp3"
    with av.open(str(path), "w", format="mp3", options={"write_xing": "0"}) as out:
        stream = out.add_stream("libmp3lame", rate=audio.SAMPLE_RATE, layout="mono")
        stream.codec_context.qscale = True  # VBR, as lame -V4
        stream.codec_context.global_quality = 4 * 118  # FF_QP2LAMBDA
        frame = av.AudioFrame.from_ndarray(
            (pcm * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = audio.SAMPLE_RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    decoded = decode_checked(path)
    guess = audio.probe(path).duration
    assert decode_warning(decoded.duration, guess) is not None, "the guess is far off"
    assert decoded.header_s is None and decoded.warning is None


def test_decode_still_gives_the_samples_alone(tmp_path: Path) -> None:
    path = cut("speech.mp3", 3000, tmp_path)
    assert np.array_equal(audio.decode(path), decode_checked(path).samples)


# ---- the journal ----------------------------------------------------------------------


def job(status: JobStatus = JobStatus.COMPLETED, **kw: object) -> Job:
    return Job("id", "/x.mp3", "x.mp3", TranscribeOptions(), 9.8, status=status, **kw)  # type: ignore[arg-type]


def test_the_journal_keeps_a_jobs_warnings_and_reads_rows_from_before_them(
    tmp_path: Path,
) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.save_job(job(warnings=(ENDS_EARLY, NO_SPEECH)))
    store.save_job(Job("old", "/y.wav", "y.wav", TranscribeOptions(), 3.0))
    store.close()
    # A row as a version before warnings wrote it: no "warnings" key at all.
    with sqlite3.connect(tmp_path / "jobs.sqlite3") as raw:
        raw.execute("UPDATE jobs SET data = json_remove(data, '$.warnings') WHERE id = 'old'")
    db = JobStore(tmp_path / "jobs.sqlite3")
    loaded = {s.job.id: s.job for s in db.load()}
    db.close()
    assert loaded["id"].warnings == (ENDS_EARLY, NO_SPEECH)
    assert loaded["old"].warnings == ()


# ---- the zip --------------------------------------------------------------------------


def transcript(*texts: str) -> Transcript:
    segments = tuple(Segment(i, i, i + 1.0, t) for i, t in enumerate(texts))
    return Transcript(TranscriptInfo("en", 1.0, 9.8), segments, "x")


def test_the_zip_leaves_out_transcripts_without_words() -> None:
    items = [
        ("talk", transcript(" Hello there.")),
        ("silence", transcript()),
        ("blank", transcript("  ", "")),
    ]
    handle = io.BytesIO()
    assert write_zip(items, ["txt", "srt"], handle) == ["silence", "blank"]
    with zipfile.ZipFile(handle) as archive:
        assert archive.namelist() == ["talk.txt", "talk.srt"]
        assert "Hello there." in archive.read("talk.txt").decode()


def test_a_zip_of_only_empty_transcripts_is_a_valid_empty_zip() -> None:
    handle = io.BytesIO()
    assert write_zip([("silence", transcript())], "txt", handle) == ["silence"]
    with zipfile.ZipFile(handle) as archive:
        assert archive.namelist() == [] and archive.testzip() is None


# ---- the page -------------------------------------------------------------------------


def row(j: Job) -> view.JobRow:
    return view.JobRow(j, 1.0, None, 0.0)


def test_a_completed_card_with_a_warning_says_so_in_amber() -> None:
    warned = job(warnings=(ENDS_EARLY,))
    state = chip(row(warned), 0.0, 8.0, 1)
    assert (state.kind, state.text) == ("warning", "completed · warning")
    cards = queue_html([row(warned)], None, 0.0, 8.0, 1)
    assert 'class="card warning"' in cards and 'class="chip warning"' in cards
    assert f">{ENDS_EARLY}</div>" in cards
    plain = queue_html([row(job())], None, 0.0, 8.0, 1)
    assert "warning" not in plain and 'class="warn"' not in plain


def test_warnings_in_the_card_and_the_pane_are_escaped() -> None:
    hostile = 'decoding stopped at 1:23 of 5:00: <img src=x onerror=alert(1)>"'
    warned = job(warnings=(hostile,))
    cards = queue_html([row(warned)], None, 0.0, 8.0, 1)
    pane = transcript_html(warned, [Segment(0, 0, 1, " Hi.")], None)
    for text in (cards, pane):
        assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert 'title="decoding stopped at 1:23 of 5:00: &lt;img' in cards


def test_a_long_warning_is_cut_on_the_card_and_whole_in_its_title() -> None:
    long = "parts of the file could not be decoded and were skipped (1:00 of 5:00 decoded): " + (
        "x" * 80
    )
    cards = queue_html([row(job(warnings=(long,)))], None, 0.0, 8.0, 1)
    assert f'title="{long}"' in cards and "…</div>" in cards


def test_the_transcript_pane_shows_the_warning_over_the_text() -> None:
    pane = transcript_html(job(warnings=(ENDS_EARLY,)), [Segment(0, 0, 0.6, " The quick")], None)
    assert '<p class="note warning">Warning: the file ends early (0.7 s of 9.8 s decoded).' in pane
    assert "The quick" in pane
    # No speech, and damaged: both said, "no speech found" not twice.
    empty = transcript_html(job(warnings=(ENDS_EARLY, NO_SPEECH)), [], None)
    assert "ends early" in empty and empty.count("o speech found") == 1
    assert "No speech found in this file." in transcript_html(job(warnings=(NO_SPEECH,)), [], None)
    assert 'class="note' not in transcript_html(job(), [Segment(0, 0, 1, " Hi.")], None)


def test_warnings_show_only_once_a_job_completed() -> None:
    running = job(JobStatus.RUNNING, warnings=(ENDS_EARLY,), started_at=1.0)
    assert chip(row(running), 2.0, 8.0, 1).kind == "running"
    assert 'class="warn"' not in queue_html([row(running)], None, 2.0, 8.0, 1)
