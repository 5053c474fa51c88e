"""Exporters against committed golden files, plus format parsing and file writing.

Regenerate the goldens after an intended format change with
`UPDATE_GOLDEN=1 pytest tests/unit/test_export.py`, then read the diff.
"""

from __future__ import annotations

import json
import os
import re
import stat
import zipfile
from pathlib import Path

import pytest

from whisper_ui.domain import Segment, Transcript, TranscriptInfo, Word
from whisper_ui.export import FORMATS, Exporter, get_exporter, parse_formats, render
from whisper_ui.export.base import clean_cue_text, format_timestamp, to_milliseconds
from whisper_ui.export.files import (
    FALLBACK_STEM,
    safe_stem,
    unique_stems,
    write_transcript,
    zip_transcripts,
)

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"


def _info(language: str = "en", duration: float = 10.0) -> TranscriptInfo:
    return TranscriptInfo(language=language, language_probability=0.987654, duration=duration)


CASES: dict[str, Transcript] = {
    # Text as faster-whisper yields it: a leading space on every segment.
    "basic": Transcript(
        info=_info(duration=9.5),
        segments=(
            Segment(0, 0.0, 2.5, " Hello and welcome.", avg_logprob=-0.21, no_speech_prob=0.01),
            Segment(1, 2.5, 5.25, " This is the second segment.", avg_logprob=-0.3),
            Segment(2, 5.25, 9.5, " And this is the last one.", no_speech_prob=0.02),
        ),
        source_name="basic.mp3",
    ),
    "hours": Transcript(
        info=_info(duration=360004.0),
        segments=(
            Segment(0, 1.0, 1.9996, " Rounds up to two seconds."),
            Segment(1, 3725.5, 3727.0005, " Past the first hour."),
            Segment(2, 35999.9994, 36001.0, " Ten hours in."),
            Segment(3, 360000.0, 360003.25, " Beyond ninety-nine hours."),
        ),
        source_name="long recording.wav",
    ),
    "tricky": Transcript(
        info=_info(duration=12.0),
        segments=(
            Segment(0, 0.0, 1.0, " an arrow --> inside, a longer one ---> too"),
            Segment(1, 1.0, 2.0, "   "),  # skipped; numbering stays contiguous
            Segment(2, 2.0, 3.0, " Tom & Jerry <b>not bold</b> a>b"),
            Segment(3, 3.0, 4.0, " line one\nline two\r\n\n  line three\u2028four"),
            Segment(4, 4.0, 5.0, ""),
            Segment(5, 5.0, 6.0, " tab\tseparated\ttext"),
            Segment(6, 7.0, 6.5, " end before start"),
            Segment(7, 8.0, 9.0, "-->"),
        ),
        source_name="../tricky\tname.mp3",
    ),
    "unicode": Transcript(
        info=TranscriptInfo(language="zh", language_probability=0.91, duration=6.0),
        segments=(
            Segment(0, 0.0, 2.0, "你好，世界。"),
            Segment(1, 2.0, 4.0, " Café naïve façade — “quoted” 🎉👍🏽"),
            Segment(2, 4.0, 6.0, " مرحبا Привет ñandú"),
        ),
        source_name="录音 ✨.m4a",
    ),
    "empty": Transcript(info=_info(duration=0.0), source_name="silence.wav"),
    "words": Transcript(
        info=_info(duration=3.0),
        segments=(
            Segment(
                0,
                0.0,
                1.5,
                " Hi there.",
                words=(
                    Word(0.0, 0.41234, " Hi", 0.9),
                    Word(0.5, 1.4996, " there.", 0.75),
                ),
                avg_logprob=-0.1,
            ),
            Segment(1, 1.5, 3.0, " No words here."),
        ),
        source_name="words.flac",
    ),
}

SRT_TIMING = re.compile(
    r"^(\d{2,}):([0-5]\d):([0-5]\d),(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d),(\d{3})$"
)
VTT_TIMING = re.compile(
    r"^(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})$"
)


def _ms(h: str, m: str, s: str, ms: str) -> int:
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(ms)


