"""UI rendering helpers: clocks, transcript lines, remaining-time estimates, resources panel."""

from __future__ import annotations

from whisper_ui.domain import Job, JobStatus, Segment, TranscribeOptions
from whisper_ui.ui import view


def job(status: JobStatus, duration: float = 60.0, **kw: object) -> Job:
    return Job("id", "/x.wav", "x.wav", TranscribeOptions(), duration, status=status, **kw)  # type: ignore[arg-type]


def test_clock_and_stamp() -> None:
    assert view.clock(None) == "—"
    assert view.clock(59.6) == "1:00"
    assert view.clock(3725) == "1:02:05"
    assert view.stamp(65.25) == "01:05.2"
    assert view.stamp(3725.5) == "1:02:05.5"


def test_transcript_lines_skip_empty_segments() -> None:
    text = view.transcript_text([Segment(0, 0, 2.5, " Hello."), Segment(1, 2.5, 3, "  ")])
    assert text == "[00:00.0 → 00:02.5] Hello."


def test_remaining_uses_the_job_pace_while_running_and_the_queue_otherwise() -> None:
    running = view.JobRow(job(JobStatus.RUNNING, started_at=100.0), 0.25, None, 0.0)
    assert view.remaining(running, now=110.0, speed=8.0, slots=2) == 30.0
    queued = view.JobRow(job(JobStatus.QUEUED, duration=40.0), 0.0, 3, 120.0)
    # 120 s of audio ahead over 2 slots, then its own 40 s, at 8x.
    assert view.remaining(queued, now=0.0, speed=8.0, slots=2) == (60.0 + 40.0) / 8.0
    done = view.JobRow(job(JobStatus.COMPLETED), 1.0, None, 0.0)
    assert view.remaining(done, now=0.0, speed=8.0, slots=1) is None


def test_speed_comes_from_finished_jobs() -> None:
    assert view.speed_estimate([]) == view.DEFAULT_SPEED
    finished = job(JobStatus.COMPLETED, duration=90.0, started_at=10.0, finished_at=20.0)
    assert view.speed_estimate([finished]) == 9.0


def test_failed_rows_show_the_reason_without_repeating_the_name() -> None:
    failed = job(JobStatus.FAILED, error="x.wav: not a recognised audio or video file")
    (row,) = view.queue_rows([view.JobRow(failed, 0.0, None, 0.0)], 0.0, 8.0, 1)
    assert row[0] == "x.wav"
    assert row[2] == "failed: not a recognised audio or video file"


def test_resources_markdown_lists_devices_and_pool() -> None:
    status = {
        "devices": [
            {
                "id": "cpu",
                "kind": "cpu",
                "name": "Test CPU",
                "total_bytes": 8 * 2**30,
                "free_bytes": 6 * 2**30,
                "physical_cores": 4,
                "utilization_pct": None,
                "temperature_c": None,
            },
            {
                "id": "cuda:0",
                "kind": "cuda",
                "name": "Fake GPU",
                "total_bytes": 24 * 2**30,
                "free_bytes": 20 * 2**30,
                "utilization_pct": 37.0,
                "temperature_c": 61.0,
            },
        ],
        "gpu_note": None,
        "pool": {
            "instances": [
                {
                    "model": "tiny.en",
                    "device": "cuda:0",
                    "compute_type": "float16",
                    "busy": 1,
                    "workers": 4,
                }
            ],
            "slots": 4,
            "busy": 1,
            "idle": 3,
        },
        "queue": {"queued": 2, "running": 1},
    }
    md = view.resources_markdown(status)
    assert "cpu · Test CPU (4 cores)" in md and "6.0 GiB / 8.0 GiB" in md
    assert "37%" in md and "61 °C" in md
    assert "4 slot(s), 1 busy, 3 idle" in md and "2 waiting, 1 running" in md
    assert "tiny.en on cuda:0 (float16, 1/4 busy)" in md
