"""`whisper-ui` as a user runs it: a real subprocess, the real model, real files."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shlex
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

import whisper_ui
from tests.conftest import DATA, words
from whisper_ui.cli import EXAMPLES, build_parser

pytestmark = pytest.mark.integration


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI run: offline, and no inherited terminal size or colour
    setting, so what a test sees does not depend on the shell that started pytest."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    for name in ("COLUMNS", "LINES", "NO_COLOR"):
        env.pop(name, None)
    return {**env, **extra}


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = cli_env()
    return subprocess.run(
        [sys.executable, "-m", "whisper_ui.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
    )


def test_transcribe_writes_all_formats_and_a_bad_file_fails_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "transcribe",
        str(DATA / "speech.wav"),
        str(DATA / "not_audio.mp3"),
        str(DATA / "video.mp4"),
        "--format",
        "all",
        "--output-dir",
        str(out),
        "--no-progress",
    )
    assert result.returncode == 1, result.stderr
    error_lines = [line for line in result.stderr.splitlines() if "not_audio.mp3" in line]
    assert len(error_lines) == 1 and error_lines[0].startswith("error: not_audio.mp3: ")
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}.{ext}"
        for stem in ("speech", "video")
        for ext in ("txt", "srt", "vtt", "json", "tsv")
    )
    assert {"lazy", "tuesday", "weather", "sunny"} <= words((out / "speech.txt").read_text())
    assert {"garden", "cat", "dinner"} <= words((out / "video.txt").read_text())
    srt = (out / "speech.srt").read_text()
    assert srt.startswith("1\n00:00:0") and " --> " in srt
    assert (out / "speech.vtt").read_text().startswith("WEBVTT")
    data = json.loads((out / "speech.json").read_text())
    assert data["language"] == "en" and data["segments"] and data["duration"] > 5
    assert (out / "speech.tsv").read_text().startswith("start\tend\ttext\n")


def test_all_good_exits_zero_and_equal_stems_do_not_collide(tmp_path: Path) -> None:
    result = run_cli(
        "transcribe",
        str(DATA / "speech.wav"),
        str(DATA / "speech.mp3"),
        "--format",
        "txt,json",
        "-o",
        str(tmp_path),
        "--concurrency",
        "2",
        "--word-timestamps",
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "speech-2.json",
        "speech-2.txt",
        "speech.json",
        "speech.txt",
    ]
    for stem in ("speech", "speech-2"):
        assert {"lazy", "weather"} <= words((tmp_path / f"{stem}.txt").read_text())
    segments = json.loads((tmp_path / "speech.json").read_text())["segments"]
    assert all(seg["words"] for seg in segments), "--word-timestamps adds words to json"


def test_translate_with_an_english_only_model_is_refused(tmp_path: Path) -> None:
    result = run_cli(
        "transcribe", str(DATA / "speech.wav"), "--task", "translate", "-o", str(tmp_path)
    )
    assert result.returncode == 2
    assert "English-only" in result.stderr and "Traceback" not in result.stderr


def test_unknown_format_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli(
        "transcribe", str(DATA / "speech.wav"), "--format", "docx", "-o", str(tmp_path)
    )
    assert result.returncode == 2 and "unknown export format 'docx'" in result.stderr


def test_devices_shows_this_cpu_and_its_plan() -> None:
    result = run_cli("devices")
    assert result.returncode == 0, result.stderr
    assert "cpu" in result.stdout and "physical cores" in result.stdout
    assert "Pool plan for model 'tiny.en'" in result.stdout
    assert "worker(s)" in result.stdout and "int8" in result.stdout


def test_devices_shows_the_calibration_it_plans_with(tmp_path: Path) -> None:
    """No calibration: the rule, and how to measure; a cached one: its numbers, used."""
    from whisper_ui.config import Settings
    from whisper_ui.engine.calibrate import Calibration, Measurement, Mode, save
    from whisper_ui.engine.resources import SystemProbe
    from whisper_ui.services import calibration_key

    env = cli_env(XDG_DATA_HOME=str(tmp_path))
    run = [sys.executable, "-m", "whisper_ui.cli", "devices"]
    fresh = subprocess.run(run, capture_output=True, text=True, timeout=300, env=env)
    assert fresh.returncode == 0, fresh.stderr
    assert "Calibration: none yet" in fresh.stdout and "devices --calibrate" in fresh.stdout

    data = tmp_path / "whisper-ui"
    key = calibration_key(Settings(data_dir=data), SystemProbe(use_torch_fallback=False))
    n = key.cores
    measured = (Measurement(Mode(1, n, 1), 0.25), Measurement(Mode(n, 1, 1), 0.5))
    save(data, Calibration(key, measured, 4, 5, 9.0, "2026-01-01T00:00:00Z"))
    cached = subprocess.run(run, capture_output=True, text=True, timeout=300, env=env)
    assert cached.returncode == 0, cached.stderr
    assert f"1 worker(s) x {n} threads" in cached.stdout and "measured" in cached.stdout
    assert "0.250 s/chunk" in cached.stdout and "<- used" in cached.stdout

    fixed = subprocess.run(
        [*run, "--calibrate", "--concurrency", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert fixed.returncode == 2 and "not calibrating: concurrency is set (2)" in fixed.stderr


def test_models_lists_the_catalog_with_offline_availability() -> None:
    result = run_cli("models")
    assert result.returncode == 0, result.stderr
    tiny = next(line for line in result.stdout.splitlines() if line.startswith("tiny.en "))
    assert " yes " in tiny and "(default)" in tiny
    assert any(
        line.startswith("large-v3 ") and " no " in line for line in result.stdout.splitlines()
    )


ESCAPE = "\x1b"
SPEED = r"\d+(\.\d)?x"


def run_in_pty(*args: str, term: str, timeout: float = 240) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal, as in a user's shell,
    and return (exit status, everything it drew). The terminal's own newline
    translation (\\n -> \\r\\n) is undone, so a "\\r" left in the text is the CLI's."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "whisper_ui.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=cli_env(TERM=term),
    )
    os.close(slave)
    drawn = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            drawn += chunk
        else:
            pytest.fail(f"whisper-ui {' '.join(args)} did not finish in {timeout} s")
        status = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return status, drawn.decode("utf-8").replace("\r\n", "\n")


def test_version_prints_the_package_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"whisper-ui {whisper_ui.__version__}"


@pytest.mark.parametrize("command", ["", "serve", "transcribe", "devices", "models"])
def test_help_shows_examples_and_defaults(command: str) -> None:
    result = run_cli(*command.split(), "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    examples = text.split("examples:\n", 1)[1]
    assert f"  whisper-ui {command}".rstrip() in examples
    assert "UNSET" not in text and "(default: None)" not in text and "(default: False)" not in text
    expected = {
        "serve": ["(default: 7860)", "(default: 127.0.0.1)", "(default: tiny.en)"],
        "transcribe": ["(default: txt)", "(default: tiny.en)", "(default: auto)"],
        "devices": ["(default: auto)"],
    }
    for shown in expected.get(command, []):
        assert shown in " ".join(text.split()), shown  # help wraps long lines


def test_every_example_in_the_help_parses() -> None:
    """The epilogs are real invocations: each one is a valid command line."""
    parser = build_parser()
    for epilog in EXAMPLES.values():
        for line in epilog.splitlines():
            if not line.startswith("  whisper-ui ") or "--help" in line:
                continue
            argv = shlex.split(line.split("#")[0])[1:]
            args = parser.parse_args(argv)
            assert args.command == argv[0], line


def test_piped_output_is_plain_lines_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "transcribe",
        str(DATA / "speech.wav"),
        str(DATA / "not_audio.mp3"),
        str(DATA / "silence.wav"),
        "--format",
        "txt,srt",
        "-o",
        str(out),
        "--beam-size",
        "1",
    )
    assert result.returncode == 1, result.stderr
    for stream in (result.stdout, result.stderr):
        assert "\r" not in stream and ESCAPE not in stream
    lines = result.stdout.splitlines()
    written = f"{out / 'speech.txt'}, {out / 'speech.srt'}"
    assert any(re.fullmatch(r"start +speech\.wav +0:10 of audio", line) for line in lines)
    done = [line for line in lines if line.startswith("done ") and "speech.wav" in line]
    assert len(done) == 1 and done[0].endswith(f"→ {written}")
    assert re.search(rf"0:10 in [\d.]+ s · {SPEED}", done[0]), done[0]
    summary = lines[lines.index("Summary:") + 1 :]
    assert summary[0].startswith("  done    speech.wav") and summary[0].endswith(written)
    assert re.fullmatch(
        r"  failed  not_audio\.mp3 +not a recognised audio or video file", summary[1]
    )
    # the silent file is written, and its warning said when it came and on its line
    assert summary[2].startswith("  warn    silence.wav") and "(no speech found)" in summary[2]
    assert re.fullmatch(
        rf"2 of 3 files written \(1 with a warning\), 1 failed · 0:1\d of audio in [\d.]+ s · "
        rf"{SPEED}",
        summary[3],
    ), summary[3]
    assert sorted(result.stderr.splitlines()) == [
        "error: not_audio.mp3: not a recognised audio or video file",
        "warning: silence.wav: no speech found",
    ]
    assert {"lazy", "tuesday", "weather"} <= words((out / "speech.txt").read_text())


def test_on_a_terminal_lines_redraw_in_place_then_a_summary(tmp_path: Path) -> None:
    status, drawn = run_in_pty(
        "transcribe",
        str(DATA / "speech.wav"),
        str(DATA / "not_audio.mp3"),
        "-o",
        str(tmp_path),
        "--beam-size",
        "1",
        term="xterm-256color",
    )
    assert status == 1, drawn
    assert "\r" in drawn and f"{ESCAPE}[J" in drawn, "the live lines are redrawn in place"
    assert re.search(r"speech\.wav +\d:\d\d/0:10 · ", drawn), "a line for the running file"
    assert re.search(r"Total +\d:\d\d/0:10 · \d of 2 done", drawn), "a line for the batch"
    assert "error: not_audio.mp3: not a recognised audio or video file\n" in drawn
    assert re.search(r"\r(\x1b\[\d+A)?\x1b\[J\nSummary:\n", drawn), "block erased first"
    summary = drawn.split("Summary:\n", 1)[1].splitlines()
    assert re.search(rf"speech\.wav +0:10 in [\d.]+ s · {SPEED} → ", summary[0]), summary
    assert summary[0].endswith(f"→ {tmp_path / 'speech.txt'}")
    assert f"{ESCAPE}[32mdone{ESCAPE}[0m" in summary[0] and "not_audio.mp3" in summary[1]
    assert re.fullmatch(rf"1 of 2 files written, 1 failed · .* · {SPEED}", summary[2])
    assert {"lazy", "weather"} <= words((tmp_path / "speech.txt").read_text())


def test_a_dumb_terminal_gets_one_line_redrawn_and_no_escapes(tmp_path: Path) -> None:
    status, drawn = run_in_pty(
        "transcribe", str(DATA / "speech.wav"), "-o", str(tmp_path), "--beam-size", "1", term="dumb"
    )
    assert status == 0, drawn
    assert ESCAPE not in drawn and "\r" in drawn
    assert re.search(r"speech\.wav +\d:\d\d/0:10 · ", drawn)
    last = drawn.splitlines()[-1]
    assert re.fullmatch(rf"1 of 1 file written · 0:10 of audio in [\d.]+ s · {SPEED}", last)


def test_a_transcript_that_cannot_be_written_fails_that_file_alone(tmp_path: Path) -> None:
    (tmp_path / "speech.txt").mkdir()  # where speech.wav's transcript should go
    (tmp_path / "speech.txt" / "keep").write_text("not empty")
    result = run_cli(
        "transcribe",
        str(DATA / "speech.wav"),
        str(DATA / "second_speech.wav"),
        "-o",
        str(tmp_path),
        "--beam-size",
        "1",
        "--no-progress",
    )
    assert result.returncode == 1, result.stderr
    (error,) = result.stderr.splitlines()
    assert error.startswith(f"error: speech.wav: could not write its transcript: {tmp_path}")
    assert "Traceback" not in result.stderr
    assert {"red", "car", "church"} <= words((tmp_path / "second_speech.txt").read_text())
    assert "1 of 2 files written, 1 failed" in result.stdout
