"""The page's pure views: clocks, estimates, the file list's cards, the transcript pane and
the resources panel, from plain values (no Gradio, no server)."""

from __future__ import annotations

import re

from whisper_ui.domain import Job, JobStatus, Segment, TranscribeOptions, TranscriptInfo
from whisper_ui.languages import language_choices, language_label
from whisper_ui.ui import view
from whisper_ui.ui.queue_view import batch_line, can_retry, chip, queue_html
from whisper_ui.ui.transcript_view import transcript_html


def job(status: JobStatus, duration: float = 60.0, **kw: object) -> Job:
    return Job("id", "/x.wav", "x.wav", TranscribeOptions(), duration, status=status, **kw)  # type: ignore[arg-type]


def test_clock_and_stamp() -> None:
    assert view.clock(None) == "—"
    assert view.clock(59.6) == "1:00"
    assert view.clock(3725) == "1:02:05"
    assert view.stamp(65.25) == "01:05.2"
    assert view.stamp(3725.5) == "1:02:05.5"


def test_transcript_lines_skip_empty_segments_and_escape_text() -> None:
    segments = [Segment(0, 0, 2.5, " Hello <b>there</b>."), Segment(1, 2.5, 3, "  ")]
    pane = transcript_html(job(JobStatus.COMPLETED), segments, None)
    assert pane.count('class="seg"') == 1
    assert ">00:00.0</button>" in pane and 'data-t="0.000"' in pane
    assert "&lt;b&gt;there&lt;/b&gt;" in pane and "<b>" not in pane


def test_the_transcript_pane_says_what_state_the_file_is_in() -> None:
    info = TranscriptInfo("de", 0.934, 60.0)
    running = transcript_html(job(JobStatus.RUNNING), [], info)
    assert "first words appear here" in running and 'data-live="1"' in running
    assert "German (de) · 93 %" in running
    failed = transcript_html(job(JobStatus.FAILED, error="x.wav: <i>bad</i>"), [], None)
    assert "x.wav: &lt;i&gt;bad&lt;/i&gt;" in failed and 'class="lines"' not in failed
    cancelled = transcript_html(job(JobStatus.CANCELLED), [Segment(0, 0, 1, "Hi.")], None)
    assert "Cancelled" in cancelled and "Hi." in cancelled and 'data-live="0"' in cancelled
    assert "No speech found" in transcript_html(job(JobStatus.COMPLETED), [], None)


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


def row(
    status: JobStatus, progress: float = 0.0, position: int | None = None, **kw: object
) -> view.JobRow:
    return view.JobRow(job(status, **kw), progress, position, 0.0)


def test_chips_say_where_each_file_is() -> None:
    assert chip(row(JobStatus.QUEUED, position=1, duration=16.0), 0.0, 8.0, 1).text == (
        "queued · #2 · ~0:02"
    )
    # A 4 s file in the queue is not "~0:00" away.
    assert chip(row(JobStatus.QUEUED, position=0, duration=4.0), 0.0, 8.0, 1).text == (
        "queued · #1 · ~0:01"
    )
    running = chip(row(JobStatus.RUNNING, 0.43, started_at=100.0), 109.0, 8.0, 1)
    assert running.kind == "running" and running.text == "running 43 % · 0:12 left"
    assert chip(row(JobStatus.COMPLETED), 0.0, 8.0, 1).text == "completed"
    assert chip(row(JobStatus.FAILED), 0.0, 8.0, 1).kind == "failed"


def test_cards_offer_only_the_actions_that_apply() -> None:
    def actions(r: view.JobRow) -> list[str]:
        return re.findall(r'data-action="([\w-]+)"', queue_html([r], None, 0.0, 8.0, 1))

    assert actions(row(JobStatus.QUEUED)) == ["cancel-all", "cancel"]
    assert actions(row(JobStatus.RUNNING, started_at=1.0)) == ["cancel-all", "cancel"]
    assert actions(row(JobStatus.COMPLETED)) == ["delete"]
    assert actions(row(JobStatus.CANCELLED)) == ["retry", "delete"]
    # Refused before it started (not audio): retrying cannot help. Failed mid-run: it can.
    refused = row(JobStatus.FAILED, error="x.wav: not a recognised audio or video file")
    assert not can_retry(refused) and actions(refused) == ["delete"]
    assert actions(row(JobStatus.FAILED, started_at=5.0, error="out of memory")) == [
        "retry", "delete",
    ]  # fmt: skip