# ---- golden files -----------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str, fmt: str) -> None:
    rendered = render(CASES[case], fmt)
    golden = GOLDEN_DIR / f"{case}.{get_exporter(fmt).extension}"
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(rendered.encode("utf-8"))
    assert golden.exists(), f"missing {golden}; run with UPDATE_GOLDEN=1 and review it"
    # Bytes, not text mode: a newline translation must show up as a failure.
    assert rendered == golden.read_bytes().decode("utf-8")


def test_every_golden_file_belongs_to_a_case() -> None:
    expected = {f"{case}.{get_exporter(fmt).extension}" for case in CASES for fmt in FORMATS}
    present = {p.name for p in GOLDEN_DIR.iterdir() if not p.name.startswith(".")}
    assert present == expected


# ---- format properties ------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_json_parses_back(case: str) -> None:
    transcript = CASES[case]
    data = json.loads(render(transcript, "json"))
    assert data["text"] == transcript.text
    assert data["source"] == transcript.source_name
    assert [s["text"] for s in data["segments"]] == [s.text for s in transcript.segments]
    for seg, out in zip(transcript.segments, data["segments"], strict=True):
        assert ("words" in out) == bool(seg.words)


def test_json_words_and_rounding() -> None:
    data = json.loads(render(CASES["words"], "json"))
    first = data["segments"][0]
    assert first["words"] == [
        {"start": 0.0, "end": 0.412, "word": " Hi", "probability": 0.9},
        {"start": 0.5, "end": 1.5, "word": " there.", "probability": 0.75},
    ]
    assert "words" not in data["segments"][1]


def test_json_non_finite_scores_become_null() -> None:
    t = Transcript(_info(), (Segment(0, 0.0, 1.0, " x", avg_logprob=float("-inf")),))
    data = json.loads(render(t, "json"))
    assert data["segments"][0]["avg_logprob"] is None


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_cues_are_well_formed(case: str, fmt: str) -> None:
    out = render(CASES[case], fmt)
    if fmt == "vtt":
        assert out.startswith("WEBVTT\n\n")
        out = out.removeprefix("WEBVTT\n\n")
    if not out:
        return
    assert out.endswith("\n") and not out.endswith("\n\n")
    timing = SRT_TIMING if fmt == "srt" else VTT_TIMING
    previous_start = -1
    for number, block in enumerate(out[:-1].split("\n\n"), start=1):
        lines = block.split("\n")
        if fmt == "srt":
            assert lines.pop(0) == str(number)
        assert len(lines) == 2, f"cue {number} must be one timing line and one text line"
        match = timing.match(lines[0])
        assert match, lines[0]
        start, end = _ms(*match.groups()[:4]), _ms(*match.groups()[4:])
        assert previous_start <= start <= end
        previous_start = start
        assert lines[1].strip() and "-->" not in lines[1]


def test_empty_transcript() -> None:
    empty = CASES["empty"]
    assert render(empty, "txt") == ""
    assert render(empty, "srt") == ""
    assert render(empty, "vtt") == "WEBVTT\n\n"
    assert render(empty, "tsv") == "start\tend\ttext\n"


def test_vtt_escapes_markup() -> None:
    out = render(CASES["tricky"], "vtt")
    assert "Tom &amp; Jerry &lt;b&gt;not bold&lt;/b&gt; a&gt;b" in out
    assert "<b>" not in out


@pytest.mark.parametrize(
    ("seconds", "srt", "short"),
    [
        (0.0, "00:00:00,000", "00:00.000"),
        (1.9996, "00:00:02,000", "00:02.000"),
        (59.9995, "00:01:00,000", "01:00.000"),
        (0.0005, "00:00:00,001", "00:00.001"),
        (1.0005, "00:00:01,001", "00:01.001"),
        (3725.5, "01:02:05,500", "01:02:05.500"),
        (360000.25, "100:00:00,250", "100:00:00.250"),
        (-0.5, "00:00:00,000", "00:00.000"),
    ],
)
def test_format_timestamp(seconds: float, srt: str, short: str) -> None:
    assert format_timestamp(seconds, decimal_marker=",", always_include_hours=True) == srt
    assert format_timestamp(seconds, decimal_marker=".", always_include_hours=False) == short


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_timestamp_rejects_non_finite(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        to_milliseconds(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a --> b", "a -> b"),
        ("a ---> b", "a -> b"),
        ("a ----> b", "a -> b"),
        ("-->-->", "->->"),
        (" one\n\ntwo\r\nthree ", "one two three"),
        ("   ", ""),
    ],
)
def test_clean_cue_text(text: str, expected: str) -> None:
    assert clean_cue_text(text) == expected


