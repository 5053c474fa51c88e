"""The measured CPU plan (engine/calibrate.py): the choice from made-up timings, the
cache, and how services and the pool use a calibration. The timing itself runs the real
model in tests/integration/test_calibrate_model.py."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fake_nvml import FakeNVML
from whisper_ui.config import Settings
from whisper_ui.engine.calibrate import (
    CACHE_FILE,
    Calibration,
    CalibrationError,
    CalibrationKey,
    Calibrations,
    CalibrationStopped,
    Measurement,
    Mode,
    calibrate_when_idle,
    choose,
    load_cached,
    modes,
    save,
)
from whisper_ui.engine.resources import SystemProbe
from whisper_ui.services import Services, build_services, calibration_blocked, calibration_key

KEY = CalibrationKey("Some CPU", "AVX2", 2, "tiny.en", "int8")


def timings(one_by_all: float, per_core: float, batched: float | None = None) -> list[Measurement]:
    found = [Measurement(Mode(1, 2, 1), one_by_all), Measurement(Mode(2, 1, 1), per_core)]
    if batched is not None:
        found.append(Measurement(Mode(2, 1, 4), batched))
    return found


def calibration(measurements: list[Measurement], key: CalibrationKey = KEY) -> Calibration:
    return Calibration(key, tuple(measurements), 8, 5, 12.5, "2026-01-01T00:00:00Z")


# ---- choose ---------------------------------------------------------------------------


def test_one_worker_per_core_wins_when_it_is_cheaper_per_chunk() -> None:
    # This Intel host's figures: 2 threads 0.94 s per chunk, 2 x 1 thread 0.28 s each.
    choice = choose(timings(0.94, 0.28, 0.30))
    assert choice is not None
    assert (choice.jobs, choice.threads, choice.batch) == (2, 1, False)


def test_one_worker_with_every_thread_wins_when_the_cores_do_not_scale() -> None:
    choice = choose(timings(0.50, 0.60, 0.70))
    assert choice is not None and (choice.jobs, choice.threads, choice.batch) == (1, 2, False)


def test_fewer_workers_win_a_near_tie() -> None:
    choice = choose(timings(0.505, 0.50))
    assert choice is not None and choice.measurement.mode == Mode(1, 2, 1)
    assert "fewer workers" in choice.reason


def test_batching_must_be_clearly_cheaper_and_then_admits_a_batch_per_worker() -> None:
    slightly = choose(timings(0.9, 0.50, 0.47))  # 6 % cheaper: not worth the latency
    assert slightly is not None and not slightly.batch
    assert "batching not 10% cheaper" in slightly.reason
    clearly = choose(timings(0.9, 0.50, 0.40))
    assert clearly is not None and clearly.batch
    assert (clearly.jobs, clearly.threads) == (2 * 4, 1)  # 4 jobs feed each batch thread


def test_the_batch_setting_limits_the_choice() -> None:
    off = choose(timings(0.9, 0.50, 0.10), batch="off")
    on = choose(timings(0.9, 0.10, 0.50), batch="on")
    assert off is not None and not off.batch
    assert on is not None and on.batch
    assert choose(timings(0.9, 0.5), batch="on") is None  # nothing batched was measured
    assert choose([]) is None


def test_modes_per_core_count() -> None:
    assert modes(4, 2) == (Mode(1, 4, 1), Mode(4, 1, 1), Mode(4, 1, 2))
    assert modes(1, 2) == (Mode(1, 1, 1), Mode(1, 1, 2))
    assert modes(2, 1) == (Mode(1, 2, 1), Mode(2, 1, 1))  # no room for a batch


# ---- the cache ------------------------------------------------------------------------


def test_the_cache_round_trips_and_keeps_other_keys(tmp_path: Path) -> None:
    other = dataclasses.replace(KEY, model="base")
    save(tmp_path, calibration(timings(0.9, 0.3), other))
    save(tmp_path, calibration(timings(0.9, 0.3, 0.2)))
    assert load_cached(tmp_path, KEY) == calibration(timings(0.9, 0.3, 0.2))
    assert load_cached(tmp_path, other) == calibration(timings(0.9, 0.3), other)
    assert [p.name for p in tmp_path.iterdir()] == [CACHE_FILE]  # no temp file left


@pytest.mark.parametrize(
    "text",
    ["{not json", '{"version": 99, "entries": {}}', "[]", '{"version": 1, "entries": 3}'],
)
def test_a_corrupt_cache_is_ignored_with_a_log_line(
    tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / CACHE_FILE).write_text(text)
    with caplog.at_level(logging.WARNING):
        assert load_cached(tmp_path, KEY) is None
    assert "corrupt" in caplog.text and "the rule plans the pool" in caplog.text
    save(tmp_path, calibration(timings(0.9, 0.3)))  # and is replaced by the next one
    assert load_cached(tmp_path, KEY) is not None


def test_a_bad_entry_is_ignored_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    save(tmp_path, calibration(timings(0.9, 0.3)))
    data = json.loads((tmp_path / CACHE_FILE).read_text())
    data["entries"][KEY.text]["measurements"][0]["seconds_per_chunk"] = -1
    (tmp_path / CACHE_FILE).write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        assert load_cached(tmp_path, KEY) is None
    assert "out of range" in caplog.text


@pytest.mark.parametrize(
    "change",
    [{"cpu": "Another CPU"}, {"isa": "AVX-512"}, {"model": "base"}, {"compute_type": "float32"}],
)
def test_a_calibration_of_another_cpu_model_or_type_is_not_used(
    tmp_path: Path, change: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    save(tmp_path, calibration(timings(0.9, 0.3)))
    with caplog.at_level(logging.INFO):
        assert load_cached(tmp_path, dataclasses.replace(KEY, **change)) is None  # type: ignore[arg-type]
    assert "has no calibration for" in caplog.text


# ---- services and the pool ------------------------------------------------------------


def _services(tmp_path: Path, **settings: Any) -> tuple[Settings, Services]:
    probe = SystemProbe(nvml=FakeNVML([]), use_torch_fallback=False, environ={})
    s = Settings(data_dir=tmp_path, model="tiny.en", **settings)
    return s, build_services(s, probe=probe, cuda_ok=False)


def _key(tmp_path: Path) -> CalibrationKey:
    probe = SystemProbe(nvml=FakeNVML([]), use_torch_fallback=False, environ={})
    return calibration_key(Settings(data_dir=tmp_path, model="tiny.en"), probe)


def _cache_for(tmp_path: Path, measurements: list[Measurement]) -> None:
    save(tmp_path, calibration(measurements, _key(tmp_path)))


def test_the_pool_plans_with_a_cached_calibration(tmp_path: Path) -> None:
    _, rule = _services(tmp_path / "none")
    rule_plan = rule.plan()
    assert rule_plan.placements[0].limited_by != "measured"
    cores = _key(tmp_path).cores
    _cache_for(tmp_path, [Measurement(Mode(1, cores, 1), 0.2), Measurement(Mode(cores, 1, 1), 0.9)])
    _, services = _services(tmp_path)
    (placement,) = services.plan().placements
    assert (placement.workers, placement.cpu_threads, placement.limited_by) == (
        1,
        cores,
        "measured",
    )


def test_a_calibration_that_chose_batching_turns_it_on_for_the_cpu(tmp_path: Path) -> None:
    cores = _key(tmp_path).cores
    _cache_for(
        tmp_path,
        [
            Measurement(Mode(1, cores, 1), 0.9),
            Measurement(Mode(cores, 1, 1), 0.5),
            Measurement(Mode(cores, 1, 4), 0.2),
        ],
    )
    _, services = _services(tmp_path)
    assert services.runner is not None
    assert services.runner.batches_on("cpu", "tiny.en")
    assert not services.runner.batches_on("cpu", "base")
    (placement,) = services.plan().placements
    assert placement.workers == min(4 * cores, 8)  # the max_workers cap still holds
    _, off = _services(tmp_path, batch="off")
    assert off.runner is not None and not off.runner.batches_on("cpu", "tiny.en")


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        ({"concurrency": 2}, "concurrency is set"),
        ({"cpu_threads_per_worker": 1}, "cpu_threads_per_worker is set"),
        ({"device": "cuda"}, "device is cuda"),
    ],
)
def test_settings_that_fix_the_plan_keep_the_calibration_out(
    tmp_path: Path, settings: dict[str, Any], why: str
) -> None:
    _cache_for(tmp_path, [Measurement(Mode(1, 1, 1), 0.1), Measurement(Mode(9, 1, 1), 0.01)])
    s, services = _services(tmp_path, **settings)
    assert why in (calibration_blocked(s) or "")
    assert services.calibrations is None
    with pytest.raises(CalibrationError, match=why):
        services.calibrate()


def test_calibrations_hold_a_choice_per_model() -> None:
    held = Calibrations()
    assert held.choice("tiny.en", "int8") is None
    choice = held.put(calibration(timings(0.9, 0.3)))
    assert held.choice("tiny.en", "int8") == choice and held.get("base", "int8") is None


# ---- in the background ----------------------------------------------------------------


def test_a_background_calibration_waits_for_idle_and_stops_for_a_job() -> None:
    polls = [0]
    started, first_done = threading.Event(), threading.Event()
    calls: list[int] = []

    def busy() -> bool:
        """Busy for three polls, idle; then a job runs while the first try does."""
        polls[0] += 1
        if not started.is_set():
            return polls[0] <= 3
        return not first_done.is_set()

    def run(should_stop: Callable[[], bool]) -> Calibration:
        calls.append(polls[0])
        if len(calls) == 1:
            started.set()
            while not should_stop():
                first_done.wait(0.01)
            first_done.set()
            raise CalibrationStopped("stopped")
        return calibration(timings(0.9, 0.3))

    result = asyncio.run(calibrate_when_idle(run, busy, poll_s=0.01))
    assert result == calibration(timings(0.9, 0.3))
    assert len(calls) == 2 and calls[0] > 3  # it started only once idle


def test_a_failing_calibration_leaves_the_rule_and_logs_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def run(should_stop: Callable[[], bool]) -> Calibration:
        raise CalibrationError("no speech in the calibration audio")

    with caplog.at_level(logging.WARNING):
        assert asyncio.run(calibrate_when_idle(run, lambda: False)) is None
    assert "calibration failed (no speech in the calibration audio)" in caplog.text


def test_a_background_calibration_waits_for_quiet_cores_but_not_for_ever() -> None:
    now = [0.0]
    asked: list[float] = []

    def run(should_stop: Callable[[], bool]) -> Calibration:
        asked.append(now[0])
        return calibration(timings(0.9, 0.3))

    def loud() -> bool:
        now[0] += 100.0  # each poll, 100 s of another process's load pass
        return False

    result = asyncio.run(
        calibrate_when_idle(
            run, lambda: False, poll_s=0.001, quiet=loud, quiet_wait_s=600, clock=lambda: now[0]
        )
    )
    assert result is not None and asked == [600.0]  # it waited 600 s, then went anyway
