"""Audio intake: validate a file before it is queued, decode it, and cut long audio.

Everything here goes through PyAV (the FFmpeg libraries), so no `ffmpeg` binary is
needed at run time. Any input that cannot be transcribed becomes an `AudioError`
whose message names the file as the user knows it and says why, in words a person
can act on; raw PyAV exceptions and tracebacks never reach the caller. A file that
decodes only in part (cut off, damaged) is no error: `decode_checked` returns what
decoded, with a warning that says how much that was.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000  # Hz: what Whisper models take, and what decode() gives

with warnings.catch_warnings():
    # pydub imports `audioop` (deprecated on 3.11/3.12) and warns when no ffmpeg binary
    # is on PATH; we only use its in-memory silence detection, which needs neither.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment
    from pydub.silence import detect_nonsilent

__all__ = [
    "AudioError",
    "Decoded",
    "MediaInfo",
    "Piece",
    "PieceReader",
    "decode",
    "decode_checked",
    "decode_warning",
    "probe",
    "split_on_silence",
]

# How many packets `probe` may decode while looking for the first audio sample before
# it calls the stream undecodable (a few seconds of audio for every common codec).
_PROBE_MAX_PACKETS = 250
# Silence search resolution for `split_on_silence`; pydub's default of 1 ms costs
# minutes on hour-long audio and buys nothing for choosing a cut point.
_SILENCE_SEEK_MS = 10

# When a decoded file is shorter than its header says, and by how much before it is
# reported (decode_warning). Files that are intact decode to within 30 ms of their
# header on every fixture (AAC priming +22 ms, Matroska -30 ms, MP4 +30 ms: encoder
# delay and padding), so 0.5 s is far above that noise and keeps short clips from
# ever warning on rounding. The 90 % bound is for headers that are only close: a
# video container's duration can exceed its audio track's by a second, and the
# smallest real damage reported is still "a tenth of the file is missing". With a
# decoding error (damage seen, not inferred) the 0.5 s alone is enough.
SHORT_MIN_S = 0.5
SHORT_FRACTION = 0.9
# A header duration within this fraction of file size / stream bitrate is FFmpeg's
# estimate from the bitrate (no header said it; exact to 0.01 % on every such file
# measured), not a statement: a VBR mp3 without a Xing header that starts in silence
# is "estimated" at 460 s and decodes to 110 s. Such a duration is not compared.
_BITRATE_ESTIMATE_TOLERANCE = 0.005

# First bytes of the containers people actually upload. When FFmpeg cannot open a
# file that starts like one of these, the file is damaged (typically a cut-off upload
# or an mp4 whose index was never written), not "some other kind of file".
_MAGIC_PREFIXES = (
    b"RIFF",  # wav, avi
    b"RF64",  # wav > 4 GB
    b"ID3",  # mp3 with a tag
    b"OggS",  # ogg / opus
    b"fLaC",  # flac
    b"\x1a\x45\xdf\xa3",  # matroska / webm
    b"FORM",  # aiff
    b"#!AMR",  # amr
    b"\x30\x26\xb2\x75",  # asf / wma
    b"caff",  # core audio
)
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


class AudioError(Exception):
    """Raised for any input that cannot be transcribed; str(e) == f"{name}: {reason}".

    `name` is the name the user knows (an upload's original file name), because the
    path may be a temporary file whose name means nothing to them.
    """

    path: str
    name: str
    reason: str

    def __init__(
        self, path: str | os.PathLike[str], reason: str, *, name: str | None = None
    ) -> None:
        self.path = os.fspath(path)
        self.name = name if name else os.path.basename(self.path)
        self.reason = reason
        super().__init__(f"{self.name}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only `name` would be lost by the default pickling (process pools).
        return (_rebuild_audio_error, (self.path, self.reason, self.name))


def _rebuild_audio_error(path: str, reason: str, name: str) -> AudioError:
    return AudioError(path, reason, name=name)


@dataclass(frozen=True)
class MediaInfo:
    """What `probe` learned about a file that is fit to transcribe."""

    path: str
    name: str  # display name (default: basename of path)
    duration: float  # seconds, > 0
    container: str  # PyAV format name
    codec: str  # audio codec name
    sample_rate: int
    channels: int
    has_video: bool
    size_bytes: int


# ---- helpers ----------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    """A short reason from an exception, without the file path FFmpeg appends."""
    text = ""
    if isinstance(exc, av.FFmpegError | OSError):
        text = exc.strerror or ""
    if not text:
        text = str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _clock(seconds: float) -> str:
    """`3725` -> `1:02:05`; `125` -> `2:05` (whole seconds, rounded up)."""
    total = max(0, math.ceil(seconds - 1e-3))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _secs(seconds: float) -> str:
    """Seconds for a message: whole numbers stay whole, others keep 3 decimals."""
    if float(seconds).is_integer():
        return str(int(seconds))
    return f"{seconds:.3f}".rstrip("0")


def _clock_note(seconds: float) -> str:
    """` (1:02:05)` for a message; empty under a minute, where it adds nothing."""
    return f" ({_clock(seconds)})" if seconds >= 60 else ""


def _check_file(path: str, name: str) -> int:
    """Reject what is not a readable, non-empty regular file; return its size."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise AudioError(path, "file not found", name=name) from None
    except OSError as exc:
        raise AudioError(path, f"could not be read: {_describe(exc)}", name=name) from None
    if os.path.isdir(path):
        raise AudioError(path, "is a folder, not a file", name=name)
    if not os.path.isfile(path):
        raise AudioError(path, "is not a regular file", name=name)
    if st.st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)", name=name)
    return st.st_size


