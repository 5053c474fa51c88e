"""`whisper-ui` as a user runs it: a real subprocess, the real model, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA, words

pytestmark = pytest.mark.integration


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
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


def test_models_lists_the_catalog_with_offline_availability() -> None:
    result = run_cli("models")
    assert result.returncode == 0, result.stderr
    tiny = next(line for line in result.stdout.splitlines() if line.startswith("tiny.en "))
    assert " yes " in tiny and "(default)" in tiny
    assert any(
        line.startswith("large-v3 ") and " no " in line for line in result.stdout.splitlines()
    )
