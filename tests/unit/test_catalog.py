"""Model catalog: package models, parts joined with a sha256 check, hub errors offline."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from whisper_ui.config import MODELS_FILE
from whisper_ui.engine.catalog import (
    CatalogEntry,
    ModelCatalog,
    ModelUnavailable,
    PackagePart,
    load_catalog,
)


def test_shipped_catalog_has_the_offline_models() -> None:
    entries = load_catalog(MODELS_FILE)
    assert entries["tiny.en"].source_type == "package"
    assert entries["tiny.en"].english_only
    assert entries["base"].source_type == "parts" and entries["base"].multilingual
    assert entries["base"].sha256 == (
        "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
    )
    assert all(e.params > 0 for e in entries.values())


def test_embedded_default_resolves_to_a_model_dir(tmp_path: Path) -> None:
    resolved = ModelCatalog.from_file(tmp_path, MODELS_FILE).resolve("tiny.en")
    assert (resolved.path / "model.bin").is_file() and (resolved.path / "config.json").is_file()
    assert not resolved.multilingual


@pytest.fixture
def fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, bytes]:
    """Two importable packages holding model.bin split in two, plus config files."""
    site = tmp_path / "site"
    payload = b"weights-" * 50_000
    for index, chunk in enumerate((payload[:123_457], payload[123_457:]), start=1):
        pkg = site / f"fakepart_{index}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"model.bin.part{index}").write_bytes(chunk)
    (site / "fakepart_2" / "data" / "config.json").write_text("{}")
    (site / "fakepart_2" / "data" / "tokenizer.json").write_text("{}")
    monkeypatch.syspath_prepend(str(site))
    for name in ("fakepart_1", "fakepart_2"):
        sys.modules.pop(name, None)
    return site, payload


def parts_entry(sha: str) -> CatalogEntry:
    return CatalogEntry(
        name="fake",
        description="",
        params=1000,
        size_mb=1,
        languages="multilingual",
        source_type="parts",
        parts=(
            PackagePart("fakepart_1", "data/model.bin.part1"),
            PackagePart("fakepart_2", "data/model.bin.part2"),
        ),
        files=(
            PackagePart("fakepart_2", "data/config.json"),
            PackagePart("fakepart_2", "data/tokenizer.json"),
        ),
        sha256=sha,
        extra="fake",
    )


def test_parts_are_joined_once_and_checked(tmp_path: Path, fake_parts: tuple[Path, bytes]) -> None:
    _, payload = fake_parts
    catalog = ModelCatalog(
        tmp_path / "cache", {"fake": parts_entry(hashlib.sha256(payload).hexdigest())}
    )
    assert catalog.availability("fake").available
    resolved = catalog.resolve("fake")
    assert (resolved.path / "model.bin").read_bytes() == payload
    assert (resolved.path / "config.json").is_file() and (
        resolved.path / "tokenizer.json"
    ).is_file()
    mtime = (resolved.path / "model.bin").stat().st_mtime_ns
    assert catalog.resolve("fake").path == resolved.path
    assert (resolved.path / "model.bin").stat().st_mtime_ns == mtime, "assembled only once"
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["fake"], "no temp dirs left"


def test_a_sha_mismatch_is_a_clear_error_and_leaves_nothing(
    tmp_path: Path, fake_parts: tuple[Path, bytes]
) -> None:
    catalog = ModelCatalog(tmp_path / "cache", {"fake": parts_entry("0" * 64)})
    with pytest.raises(ModelUnavailable, match="sha256"):
        catalog.resolve("fake")
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_part_package_names_the_extra(tmp_path: Path) -> None:
    catalog = ModelCatalog(tmp_path, {"fake": parts_entry("0" * 64)})
    assert not catalog.availability("fake").available
    with pytest.raises(ModelUnavailable, match=r"whisper-ui\[fake\]"):
        catalog.resolve("fake")


def test_hub_model_offline_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    catalog = ModelCatalog.from_file(tmp_path, MODELS_FILE)
    assert not catalog.availability("large-v3").available
    with pytest.raises(ModelUnavailable, match="HF_HUB_OFFLINE"):
        catalog.resolve("large-v3")


def test_local_directory_and_bad_paths(tmp_path: Path, tiny_model_path: Path) -> None:
    catalog = ModelCatalog.from_file(tmp_path, MODELS_FILE)
    resolved = catalog.resolve(str(tiny_model_path))
    assert resolved.path == tiny_model_path.resolve()
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(ModelUnavailable, match="not a CTranslate2 model directory"):
        catalog.resolve(str(empty))
    with pytest.raises(ModelUnavailable, match="not a CTranslate2 model directory"):
        catalog.resolve("./missing-dir")


def test_real_base_parts_assemble_with_the_published_sha(tmp_path: Path) -> None:
    resolved = ModelCatalog.from_file(tmp_path, MODELS_FILE).resolve("base")
    assert resolved.multilingual
    assert (resolved.path / "vocabulary.json").is_file()


def test_mel_bins_for_planning(tmp_path: Path, tiny_model_path: Path) -> None:
    catalog = ModelCatalog.from_file(tmp_path, MODELS_FILE)
    assert catalog.mels_for("tiny.en") == 80
    assert catalog.mels_for("large-v3") == catalog.mels_for("large-v3-turbo") == 128
    assert catalog.mels_for(str(tiny_model_path)) == 80
    local = tmp_path / "mine"
    local.mkdir()
    (local / "model.bin").write_bytes(b"0")
    (local / "preprocessor_config.json").write_text('{"feature_size": 128}')
    assert catalog.mels_for(str(local)) == 128
    (local / "preprocessor_config.json").write_text("not json")
    assert catalog.mels_for(str(local)) == 80
    assert catalog.mels_for("someone/unknown-model") == 128  # sized like large-v3