def _looks_like_media(path: str) -> bool:
    """True when the file starts like a media container (see _MAGIC_PREFIXES)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head.startswith(_MAGIC_PREFIXES) or head[4:8] in _MP4_BOXES:
        return True
    # MPEG audio frame sync (mp3 without a tag, ADTS aac): 11 set bits.
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0


def _unopenable(path: str, name: str, detail: str) -> AudioError:
    """The error for a file FFmpeg cannot make sense of: damaged media, or not media."""
    try:
        damaged = _looks_like_media(path)
    except OSError:
        damaged = False
    if damaged:
        reason = f"could not be decoded: the file is damaged or incomplete ({detail})"
    else:
        reason = "not a recognised audio or video file"
    return AudioError(path, reason, name=name)


def _undecodable(path: str, name: str, exc: BaseException) -> AudioError:
    """The error for an opened file from which no audio decodes at all.

    FFmpeg's format sniffing accepts some files that are not media (a zip holding a
    wav opens as mp3); when the file does not start like media either, say so.
    """
    try:
        media = _looks_like_media(path)
    except OSError:
        media = True
    if not media:
        return AudioError(path, "not a recognised audio or video file", name=name)
    return AudioError(path, f"could not be decoded: {_describe(exc)}", name=name)


def _open(path: str, name: str) -> Any:
    """Open `path` for reading with FFmpeg, mapping failures to AudioError.

    The path goes through FFmpeg's explicit `file:` protocol, so a name such as
    `call 10:30.mp3` is not taken for a `call 10` protocol URL.
    """
    try:
        with open(path, "rb"):  # plain message for permission problems
            pass
    except OSError as exc:
        raise AudioError(path, f"could not be read: {_describe(exc)}", name=name) from None
    try:
        return av.open("file:" + os.path.abspath(path), mode="r", metadata_errors="ignore")
    except (
        av.error.PermissionError,
        av.error.FileNotFoundError,
        av.error.IsADirectoryError,
    ) as exc:
        raise AudioError(path, f"could not be read: {_describe(exc)}", name=name) from None
    except av.FFmpegError as exc:  # invalid data, end of file, I/O error while parsing...
        raise _unopenable(path, name, _describe(exc)) from None
    except MemoryError:
        raise
    except Exception as exc:  # anything else: never leak it raw
        raise AudioError(path, f"could not be read: {_describe(exc)}", name=name) from None


def _audio_stream(container: Any, path: str, name: str) -> Any:
    """The first audio stream, or AudioError if the file has none."""
    if not container.streams:
        raise _unopenable(path, name, "no streams found")
    if not container.streams.audio:
        raise AudioError(path, "has no audio track", name=name)
    stream = container.streams.audio[0]
    if stream.codec_context is None:
        raise AudioError(path, "could not be decoded: unsupported audio codec", name=name)
    return stream


def _decode_packet(packet: Any) -> list[Any]:
    """Decode one packet (a seam: tests count how much `probe` decodes)."""
    return list(packet.decode())


def _metadata_duration(container: Any, stream: Any) -> float | None:
    """Duration from the stream header, else the container header; None if unknown."""
    if stream.duration is not None and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
        if seconds > 0:
            return seconds
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / av.time_base
    return None


@dataclass
class _Scan:
    samples: int = 0  # decoded samples (at the stream's own rate)
    first_error: BaseException | None = None
    first_pts: int | None = None
    end_pts: int | None = None

    def note_error(self, exc: BaseException) -> None:
        if self.first_error is None:
            self.first_error = exc


def _scan(container: Any, stream: Any, *, need_end: bool) -> _Scan:
    """Decode until the first audio sample; with `need_end`, demux on to the end.

    Demuxing without decoding is what keeps `probe` cheap on a file whose header
    lacks a duration (a streamed webm): only packet timestamps are read.
    """
    scan = _Scan()
    decoded_packets = 0
    try:
        for packet in container.demux(stream):
            if need_end and packet.pts is not None and packet.size:
                end = packet.pts + (packet.duration or 0)
                if scan.first_pts is None or packet.pts < scan.first_pts:
                    scan.first_pts = packet.pts
                if scan.end_pts is None or end > scan.end_pts:
                    scan.end_pts = end
            if scan.samples == 0:
                if decoded_packets >= _PROBE_MAX_PACKETS:
                    break  # nothing decodes: give up without reading the whole file
                decoded_packets += 1
                try:
                    scan.samples += sum(frame.samples for frame in _decode_packet(packet))
                except (av.FFmpegError, ValueError) as exc:
                    scan.note_error(exc)
            elif not need_end:
                break
    except (av.FFmpegError, ValueError) as exc:  # demuxer gave up (truncated file)
        scan.note_error(exc)
    return scan


def _count_seconds(path: str, name: str) -> float:
    """Last-resort duration: decode everything and count the samples."""
    with _open(path, name) as container:
        stream = _audio_stream(container, path, name)
        samples = 0
        rate = 0
        try:
            for packet in container.demux(stream):
                try:
                    for frame in _decode_packet(packet):
                        samples += frame.samples
                        rate = frame.sample_rate or rate
                except (av.FFmpegError, ValueError):
                    continue
        except (av.FFmpegError, ValueError):
            pass
    return samples / rate if rate else 0.0


# ---- public API ---------------------------------------------------------------


def probe(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    max_duration_s: float | None = None,
) -> MediaInfo:
    """Check that a file can be transcribed, cheaply, before a job is queued.

    Reads the headers, decodes only until the first audio comes out (so a damaged
    stream is caught now rather than minutes into a job), and takes the duration
    from the headers; only a file without one is read to the end (packet timestamps
    first, full decoding as the last resort).

    Raises AudioError with one of the reasons: "file not found", "file is empty
    (0 bytes)", "not a recognised audio or video file", "has no audio track",
    "could not be decoded: ...", "has no audio (duration 0 s)", "is N s long (...);
    the limit is M s (...)", "could not be read: ...".
    """
    path = os.fspath(path)
    name = name if name else os.path.basename(path)
    try:
        return _probe(path, name, max_duration_s)
    except (AudioError, MemoryError):
        raise
    except Exception as exc:  # belt and braces: nothing raw escapes
        raise AudioError(path, f"could not be read: {_describe(exc)}", name=name) from None


def _probe(path: str, name: str, max_duration_s: float | None) -> MediaInfo:
    size = _check_file(path, name)
    with _open(path, name) as container:
        stream = _audio_stream(container, path, name)
        meta = _metadata_duration(container, stream)
        scan = _scan(container, stream, need_end=meta is None)
        ctx = stream.codec_context
        codec = ctx.codec.canonical_name if ctx.codec is not None else (ctx.name or "unknown")
        sample_rate = int(ctx.sample_rate or stream.sample_rate or 0)
        channels = int(ctx.layout.nb_channels if ctx.layout else 0)
        has_video = any(
            not (s.disposition & av.stream.Disposition.attached_pic)  # cover art is no video
            for s in container.streams.video
        )
        container_name = str(container.format.name)
        time_base = stream.time_base

    if scan.samples == 0:
        if scan.first_error is not None:
            raise _undecodable(path, name, scan.first_error)
        if meta is not None:  # the header promises audio but no frame is there
            raise AudioError(
                path, "could not be decoded: no audio frames found (truncated file?)", name=name
            )
        raise AudioError(path, "has no audio (duration 0 s)", name=name)

    duration = meta
    if duration is None:
        if scan.first_pts is not None and scan.end_pts is not None and time_base:
            duration = float((scan.end_pts - scan.first_pts) * time_base)
        if not duration or duration <= 0:
            duration = _count_seconds(path, name)
    if duration <= 0:
        raise AudioError(path, "has no audio (duration 0 s)", name=name)

    if max_duration_s is not None and duration > max_duration_s:
        shown = math.ceil(duration - 1e-3)  # 89.6 s reads "90 s", never "89 s"
        raise AudioError(
            path,
            f"is {shown} s long{_clock_note(shown)}; "
            f"the limit is {_secs(max_duration_s)} s{_clock_note(max_duration_s)}",
            name=name,
        )

    return MediaInfo(
        path=path,
        name=name,
        duration=duration,
        container=container_name,
        codec=codec,
        sample_rate=sample_rate,
        channels=channels,
        has_video=has_video,
        size_bytes=size,
    )


def decode(
    path: str | os.PathLike[str],
    *,
    sample_rate: int = SAMPLE_RATE,
    name: str | None = None,
) -> npt.NDArray[np.float32]:
    """Decode the first audio track to mono float32 in [-1, 1] at `sample_rate`.

    This is the input faster-whisper expects. Video is ignored; multichannel audio is
    downmixed by FFmpeg's resampler through signed 16-bit, which (unlike a float
    target) normalises the downmix so 5.1 speech cannot clip. Undecodable packets are
    skipped, so a truncated file yields the audio before the damage; only a file that
    yields no audio at all raises AudioError. `decode_checked` also says how much of
    the file that was.
    """
    return decode_checked(path, sample_rate=sample_rate, name=name).samples


@dataclass(frozen=True)
class Decoded:
    """The audio `decode_checked` got from a file, and what it learned on the way:
    enough to tell a damaged or cut-off file from an intact one (`warning`)."""

    samples: npt.NDArray[np.float32]
    sample_rate: int
    header_s: float | None  # duration the headers state; None if none (or a bitrate guess)
    error: str | None = None  # the first decoding error, in words
    error_at_s: float | None = None  # seconds of audio decoded before that error
    stopped: bool = False  # reading the file failed there (not one packet skipped)

    @property
    def duration(self) -> float:
        """Seconds of audio decoded."""
        return len(self.samples) / self.sample_rate

    @property
    def warning(self) -> str | None:
        """What a person should know about this decode, or None (see decode_warning)."""
        return decode_warning(
            self.duration,
            self.header_s,
            error=self.error,
            error_at_s=self.error_at_s,
            stopped=self.stopped,
        )


def decode_checked(
    path: str | os.PathLike[str],
    *,
    sample_rate: int = SAMPLE_RATE,
    name: str | None = None,
) -> Decoded:
    """`decode`, also reporting the header's duration and the first decoding error, so
    a file that yields far less than it promised completes with a warning instead of
    silently looking like a file without speech."""
    path = os.fspath(path)
    name = name if name else os.path.basename(path)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    with _as_audio_error(path, name):
        return _decode(path, name, sample_rate)


@contextlib.contextmanager
def _as_audio_error(path: str, name: str) -> Iterator[None]:
    """Any failure of the decoder (PyAV, FFmpeg) while decoding `path` as an AudioError
    that names the file and says why; our own AudioErrors and MemoryError pass as they are."""
    try:
        yield
    except (AudioError, MemoryError):
        raise
    except Exception as exc:
        raise AudioError(path, f"could not be decoded: {_describe(exc)}", name=name) from None


def _nothing_decoded(path: str, name: str, run: _Run) -> AudioError:
    """The error for a file that yielded no audio: its first decoding error, or none."""
    if run.first_error is not None:
        return _undecodable(path, name, run.first_error)
    return AudioError(path, "has no audio (duration 0 s)", name=name)


def _span(seconds: float, whole: float, *, end: bool = False) -> str:
    """A time in a warning: `4.9 s` when `whole` is under a minute (whole seconds would
    read "0:00 of 0:10"), else `1:23` / `1:02:05`. A point reached (`end` False) is
    rounded down there, so it never reads as the whole file; the file's length (`end`)
    is rounded as the page shows lengths."""
    if whole < 60:
        return f"{seconds:.1f} s"
    return _clock(round(seconds) if end else math.floor(seconds))


def decode_warning(
    decoded_s: float,
    header_s: float | None,
    *,
    error: str | None = None,
    error_at_s: float | None = None,
    stopped: bool = False,
) -> str | None:
    """The warning for a decode that got `decoded_s` seconds of a file whose header says
    `header_s` (None: no usable header), or None when nothing is worth saying.

    Short means more than SHORT_MIN_S missing and, unless a decoding error shows the
    damage, less than SHORT_FRACTION of the header decoded (see those constants). A
    read that failed outright (`stopped`) is always reported: what followed is lost,
    however long it was. Three wordings: the file ends early (nothing failed, the audio
    just ran out), decoding stopped at a point (an error and nothing decoded after it),
    or parts were skipped (errors with audio after them).
    """
    short = header_s is not None and (
        header_s - decoded_s > SHORT_MIN_S
        and (error is not None or decoded_s < SHORT_FRACTION * header_s)
    )
    if not short and not (stopped and error is not None):
        return None
    whole = header_s if header_s is not None else decoded_s
    of = "" if header_s is None else f" of {_span(header_s, whole, end=True)}"
    if error is None:
        return f"the file ends early ({_span(decoded_s, whole)}{of} decoded)"
    at = decoded_s if error_at_s is None else error_at_s
    if stopped or decoded_s - at < SHORT_MIN_S:
        return f"decoding stopped at {_span(at, whole)}{of}: {error}"
    return (
        f"parts of the file could not be decoded and were skipped "
        f"({_span(decoded_s, whole)}{of} decoded): {error}"
    )


def _header_duration(container: Any, stream: Any, size: int, first_pos: int | None) -> float | None:
    """The duration the headers state, or None when they state none or FFmpeg made it
    up from the file size and bitrate (see _BITRATE_ESTIMATE_TOLERANCE)."""
    meta = _metadata_duration(container, stream)
    if meta is None:
        return None
    bit_rate = int(stream.codec_context.bit_rate or stream.bit_rate or 0)
    if bit_rate > 0 and first_pos is not None and size > first_pos:
        estimate = (size - first_pos) * 8 / bit_rate
        if abs(estimate - meta) <= _BITRATE_ESTIMATE_TOLERANCE * meta:
            return None
    return meta


def _decode(path: str, name: str, sample_rate: int) -> Decoded:
    size = _check_file(path, name)
    with _open(path, name) as container:
        stream = _audio_stream(container, path, name)
        run = _decode_s16_mono(container, stream, sample_rate)
        header_s = _header_duration(container, stream, size, run.first_pos)
    total = sum(len(c) for c in run.chunks)
    if total == 0:
        raise _nothing_decoded(path, name, run)
    out = np.empty(total, dtype=np.float32)
    pos = 0
    for chunk in run.chunks:  # fill in place: no second full-size copy as with concatenate
        out[pos : pos + len(chunk)] = chunk
        pos += len(chunk)
    out *= np.float32(1.0 / 32768.0)
    error = run.first_error
    return Decoded(
        samples=out,
        sample_rate=sample_rate,
        header_s=header_s,
        error=None if error is None else _describe(error),
        error_at_s=None if run.error_at is None else run.error_at / sample_rate,
        stopped=run.stopped,
    )


@dataclass
class _Run:
    """What one pass of `_decode_s16_mono` produced and ran into."""

    chunks: list[npt.NDArray[np.int16]] = field(default_factory=list)
    produced: int = 0  # samples in chunks
    first_error: BaseException | None = None
    error_at: int | None = None  # samples produced before the first error
    stopped: bool = False  # the demuxer itself failed: nothing after it was read
    first_pos: int | None = None  # byte offset of the first audio packet

    def add(self, samples: npt.NDArray[np.int16]) -> None:
        self.chunks.append(samples)
        self.produced += len(samples)

    def note_error(self, exc: BaseException, *, stopped: bool = False) -> None:
        if self.first_error is None:
            self.first_error = exc
            self.error_at = self.produced
        self.stopped = self.stopped or stopped


def _decode_s16_mono(container: Any, stream: Any, sample_rate: int) -> _Run:
    """Decode and resample `stream`: the int16 chunks, and the errors on the way.

    Undecodable packets are skipped (as the ffmpeg tool does), and a demuxer that
    stops early ends the stream, so damage costs only the damaged part.
    """
    run = _Run()
    for block in _iter_s16_mono(container, stream, sample_rate, run):
        run.add(block)
    return run


def _iter_s16_mono(
    container: Any, stream: Any, sample_rate: int, run: _Run
) -> Iterator[npt.NDArray[np.int16]]:
    """The blocks `_decode_s16_mono` collects, one at a time; errors go to `run` (which
    the caller also counts produced samples in, so an error knows where it happened)."""
    resampler: Any = None
    current: tuple[str, str, int] | None = None

    def drain(frames: list[Any]) -> Iterator[npt.NDArray[np.int16]]:
        for out in frames:
            yield out.to_ndarray().reshape(-1).copy()

    try:
        for packet in container.demux(stream):
            if run.first_pos is None and packet.size and packet.pos is not None:
                run.first_pos = int(packet.pos) if packet.pos >= 0 else None
            try:
                frames = _decode_packet(packet)
            except (av.FFmpegError, ValueError) as exc:
                run.note_error(exc)
                continue
            for frame in frames:
                key = (frame.format.name, frame.layout.name, frame.sample_rate)
                if key != current:  # a mid-stream format change needs a new resampler
                    if resampler is not None:
                        yield from drain(resampler.resample(None))
                    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
                    current = key
                frame.pts = None  # resample by sample count; odd timestamps must not drop audio
                yield from drain(resampler.resample(frame))
    except (av.FFmpegError, ValueError) as exc:
        run.note_error(exc, stopped=True)
    if resampler is not None:
        yield from drain(resampler.resample(None))


@dataclass(frozen=True)
class Piece:
    """A stretch of a file's audio: 16 kHz mono float32 from `start_s` seconds on."""

    start_s: float
    samples: npt.NDArray[np.float32]

    @property
    def end_s(self) -> float:
        return self.start_s + len(self.samples) / SAMPLE_RATE