def test_failed_cards_show_the_reason_without_repeating_the_name() -> None:
    failed = row(JobStatus.FAILED, error="x.wav: not a recognised audio or video file")
    html_text = queue_html([failed], "id", 0.0, 8.0, 1)
    assert '<div class="reason">not a recognised audio or video file</div>' in html_text
    assert 'class="card failed selected"' in html_text and 'aria-current="true"' in html_text


def test_names_from_users_are_escaped_in_the_cards() -> None:
    hostile = Job("id", "/x", '<img src=x onerror=alert(1)>".mp3', TranscribeOptions(), 5.0)
    text = queue_html([view.JobRow(hostile, 0.0, 0, 0.0)], None, 0.0, 8.0, 1)
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;&quot;.mp3" in text


def test_the_batch_line_and_the_tab_title() -> None:
    rows = [
        row(JobStatus.COMPLETED, 1.0, duration=60.0),
        row(JobStatus.RUNNING, 0.5, duration=60.0, started_at=100.0),
        row(JobStatus.FAILED, duration=0.0),
    ]
    line, title = batch_line(rows, 130.0, 8.0, 1)
    assert line == "2 of 3 done · 1:30 of 2:00 audio · about 0:30 left · 1 failed"
    assert title == "(2/3) whisper-ui"
    assert batch_line(rows[:1], 0.0, 8.0, 1)[1] == "whisper-ui"
    assert "No files yet" in queue_html([], None, 0.0, 8.0, 1)


def test_languages_read_as_names_with_codes() -> None:
    assert language_label("de") == "German (de)"
    assert language_label("xx") == "xx"
    choices = language_choices()
    assert ("German (de)", "de") in choices
    assert [label for label, _ in choices] == sorted((lb for lb, _ in choices), key=str.lower)
    assert [c for _, c in language_choices(["en"])] == ["en"]


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
    assert "**cuda:0** · Fake GPU: 20.0 GiB free of 24.0 GiB, 37 % busy, 61 °C" in md
    assert "6.0 GiB free of 8.0 GiB" in md and "No GPU" not in md
    assert "1 of 4 files at a time busy" in md and "1 running, 2 waiting" in md
    assert "tiny.en on cuda:0 (float16, 1/4 busy)" in md


def test_without_a_gpu_the_panel_says_so_in_words() -> None:
    status = {
        "devices": [
            {"id": "cpu", "kind": "cpu", "name": "Test CPU", "total_bytes": 2**33,
             "free_bytes": 2**32, "physical_cores": 2},
        ],
        "gpu_note": "NVML not available: NVML Shared Library Not Found",
        "pool": {"instances": [], "slots": 2, "busy": 0, "idle": 2},
        "queue": {"queued": 0, "running": 0},
    }  # fmt: skip
    md = view.resources_markdown(status)
    assert "**No GPU found:** transcribing on 2 CPU cores." in md
    assert "NVML" not in md and "none yet" in md


def test_a_gpu_that_cannot_run_models_is_marked_not_used() -> None:
    status = {
        "devices": [
            {"id": "cpu", "kind": "cpu", "name": "Test CPU", "total_bytes": 2**33,
             "free_bytes": 2**32, "physical_cores": 2},
            {"id": "cuda:0", "kind": "cuda", "name": "GPU <i>x</i>", "total_bytes": 2**33,
             "free_bytes": 2**33},
        ],
        "gpu_note": None,
        "pool": {"instances": [], "slots": 2, "busy": 0, "idle": 2,
                 "unusable": {"cuda:0": "Library libcublas.so.12 is not found"}},
        "queue": {"queued": 0, "running": 0},
    }  # fmt: skip
    md = view.resources_markdown(status)
    assert "**not used:** CTranslate2 could not run on it, so files go to the CPU" in md
    assert "libcublas" not in md, "the library's error stays in /api/resources"
    assert "<i>" not in md, "a device name is escaped"


