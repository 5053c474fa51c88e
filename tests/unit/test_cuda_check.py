"""Telling a GPU whose CUDA software is broken from a damaged model or a full GPU."""

from __future__ import annotations

from typing import Any

import pytest

from whisper_ui.engine.errors import DeviceUnusable, is_cuda_setup_error, is_out_of_memory
from whisper_ui.engine.loader import check_cuda


@pytest.mark.parametrize(
    ("message", "setup"),
    [
        # what CTranslate2 says, seen on machines without the right CUDA libraries
        ("Library libcublas.so.12 is not found or cannot be loaded", True),
        (
            "CUDA failed with error CUDA driver version is insufficient for CUDA runtime version",
            True,
        ),
        ("CUDA failed with error no CUDA-capable device is detected", True),
        ("Could not load library libcudnn_ops_infer.so.8", True),
        # not the GPU's software
        ("CUDA failed with error out of memory", False),
        ("Unable to open file 'model.bin' in model '/x'", False),
        ("unsupported model spec", False),
    ],
)
def test_cuda_setup_errors_are_told_apart(message: str, setup: bool) -> None:
    assert is_cuda_setup_error(RuntimeError(message)) is setup


class FakeWhisper:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.n_mels = 80
        self.unloaded = False
        self.shapes: list[tuple[int, ...]] = []

    def encode(self, features: Any, to_cpu: bool = False) -> None:
        self.shapes.append(tuple(features.shape))
        if self.error is not None:
            raise self.error

    def unload_model(self) -> None:
        self.unloaded = True


class FakeModel:
    def __init__(self, error: Exception | None) -> None:
        self.model = FakeWhisper(error)


def test_a_gpu_that_cannot_compute_is_unusable_and_its_model_unloaded() -> None:
    model = FakeModel(RuntimeError("Library libcublas.so.12 is not found or cannot be loaded"))
    with pytest.raises(DeviceUnusable) as caught:
        check_cuda(model, "cuda:1")
    assert caught.value.device_id == "cuda:1" and "libcublas" in caught.value.reason
    assert model.model.unloaded
    assert model.model.shapes == [(1, 80, 3000)], "one 30 s window of silence"


def test_out_of_memory_in_the_check_is_not_a_broken_gpu() -> None:
    model = FakeModel(RuntimeError("CUDA failed with error out of memory"))
    with pytest.raises(RuntimeError) as caught:
        check_cuda(model, "cuda:0")
    assert not isinstance(caught.value, DeviceUnusable) and is_out_of_memory(caught.value)


def test_a_working_gpu_passes() -> None:
    model = FakeModel(None)
    check_cuda(model, "cuda:0")
    assert not model.model.unloaded