# ---- registry and parsing ---------------------------------------------------


def test_registry_matches_formats() -> None:
    for fmt in FORMATS:
        exporter = get_exporter(fmt)
        assert isinstance(exporter, Exporter)
        assert exporter.name == fmt
        assert exporter.extension == fmt
        assert exporter.media_type


def test_get_exporter_is_case_insensitive() -> None:
    assert get_exporter(" SRT ") is get_exporter("srt")


def test_get_exporter_unknown_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"'docx'.*txt, srt, vtt, json, tsv"):
        get_exporter("docx")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("txt", ("txt",)),
        ("txt,srt", ("txt", "srt")),
        (" srt , txt ", ("srt", "txt")),
        ("srt txt\tvtt", ("srt", "txt", "vtt")),
        ("srt,SRT,txt,srt", ("srt", "txt")),
        ("all", FORMATS),
        ("ALL", FORMATS),
        ("json,all", ("json", "txt", "srt", "vtt", "tsv")),
        ("txt,,srt,", ("txt", "srt")),
    ],
)
def test_parse_formats(spec: str, expected: tuple[str, ...]) -> None:
    assert parse_formats(spec) == expected


@pytest.mark.parametrize("spec", ["", "  ", ",", " , "])
def test_parse_formats_empty(spec: str) -> None:
    with pytest.raises(ValueError, match="no export format given"):
        parse_formats(spec)


def test_parse_formats_reports_every_unknown_name() -> None:
    with pytest.raises(ValueError, match=r"formats 'docx', 'pdf'; choose from txt, srt"):
        parse_formats("txt,docx,pdf,docx")


# ---- stems ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["talk.mp3", "talk.wav", "talk.ogg"], ["talk", "talk-2", "talk-3"]),
        (["a.mp3", "a.wav", "a-2.mp3"], ["a", "a-3", "a-2"]),
        (["Talk.mp3", "talk.wav"], ["Talk", "talk-2"]),
        (["x/talk.mp3", "y/talk.mp3"], ["talk", "talk-2"]),
        (["one.mp3", "two.mp3"], ["one", "two"]),
        ([], []),
    ],
)
def test_unique_stems(names: list[str], expected: list[str]) -> None:
    assert unique_stems(names) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../x.mp3", "x"),
        ("../../etc/passwd", "passwd"),
        ("a/b.mp3", "b"),
        ("C:\\Users\\me\\clip.wav", "clip"),
        ("..", FALLBACK_STEM),
        ("", FALLBACK_STEM),
        (".hidden.mp3", "hidden"),
        ("...mp3", "mp3"),
        ("my talk (final).m4a", "my talk (final)"),
        ("  spaced  .mp3", "spaced"),
        ("archive.tar.gz", "archive.tar"),
        ("noext", "noext"),
        ("录音 ✨.m4a", "录音 ✨"),
        ("e\u0301te\u0301.mp3", "\u00e9t\u00e9"),  # NFD in, NFC out
        ('a:b*c?"d|e<f>.wav', "a_b_c__d_e_f_"),
        ("line\nbreak.mp3", "line_break"),
        ("evil\u202etxt.exe", "evil_txt"),
        ("CON.mp3", "_CON"),
        ("trailing. .mp3", "trailing"),
    ],
)
def test_safe_stem(name: str, expected: str) -> None:
    assert safe_stem(name) == expected


def test_unique_stems_are_safe_and_distinct() -> None:
    names = ["../x.mp3", "a/b.mp3", ".x.wav", "x.ogg", "../..", "..", "", "日本語.wav"]
    stems = unique_stems(names)
    assert len({s.casefold() for s in stems}) == len(names)
    for stem in stems:
        assert stem and not stem.startswith(".")
        assert "/" not in stem and "\\" not in stem
    assert stems == ["x", "b", "x-2", "x-3", "transcript", "transcript-2", "transcript-3", "日本語"]


