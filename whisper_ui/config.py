"""Settings: configs/default.yaml < a --config file < environment (WHISPER_UI__*) < CLI flags.

One frozen object is built at start-up and handed to the composition root; nothing
else reads the environment, so tests build Settings directly with keyword arguments.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from whisper_ui.options import OPTIONS, Speakers, Task, TranscribeOptions

_OPTION_DEFAULTS = TranscribeOptions()
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"
MODELS_FILE = CONFIG_DIR / "models.yaml"  # the model catalog

# Set by load_settings() before the class reads its sources (pydantic-settings takes the
# yaml file from model_config, which is class-level).
_yaml_files: list[Path] = [DEFAULT_CONFIG]


def default_data_dir() -> Path:
    """XDG data dir: jobs and uploads must outlive the process and the temp dir."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "whisper-ui"


class Settings(BaseSettings):
    """Every setting with its default; configs/default.yaml documents each one."""

    model_config = SettingsConfigDict(
        env_prefix="WHISPER_UI__",
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(7860, ge=0, le=65535)
    data_dir: Path | None = None
    max_upload_mb: int = Field(2048, ge=1)
    max_queue: int = Field(1000, ge=1)
    auth: list[str] = Field(default_factory=list)  # USER:PASSWORD entries
    auth_file: Path | None = None
    api_keys: dict[str, str] = Field(default_factory=dict)  # key -> user it acts as
    share: bool = False

    # Defaults for every job: declared, with their checks, in whisper_ui/options.py.
    model: str = _OPTION_DEFAULTS.model
    language: str | None = _OPTION_DEFAULTS.language
    task: Task = _OPTION_DEFAULTS.task
    beam_size: int = _OPTION_DEFAULTS.beam_size
    vad_filter: bool = _OPTION_DEFAULTS.vad_filter
    word_timestamps: bool = _OPTION_DEFAULTS.word_timestamps
    speakers: Speakers = _OPTION_DEFAULTS.speakers
    min_speakers: int | None = _OPTION_DEFAULTS.min_speakers
    max_speakers: int | None = _OPTION_DEFAULTS.max_speakers

    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = "auto"
    concurrency: int | None = Field(None, ge=1)
    max_workers: int = Field(8, ge=1)
    max_workers_per_gpu: int = Field(4, ge=1)
    cpu_threads_per_worker: int | None = Field(None, ge=1)
    auto_calibrate: bool = True  # serve measures the CPU plan once (engine/calibrate.py)
    safety_margin_mb: int = Field(512, ge=0)
    safety_fraction: float = Field(0.10, ge=0.0, lt=1.0)
    idle_ttl_s: float = Field(600.0, gt=0)
    oom_retries: int = Field(2, ge=0)
    model_cache_dir: Path | None = None

    retention_days: float = Field(30.0, ge=0)
    schedule: Literal["fifo", "shortest"] = "fifo"
    max_duration_s: float = Field(14400.0, gt=0)

    batch: Literal["auto", "on", "off"] = "auto"
    max_batch_size: int = Field(8, ge=1, le=64)
    batch_max_wait_ms: float = Field(20.0, ge=0)

    # A Ray cluster's HOST:PORT (whisper_ui/cluster); None runs everything in this process.
    cluster: str | None = None
    # Encode a window at its length, not padded to 30 s (engine/short_encode.py):
    # short clips and the last window of long files (README "## Throughput").
    short_encode: bool = False

    @field_validator("concurrency", "cpu_threads_per_worker", mode="before")
    @classmethod
    def _auto_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() == "auto" else value

    @field_validator(*OPTIONS.names("settings"), mode="before")
    @classmethod
    def _option(cls, value: Any, info: ValidationInfo) -> Any:
        """The option's own parsing and checks ("auto" language = detect, beam 1..20)."""
        assert info.field_name is not None
        return OPTIONS[info.field_name].parse(value)

    def default_options(self) -> TranscribeOptions:
        """The options a job gets for everything its request leaves out."""
        values = {name: getattr(self, name) for name in OPTIONS.names("settings")}
        return OPTIONS.build(OPTIONS.defaults(), values)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: flags, then environment, then the yaml files (last file wins).
        yaml_sources = [
            YamlConfigSettingsSource(settings_cls, yaml_file=path)
            for path in reversed(_yaml_files)
            if path.is_file()
        ]
        return (init_settings, env_settings, *yaml_sources)

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir if self.data_dir is not None else default_data_dir()

    @property
    def resolved_model_cache_dir(self) -> Path:
        if self.model_cache_dir is not None:
            return self.model_cache_dir
        return self.resolved_data_dir / "models"


_missing = set(OPTIONS.names("settings")) - set(Settings.model_fields)
if _missing:  # pragma: no cover - an option declared for settings needs a field above
    raise RuntimeError(f"options without a setting: {sorted(_missing)}")


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from the yaml files, the environment and explicit overrides.

    `overrides` whose value is None are dropped, so CLI flags left unset do not
    shadow the yaml file or the environment.
    """
    global _yaml_files
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"config file not found: {config_file}")
    _yaml_files = [DEFAULT_CONFIG] + ([config_file] if config_file is not None else [])
    flags = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**flags)