def test_a_card_names_the_cluster_node_its_job_ran_on() -> None:
    ran = job(JobStatus.COMPLETED, device="cpu", node="lab-2<b>")
    card = queue_html([view.JobRow(ran, 1.0, None, 0.0)], None, 0.0, 8.0, 1)
    assert "1:00 · cpu · on lab-2&lt;b&gt;" in card and "<b>" not in card
    local = job(JobStatus.COMPLETED, device="cpu")
    assert " on " not in queue_html([view.JobRow(local, 1.0, None, 0.0)], None, 0.0, 8.0, 1)


def test_with_a_cluster_the_panel_lists_every_node_escaped() -> None:
    cpu = {
        "id": "cpu",
        "kind": "cpu",
        "name": "Test CPU",
        "total_bytes": 2**33,
        "free_bytes": 2**32,
        "physical_cores": 1,
    }
    gpu = {
        "id": "cuda:0",
        "kind": "cuda",
        "name": "Fake GPU",
        "total_bytes": 24 * 2**30,
        "free_bytes": 20 * 2**30,
    }
    tiny = {"model": "tiny.en", "device": "cpu", "compute_type": "int8", "busy": 1, "workers": 1}
    nodes = [
        {
            "name": "lab-1",
            "alive": True,
            "devices": [cpu],
            "slots": 1,
            "busy": 1,
            "pool": {"instances": [tiny]},
            "failed_models": {},
        },
        {
            "name": "<b>evil</b>*host*",
            "alive": False,
            "devices": [cpu, gpu],
            "slots": 4,
            "busy": 0,
            "pool": {"instances": []},
            "failed_models": {"big": "out of memory"},
        },
    ]
    status = {
        "devices": [cpu], "gpu_note": None,
        "pool": {"instances": [], "slots": 2, "busy": 0, "idle": 2},
        "queue": {"queued": 3, "running": 1}, "nodes": nodes,
    }  # fmt: skip
    md = view.resources_markdown(status)
    assert "**Cluster:** 2 nodes · 1 of 5 files at a time busy · 1 running, 3 waiting" in md
    assert "**lab\\-1**: CPU (Test CPU): 1 core, 4.0 GiB free of 8.0 GiB · 1 of 1 slot busy" in md
    assert "loaded: tiny\\.en on cpu" in md
    assert "<b>" not in md and "&lt;b&gt;evil&lt;/b&gt;\\*host\\*** (not answering)" in md
    assert "cuda:0 · Fake GPU: 20.0 GiB free of 24.0 GiB · 0 of 4 slots busy" in md
    assert "failed to load: big" in md and "No GPU" not in md  # the head's own panel is not shown
    empty = view.resources_markdown({**status, "nodes": []})
    assert "0 nodes" in empty and "No node can run jobs now." in empty


def test_several_batches_are_grouped_with_when_they_were_sent_and_a_delete() -> None:
    import time as _time

    from whisper_ui.domain import JobStatus as _Status
    from whisper_ui.domain import TranscribeOptions as _Options
    from whisper_ui.ui.queue_view import queue_html, sent_label
    from whisper_ui.ui.view import JobRow as _Row

    now = _time.mktime((2026, 12, 3, 15, 0, 0, 0, 0, -1))
    yesterday = now - 86400 - 3600

    def row(job_id: str, batch: str, created: float, status: _Status) -> _Row:
        job = Job(job_id, f"/{job_id}.wav", f"{job_id}.wav", _Options(), 3.0,
                  batch_id=batch, status=status, created_at=created)  # fmt: skip
        return _Row(job, 1.0 if status is _Status.COMPLETED else 0.0, None, 0.0)

    rows = [
        row("a", "old", yesterday, _Status.COMPLETED),
        row("b", "old", yesterday, _Status.FAILED),
        row("c", "new", now - 60, _Status.RUNNING),
    ]
    page = queue_html(rows, None, now, 8.0, 1)
    assert page.count('class="group"') == 2
    assert "Yesterday 14:00 · 2 files" in page and "Today 14:59 · 1 file" in page
    # the finished batch can be deleted at once, the running one not
    assert page.count('data-action="delete-batch"') == 1
    assert page.index('data-action="delete-batch"') < page.index("Today 14:59")
    single = queue_html(rows[:2], None, now, 8.0, 1)
    assert 'class="group"' not in single  # one batch: no header
    assert sent_label(now - 3 * 86400, now).startswith(("Sat", "Sun", "Mon", "Tue"))