class PieceReader:
    """A file's audio a piece at a time, so a job's memory does not grow with its length.

    Iterating decodes the file from the start (skipping what lies before `start_s`, a
    resumed job's offset) and yields Pieces of at most `max_chunk_s`, cut where
    `split_on_silence` would cut the whole file: the same pieces, but only one of them
    (and the part of the next one decoded so far) is in memory at a time. Skipping is
    decoding: at several hundred times real time it costs seconds where a resume after
    an hour of audio saves minutes of transcription, and unlike seeking it lands on the
    same sample every time.

    Once the file is read to its end, `decoded_s` is where the audio ended and `warning`
    what `decode_checked` would have said of the file; `on_end` is called then, before
    the last piece is yielded, so a damaged file is reported while it is transcribed.
    AudioError when nothing decodes at all (for a resumed job: when nothing decodes
    before the offset either).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        start_s: float = 0.0,
        max_chunk_s: float = 600.0,
        min_silence_ms: int = 700,
        on_end: Callable[[PieceReader], None] | None = None,
    ) -> None:
        if max_chunk_s <= 0:
            raise ValueError(f"max_chunk_s must be positive, got {max_chunk_s}")
        self.path = os.fspath(path)
        self.name = name if name else os.path.basename(self.path)
        self.start_s = max(0.0, start_s)
        self.max_chunk_s = max_chunk_s
        self.min_silence_ms = min_silence_ms
        self.on_end = on_end
        self.decoded_s = self.start_s
        self.header_s: float | None = None
        self._run: _Run | None = None

    @property
    def warning(self) -> str | None:
        """The decode warning for the whole file (see decode_warning); None before the end."""
        run = self._run
        if run is None:
            return None
        return decode_warning(
            run.produced / SAMPLE_RATE,
            self.header_s,
            error=None if run.first_error is None else _describe(run.first_error),
            error_at_s=None if run.error_at is None else run.error_at / SAMPLE_RATE,
            stopped=run.stopped,
        )

    def __iter__(self) -> Iterator[Piece]:
        with _as_audio_error(self.path, self.name):
            yield from self._pieces()

    def _pieces(self) -> Iterator[Piece]:
        path, name = self.path, self.name
        size = _check_file(path, name)
        skip = int(self.start_s * SAMPLE_RATE)
        max_len = max(1, int(self.max_chunk_s * SAMPLE_RATE))
        run = _Run()
        blocks: list[npt.NDArray[np.int16]] = []
        held = 0  # samples in blocks
        at = skip  # file position (samples) of blocks[0]
        with _open(path, name) as container:
            stream = _audio_stream(container, path, name)
            for block in _iter_s16_mono(container, stream, SAMPLE_RATE, run):
                before = run.produced
                run.produced += len(block)  # counted, not kept (run.add keeps)
                if run.produced <= skip:
                    continue
                if before < skip:
                    block = block[skip - before :]
                blocks.append(block)
                held += len(block)
                while held > max_len:
                    flat = np.concatenate(blocks)
                    cut = self._cut(flat, max_len)
                    samples, start = _to_float(flat[:cut]), at
                    # Only the next piece's start stays (a copy: a view keeps all of
                    # `flat`) while this piece is transcribed.
                    blocks = [flat[cut:].copy()]
                    held, at = len(blocks[0]), at + cut
                    del flat
                    yield Piece(start / SAMPLE_RATE, samples)
                    del samples  # the consumer's to keep: not held while reading on
            self.header_s = _header_duration(container, stream, size, run.first_pos)
        self._run = run
        if run.produced == 0:
            raise _nothing_decoded(path, name, run)
        self.decoded_s = max(self.start_s, run.produced / SAMPLE_RATE)
        if self.on_end is not None:
            self.on_end(self)
        if held:
            yield Piece(at / SAMPLE_RATE, _to_float(np.concatenate(blocks)))

    def _cut(self, flat: npt.NDArray[np.int16], max_len: int) -> int:
        """Where the first piece of `flat` ends: as split_on_silence cuts."""
        lo = max_len // 2
        window = _to_float(flat[lo:max_len])
        offset = _latest_silence_mid(window, SAMPLE_RATE, self.min_silence_ms, -40.0)
        cut = max_len if offset is None else lo + offset
        return cut if cut > 0 else max_len


def _to_float(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
    out = pcm.astype(np.float32)
    out *= np.float32(1.0 / 32768.0)
    return out


def decode_mapped(
    path: str | os.PathLike[str], *, name: str | None = None
) -> npt.NDArray[np.float32]:
    """The whole file's audio, as `decode` gives it, in an unlinked temporary file
    mapped into memory (read-only).

    For a stage that needs the whole file but reads it a block at a time (the speakers
    stage): each decoded block is written out as it comes, so what the caller holds
    afterwards are pages of the page cache, which the kernel drops under pressure,
    instead of an anonymous copy the length of the file (a 4 h file is 0.9 GB of
    float32). The disk space goes when the map does. AudioError as `decode`.
    """
    path = os.fspath(path)
    name = name if name else os.path.basename(path)
    scale = np.float32(1.0 / 32768.0)  # as _decode: int16 -> float32, then scaled
    with _as_audio_error(path, name):
        _check_file(path, name)
        run = _Run()
        with tempfile.TemporaryFile(prefix="whisper-ui-audio-") as raw:
            with _open(path, name) as container:
                stream = _audio_stream(container, path, name)
                for block in _iter_s16_mono(container, stream, SAMPLE_RATE, run):
                    run.produced += len(block)
                    samples = block.astype(np.float32)
                    samples *= scale
                    raw.write(samples.tobytes())
            if run.produced == 0:
                raise _nothing_decoded(path, name, run)
            raw.flush()
            return np.memmap(raw, dtype=np.float32, mode="r", shape=(run.produced,))


def split_on_silence(
    samples: npt.NDArray[np.float32],
    *,
    sample_rate: int = SAMPLE_RATE,
    max_chunk_s: float = 600.0,
    min_silence_ms: int = 700,
    silence_thresh_db: float = -40.0,
) -> list[tuple[float, float]]:
    """Cut points for long audio: chunks of at most `max_chunk_s`, cut in silences.

    Returns (start_s, end_s) pairs covering all of `samples`, in order, without gaps.
    Each cut is placed in the middle of the latest silence (at least `min_silence_ms`
    quieter than `silence_thresh_db` dBFS) in the second half of the chunk, so words
    are not split; a stretch with no such silence is cut hard at `max_chunk_s`. Only
    those search windows are examined, so the cost does not grow with silence count.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if max_chunk_s <= 0:
        raise ValueError(f"max_chunk_s must be positive, got {max_chunk_s}")
    flat = np.asarray(samples).reshape(-1)
    n = len(flat)
    if n == 0:
        return []
    max_len = max(1, int(max_chunk_s * sample_rate))
    bounds: list[tuple[int, int]] = []
    start = 0
    while n - start > max_len:
        hard = start + max_len
        lo = start + max_len // 2
        offset = _latest_silence_mid(flat[lo:hard], sample_rate, min_silence_ms, silence_thresh_db)
        cut = hard if offset is None else lo + offset
        if cut <= start:  # cannot happen with lo > start, but never loop forever
            cut = hard
        bounds.append((start, cut))
        start = cut
    bounds.append((start, n))
    return [(s / sample_rate, e / sample_rate) for s, e in bounds]