def test_long_name_is_truncated_on_a_character_boundary() -> None:
    stem = safe_stem("語" * 300 + ".mp3")
    assert len(stem.encode("utf-8")) <= 200
    assert set(stem) == {"語"}


def test_long_duplicate_names_still_give_writable_stems(tmp_path: Path) -> None:
    stems = unique_stems(["語" * 300 + ".mp3", "語" * 300 + ".wav"])
    assert stems[1].endswith("-2") and len(stems[1].encode("utf-8")) <= 200
    for stem in stems:
        assert safe_stem(f"{stem}.mp3") == stem
        write_transcript(CASES["basic"], "txt", tmp_path, stem)
    assert len(list(tmp_path.iterdir())) == 2


# ---- writing ----------------------------------------------------------------


def test_write_transcript_writes_exactly_the_formats(tmp_path: Path) -> None:
    out = tmp_path / "out" / "nested"
    paths = write_transcript(CASES["unicode"], "srt, txt, json", out, "录音")
    assert paths == [out / "录音.srt", out / "录音.txt", out / "录音.json"]
    assert sorted(p.name for p in out.iterdir()) == ["录音.json", "录音.srt", "录音.txt"]
    for path in paths:
        fmt = path.suffix[1:]
        assert path.read_bytes() == render(CASES["unicode"], fmt).encode("utf-8")
        if os.name == "posix":
            assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_write_transcript_accepts_a_list_and_replaces_files(tmp_path: Path) -> None:
    (tmp_path / "basic.txt").write_text("old", encoding="utf-8")
    paths = write_transcript(CASES["basic"], ["TXT", "txt", "vtt"], tmp_path, "basic")
    assert [p.name for p in paths] == ["basic.txt", "basic.vtt"]
    assert (tmp_path / "basic.txt").read_text(encoding="utf-8").startswith("Hello and welcome.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["basic.txt", "basic.vtt"]


@pytest.mark.parametrize("stem", ["", "../x", "a/b", "a\\b", ".hidden", "..", "CON", "x\n"])
def test_write_transcript_refuses_unsafe_stems(tmp_path: Path, stem: str) -> None:
    with pytest.raises(ValueError, match="unsafe output stem"):
        write_transcript(CASES["basic"], "txt", tmp_path / "d", stem)
    assert not (tmp_path / "d").exists()


def test_write_transcript_bad_format_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="docx"):
        write_transcript(CASES["basic"], ["txt", "docx"], tmp_path, "basic")
    assert list(tmp_path.iterdir()) == []


def test_zip_transcripts(tmp_path: Path) -> None:
    names = ["talk.mp3", "talk.wav", "录音 ✨.m4a"]
    transcripts = [CASES["basic"], CASES["hours"], CASES["unicode"]]
    items = list(zip(unique_stems(names), transcripts, strict=True))
    zip_path = zip_transcripts(items, ["txt", "srt"], tmp_path / "sub" / "batch.zip")
    assert zip_path == tmp_path / "sub" / "batch.zip"
    assert sorted(p.name for p in zip_path.parent.iterdir()) == ["batch.zip"]  # no temp left
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [
            "talk.txt",
            "talk.srt",
            "talk-2.txt",
            "talk-2.srt",
            "录音 ✨.txt",
            "录音 ✨.srt",
        ]
        for (stem, transcript), fmt in ((i, f) for i in items for f in ("txt", "srt")):
            data = archive.read(f"{stem}.{fmt}").decode("utf-8")
            assert data == render(transcript, fmt)


def test_zip_transcripts_refuses_duplicate_stems(tmp_path: Path) -> None:
    items = [("talk", CASES["basic"]), ("TALK", CASES["hours"])]
    with pytest.raises(ValueError, match="duplicate output stem"):
        zip_transcripts(items, "txt", tmp_path / "batch.zip")
    assert list(tmp_path.iterdir()) == []


def test_zip_transcripts_refuses_unsafe_stems(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsafe output stem"):
        zip_transcripts([("../evil", CASES["basic"])], "txt", tmp_path / "batch.zip")
    assert list(tmp_path.iterdir()) == []