def _latest_silence_mid(
    window: npt.NDArray[Any], sample_rate: int, min_silence_ms: int, silence_thresh_db: float
) -> int | None:
    """Sample offset of the middle of the last silence in `window`, or None."""
    if window.dtype.kind == "f":
        pcm = (np.clip(window, -1.0, 1.0) * 32767.0).astype("<i2")
    else:
        pcm = window.astype("<i2")
    segment = AudioSegment(data=pcm.tobytes(), sample_width=2, frame_rate=sample_rate, channels=1)
    length_ms = len(segment)
    if length_ms <= min_silence_ms:
        return None
    voiced: list[list[int]] = detect_nonsilent(
        segment,
        min_silence_len=min_silence_ms,
        silence_thresh=silence_thresh_db,
        seek_step=_SILENCE_SEEK_MS,
    )
    if not voiced:  # the whole window is silent: any point will do, take the latest
        return len(window)
    # Silences are the gaps between voiced ranges, including before the first and
    # after the last; pydub only reports gaps of at least min_silence_ms.
    gaps: list[tuple[int, int]] = []
    previous_end = 0
    for begin, end in voiced:
        if begin > previous_end:
            gaps.append((previous_end, begin))
        previous_end = end
    if previous_end < length_ms:
        gaps.append((previous_end, length_ms))
    if not gaps:
        return None
    gap_start, gap_end = gaps[-1]
    middle_ms = (gap_start + gap_end) / 2
    return min(len(window), int(middle_ms * sample_rate / 1000))
