"""Cross-job batching: VAD chunks from several running jobs share one encode/generate call.

CTranslate2 does not merge concurrent calls, so batching across files is ours to do.

Where it sits: *behind* the pool, one `Batcher` per loaded model instance (created on
first use, kept in a weak map keyed by the model object). A job still needs a lease
to run, so admission, memory accounting and OOM handling stay exactly as they are;
the lease's worker thread becomes a *feeder*: it decodes, cuts the audio into
VAD-bounded chunks (<= 30 s, faster-whisper's own VAD and `collect_chunks`), computes
each chunk's features, hands a few chunks at a time to the batcher and streams the
results back in order. The batcher's batch threads (at most the instance's
CTranslate2 `num_workers`, and no more than the cores allow) each take up to
`max_batch_size` compatible chunks, from as many jobs as have some, and decode them
in one CTranslate2 encode and generate. Keeping batching per instance means the
weights are shared and a batch can never mix models or devices.

Latency: a job that has had the fewest chunks served leads the next batch, so a new
job's first chunk goes out with the next free batch thread instead of behind a long file's
backlog; a batch thread waits at most `max_wait_ms` for more chunks to fill a batch; and a
job sends its first chunk alone (then up to a batch's worth), so its first segment
costs one chunk's decode, not a whole batch's.

Semantics follow `WhisperModel.transcribe` where batching allows: timestamp tokens cut
a chunk into sentence-level segments; when the model stops before a chunk's end (as it
does before a 30 s window's end) the rest of the chunk is decoded again, as sequential
decoding seeks (faster-whisper's BatchedInferencePipeline drops it, losing sentences);
chunks that come out too repetitive or too unsure go down the temperature ladder
again, together. What batching gives up: a chunk is not conditioned on the text of the
chunk before it (they decode side by side), and silence is cut out by VAD.
faster-whisper's segment splitting, word alignment and thresholds are used as they
are. bench/throughput.py reports the word error rate against sequential decoding.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from whisper_ui.audio import SAMPLE_RATE, Piece
from whisper_ui.domain import (
    InfoReady,
    JobEvent,
    Progress,
    Resume,
    Segment,
    SegmentAdded,
    TranscribeOptions,
    Transcript,
    TranscriptInfo,
    Word,
)
from whisper_ui.engine.errors import TranscriptionCancelled

_START = Resume()
CHUNK_S = 30  # Whisper's window: VAD speech is merged into chunks no longer than this
MIN_CONTINUATION_S = 0.5  # a chunk's rest shorter than this is not decoded again
MAX_CONTINUATIONS = 8  # per chunk: a model that keeps stopping early cannot loop for long


@dataclass(frozen=True)
class BatchSettings:
    max_batch_size: int = 8  # chunks per encode/generate call
    max_wait_ms: float = 20.0  # how long a batch thread waits to fill a batch
    batch_threads: int = 1  # concurrent batch calls (CTranslate2 workers used)
    idle_exit_s: float = 5.0  # a batch thread exits after this long without work


RunBatch = Callable[[Any, Sequence[Any]], Sequence[Any]]


@dataclass(eq=False)
class Ticket:
    """One chunk handed to the batcher; the feeder waits on it for the chunk's result."""

    job_id: str
    key: Hashable
    context: Any
    payload: Any
    submitted: float
    _done: threading.Event = field(default_factory=threading.Event)
    _result: Any = None
    _error: BaseException | None = None

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._result

    def _finish(self, result: Any = None, error: BaseException | None = None) -> None:
        self._result, self._error = result, error
        self._done.set()


class Batcher:
    """Groups tickets by `key` and runs up to max_batch_size of them per `run` call.

    `run(context, payloads)` gets the first ticket's context (all tickets in a batch
    share the key, so their contexts are interchangeable) and must return one result
    per payload, in order. Model-agnostic so the scheduling is testable with fakes.
    """

    def __init__(self, run: RunBatch, settings: BatchSettings = BatchSettings()) -> None:
        self._run = run
        self.settings = settings
        self._cond = threading.Condition()
        self._pending: dict[str, deque[Ticket]] = {}  # job -> its waiting chunks, in order
        self._served: dict[str, int] = {}  # job -> chunks taken into batches so far
        self._arrival: dict[str, int] = {}  # job -> order it first showed up in
        self._seq = 0
        self._batch_threads = 0

    def submit(
        self, job_id: str, key: Hashable, context: Any, payload: Any, *, front: bool = False
    ) -> Ticket:
        """Queue one chunk; `front` puts it before the job's other waiting chunks (a
        continuation its feeder must have before it can stream anything further)."""
        ticket = Ticket(job_id, key, context, payload, time.monotonic())
        with self._cond:
            if job_id not in self._arrival:
                self._arrival[job_id] = self._seq
                self._seq += 1
            pending = self._pending.setdefault(job_id, deque())
            if front:
                pending.appendleft(ticket)
            else:
                pending.append(ticket)
            if self._batch_threads < max(1, self.settings.batch_threads):
                self._batch_threads += 1
                thread = threading.Thread(target=self._batch_thread, name="batcher", daemon=True)
                thread.start()
            self._cond.notify_all()
        return ticket

    def forget(self, job_id: str) -> None:
        """Drop a job's waiting chunks (cancel, failure, end); chunks already running finish."""
        with self._cond:
            for ticket in self._pending.pop(job_id, ()):
                ticket._finish(error=TranscriptionCancelled(job_id))
            self._served.pop(job_id, None)
            self._arrival.pop(job_id, None)

    def _take(self, now: float) -> tuple[list[Ticket], float]:
        """The next batch, or ([], seconds to wait) when it is worth waiting to fill one."""
        jobs = [j for j, q in self._pending.items() if q]
        if not jobs:
            return [], -1.0
        order = sorted(jobs, key=lambda j: (self._served.get(j, 0), self._arrival.get(j, 0)))
        key = self._pending[order[0]][0].key
        same = [j for j in order if self._pending[j][0].key == key]
        available = sum(sum(1 for t in self._pending[j] if t.key == key) for j in same)
        size = max(1, self.settings.max_batch_size)
        oldest = min(self._pending[j][0].submitted for j in same)
        wait = self.settings.max_wait_ms / 1000 - (now - oldest)
        if available < size and wait > 0:
            return [], wait
        batch: list[Ticket] = []
        while len(batch) < size:  # round robin: one chunk per job per turn, least served first
            took = False
            for job in same:
                queue = self._pending.get(job)
                if queue and queue[0].key == key and len(batch) < size:
                    batch.append(queue.popleft())
                    self._served[job] = self._served.get(job, 0) + 1
                    took = True
            if not took:
                break
        return batch, 0.0

    def _batch_thread(self) -> None:
        while True:
            with self._cond:
                idle_since = time.monotonic()
                while True:
                    batch, wait = self._take(time.monotonic())
                    if batch:
                        break
                    if wait < 0 and time.monotonic() - idle_since >= self.settings.idle_exit_s:
                        self._batch_threads -= 1
                        return
                    self._cond.wait(wait if wait > 0 else self.settings.idle_exit_s)
            try:
                results = self._run(batch[0].context, [t.payload for t in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"batch of {len(batch)} returned {len(results)} results")
            except BaseException as exc:
                for ticket in batch:
                    ticket._finish(error=exc)
            else:
                for ticket, result in zip(batch, results, strict=True):
                    ticket._finish(result)
            # Hold nothing between batches: a batch's context holds the model, and an idle
            # batch thread must not keep an unloaded instance alive.
            del batch
            results = []


# ---- faster-whisper glue ----------------------------------------------------------------

_batchers: weakref.WeakKeyDictionary[Any, Batcher] = weakref.WeakKeyDictionary()
_batchers_lock = threading.Lock()


def batcher_for(model: Any, settings: BatchSettings) -> Batcher:
    """The one batcher of a loaded model instance (created on first use).

    The batcher never holds the model (it comes in each batch's context), so dropping
    the instance from the pool still frees it.
    """
    with _batchers_lock:
        batcher = _batchers.get(model)
        if batcher is None:
            batcher = Batcher(_run_whisper_batch, settings)
            _batchers[model] = batcher
        return batcher


@dataclass(frozen=True)
class _Chunk:
    features: np.ndarray  # (n_mels, 3000) log-mel of the chunk, padded
    offset: float  # where the chunk starts, in speech time (collect_chunks' timeline)
    duration: float  # seconds of audio in the chunk


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk decoded to: faster-whisper segment dicts (speech time) and, when the
    model stopped before the chunk's end, where to decode again (seconds into the chunk)."""

    segments: list[dict[str, Any]]
    resume_at: float | None = None


def split_at_timestamps(
    tokens: Sequence[int], timestamp_begin: int, time_precision: float, duration: float
) -> tuple[list[tuple[float, float, list[int]]], float | None]:
    """Cut one chunk's tokens into (start, end, tokens) segments at timestamp pairs.

    Mirrors what `WhisperModel.generate_segments` does with one 30 s window, including
    its seek: when the text does not end on a single closing timestamp, the model has
    stopped at the last complete segment (it expects the next window to carry on), so
    the unfinished rest is not kept and the second value says where to decode again.
    `BatchedInferencePipeline.forward` keeps no such continuation, which loses whole
    sentences (two of long_speech.mp3's). Times are relative to the chunk.
    """

    def at(token: int) -> float:
        return (token - timestamp_begin) * time_precision

    single_ending = len(tokens) >= 2 and tokens[-2] < timestamp_begin <= tokens[-1]
    cuts = [
        i
        for i in range(1, len(tokens))
        if tokens[i] >= timestamp_begin and tokens[i - 1] >= timestamp_begin
    ]
    if not cuts:  # one segment: the text ran to the end (or carried no pairs)
        stamps = [t for t in tokens if t >= timestamp_begin]
        end = at(stamps[-1]) if stamps and stamps[-1] != timestamp_begin else duration
        return [(0.0, end, list(tokens))], None
    if single_ending:
        cuts.append(len(tokens))
    segments: list[tuple[float, float, list[int]]] = []
    last = 0
    for cut in cuts:
        piece = list(tokens[last:cut])
        segments.append((at(piece[0]), at(piece[-1]), piece))
        last = cut
    if single_ending:
        return segments, None
    return segments, at(tokens[last - 1])


@dataclass(frozen=True)
class _Decoded:
    tokens: list[int]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float


def _generate(
    model: Any, tokenizer: Any, options: Any, encoder_output: Any, count: int, temperature: float
) -> list[_Decoded]:
    """One CTranslate2 generate over `count` encoded chunks at one temperature: beam
    search at 0, else best_of samples (as WhisperModel.generate_with_fallback does)."""
    from faster_whisper.transcribe import get_compression_ratio

    previous = tokenizer.encode(options.initial_prompt) if options.initial_prompt else []
    prompt = model.get_prompt(tokenizer, previous, without_timestamps=False)
    if temperature > 0:
        search: dict[str, Any] = {
            "beam_size": 1,
            "num_hypotheses": options.best_of,
            "sampling_topk": 0,
            "sampling_temperature": temperature,
        }
    else:
        search = {"beam_size": options.beam_size, "patience": options.patience}
    results = model.model.generate(
        encoder_output,
        [list(prompt) for _ in range(count)],
        length_penalty=options.length_penalty,
        repetition_penalty=options.repetition_penalty,
        no_repeat_ngram_size=options.no_repeat_ngram_size,
        max_length=model.max_length,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=options.suppress_blank,
        suppress_tokens=options.suppress_tokens,
        max_initial_timestamp_index=round(options.max_initial_timestamp / model.time_precision),
        **search,
    )
    decoded = []
    for result in results:
        tokens = list(result.sequences_ids[0])
        cum_logprob = result.scores[0] * (len(tokens) ** options.length_penalty)
        text = tokenizer.decode([t for t in tokens if t < tokenizer.eot]).strip()
        decoded.append(
            _Decoded(
                tokens,
                cum_logprob / (len(tokens) + 1),
                float(result.no_speech_prob),
                get_compression_ratio(text),
                temperature,
            )
        )
    return decoded


def needs_fallback(decoded: _Decoded, options: Any) -> bool:
    """Whisper's rule: too repetitive or too unsure means decode again hotter, unless it
    is silence (likely no speech and unsure: nothing a hotter decode would find)."""
    unsure = (
        options.log_prob_threshold is not None and decoded.avg_logprob < options.log_prob_threshold
    )
    if (
        unsure
        and options.no_speech_threshold is not None
        and decoded.no_speech_prob > options.no_speech_threshold
    ):
        return False
    repetitive = (
        options.compression_ratio_threshold is not None
        and decoded.compression_ratio > options.compression_ratio_threshold
    )
    return repetitive or unsure


def pick_best(tries: Sequence[_Decoded], options: Any) -> _Decoded:
    """When every temperature failed: the most confident try that is not repetitive."""
    threshold = options.compression_ratio_threshold
    fine = [d for d in tries if threshold is None or d.compression_ratio <= threshold]
    return max(fine or tries, key=lambda d: d.avg_logprob)


def _decode_with_fallback(
    model: Any, tokenizer: Any, options: Any, features: np.ndarray
) -> tuple[Any, list[_Decoded]]:
    """Every chunk at the first temperature in one call; the chunks that fail Whisper's
    checks go again together at the next temperature, and so on down the ladder: the
    same work per chunk as sequential decoding, batched."""
    encoder_output = model.encode(features)
    temperatures = list(options.temperatures) or [0.0]
    best = _generate(model, tokenizer, options, encoder_output, len(features), temperatures[0])
    tries: dict[int, list[_Decoded]] = {}
    pending = [i for i, d in enumerate(best) if needs_fallback(d, options)]
    for temperature in temperatures[1:]:
        if not pending:
            break
        for i in pending:
            tries.setdefault(i, [best[i]])
        again = model.encode(features[pending])  # few chunks: cheaper than keeping them all
        retry = _generate(model, tokenizer, options, again, len(pending), temperature)
        still = []
        for i, decoded in zip(pending, retry, strict=True):
            tries[i].append(decoded)
            best[i] = decoded
            if needs_fallback(decoded, options):
                still.append(i)
        pending = still
    for i in pending:
        best[i] = pick_best(tries[i], options)
    return encoder_output, best


def _run_whisper_batch(context: Any, payloads: Sequence[Any]) -> Sequence[Any]:
    """One encode + generate for every chunk (temperature fallback for those that need
    it), cut at timestamps, faster-whisper's own word alignment."""
    model, tokenizer, fw_options = context
    chunks: list[_Chunk] = list(payloads)
    features = np.stack([c.features for c in chunks])
    encoder_output, outputs = _decode_with_fallback(model, tokenizer, fw_options, features)
    fps = model.frames_per_second
    per_chunk: list[list[dict[str, Any]]] = []
    resumes: list[float | None] = []
    sizes: list[int] = []
    for chunk, output in zip(chunks, outputs, strict=True):
        pieces, resume_at = split_at_timestamps(
            output.tokens, tokenizer.timestamp_begin, model.time_precision, chunk.duration
        )
        segments = []
        for start, end, tokens in pieces:
            text = tokenizer.decode(tokens)
            segments.append(
                {
                    "text": text,
                    "avg_logprob": output.avg_logprob,
                    "no_speech_prob": output.no_speech_prob,
                    "tokens": tokens,
                    "start": chunk.offset + start,
                    "end": chunk.offset + min(end, chunk.duration),
                    "seek": int(chunk.offset * fps),
                }
            )
        per_chunk.append(segments)
        resumes.append(resume_at)
        sizes.append(int(np.ceil(chunk.duration) * fps))
    if fw_options.word_timestamps and any(per_chunk):
        model.add_word_timestamps(
            per_chunk,
            tokenizer,
            encoder_output,
            sizes,
            fw_options.prepend_punctuations,
            fw_options.append_punctuations,
            0.0,
        )
    # Blank pieces (a lone timestamp pair) stay in until alignment, which wants every
    # chunk to have at least one segment; nobody wants them in a transcript.
    return [
        ChunkResult([seg for seg in segs if seg["text"].strip()], resume_at)
        for segs, resume_at in zip(per_chunk, resumes, strict=True)
    ]


def _fw_options(model: Any, options: TranscribeOptions, tokenizer: Any) -> Any:
    """faster-whisper's TranscriptionOptions for a batched call: WhisperModel.transcribe's
    defaults, except that a chunk is not conditioned on the text before it (chunks of one
    file decode side by side)."""
    from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

    return TranscriptionOptions(
        beam_size=options.beam_size,
        best_of=5,
        patience=1,
        length_penalty=1,
        repetition_penalty=1,
        no_repeat_ngram_size=0,
        log_prob_threshold=-1.0,
        no_speech_threshold=0.6,
        compression_ratio_threshold=2.4,
        temperatures=list(options.temperature) or [0.0],
        initial_prompt=options.initial_prompt or None,
        prefix=None,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        prepend_punctuations="\"'“¿([{-",
        append_punctuations="\"'.。,，!！?？:：”)]}、",
        max_new_tokens=None,
        hotwords=None,
        word_timestamps=options.word_timestamps,
        hallucination_silence_threshold=None,
        condition_on_previous_text=False,
        clip_timestamps="0",
        prompt_reset_on_temperature=0.5,
        multilingual=False,
        # Timestamp tokens give sentence-level segments; what follows the model's early
        # stop is decoded again (split_at_timestamps, continuation).
        without_timestamps=False,
        max_initial_timestamp=1.0,
    )


def group_key(model: Any, options: TranscribeOptions, language: str) -> Hashable:
    """Chunks may share a call only when every decoding option that reaches generate agrees."""
    return (
        id(model),
        options.task,
        language,
        options.beam_size,
        options.word_timestamps,
        options.initial_prompt or None,
        options.temperature,  # the whole fallback ladder: one per batch
    )


def transcribe_batched(
    model: Any,
    audio: np.ndarray,
    options: TranscribeOptions,
    *,
    job_id: str,
    emit: Callable[[JobEvent], None],
    should_cancel: Callable[[], bool],
    settings: BatchSettings,
    resume: Resume = _START,
    source_name: str = "",
) -> Transcript:
    """Same contract as transcriber.transcribe (events, cancel checks, resume), batched,
    for audio already in memory (one piece); jobs go through `transcribe_batched_pieces`."""
    start_sample = int(resume.offset_s * SAMPLE_RATE)
    part = audio[start_sample:] if start_sample else audio
    return transcribe_batched_pieces(
        model,
        [Piece(resume.offset_s, part)],
        options,
        total_s=len(audio) / SAMPLE_RATE,
        job_id=job_id,
        emit=emit,
        should_cancel=should_cancel,
        settings=settings,
        resume=resume,
        source_name=source_name,
    )


def transcribe_batched_pieces(
    model: Any,
    pieces: Iterable[Piece],
    options: TranscribeOptions,
    *,
    total_s: float,
    job_id: str,
    emit: Callable[[JobEvent], None],
    should_cancel: Callable[[], bool],
    settings: BatchSettings,
    resume: Resume = _START,
    source_name: str = "",
    decoded_s: Callable[[], float] | None = None,
) -> Transcript:
    """`transcribe_batched` over a file's pieces (audio.PieceReader), each cut into VAD
    chunks of its own: a job holds one piece of audio at a time. `total_s` and
    `decoded_s` as in transcriber.transcribe_pieces. The language is detected on the
    first chunk of speech, so InfoReady waits for the first piece that has some."""
    if should_cancel():
        raise TranscriptionCancelled(job_id)
    feeder = _Feeder(model, options, job_id, emit, should_cancel, settings, total_s, resume)
    try:
        for piece in pieces:
            feeder.feed(piece)
            del piece  # not held while the next piece is read
            if should_cancel():
                raise TranscriptionCancelled(job_id)
    finally:
        feeder.batcher.forget(job_id)
    info = feeder.info or feeder.start(None)
    if decoded_s is not None and round(decoded_s(), 3) != info.duration:
        info = dataclasses.replace(info, duration=round(decoded_s(), 3))
        emit(InfoReady(job_id, info))
    emit(Progress(job_id, 1.0, info.duration))
    return Transcript(info=info, segments=tuple(feeder.segments), source_name=source_name)


class _Feeder:
    """One job's side of the batcher: its pieces' chunks in, its segments out in order."""

    def __init__(
        self,
        model: Any,
        options: TranscribeOptions,
        job_id: str,
        emit: Callable[[JobEvent], None],
        should_cancel: Callable[[], bool],
        settings: BatchSettings,
        total_s: float,
        resume: Resume,
    ) -> None:
        self.model = model
        self.options = options
        self.job_id = job_id
        self.emit = emit
        self.should_cancel = should_cancel
        self.settings = settings
        self.total_s = total_s
        self.batcher = batcher_for(model, settings)
        self.info: TranscriptInfo | None = None
        self.context: Any = None
        self.key: Hashable = None
        self.segments: list[Segment] = []
        self.seg_id = resume.next_id
        self.ramped = False

    def start(self, first: _Chunk | None) -> TranscriptInfo:
        """The language (detected on `first`, the job's first chunk of speech, when the
        model is multilingual and none was given) and the batch context; InfoReady."""
        from faster_whisper.tokenizer import Tokenizer

        model, options = self.model, self.options
        multilingual = bool(model.model.is_multilingual)
        language, probability = options.language or "en", 1.0
        if not multilingual:
            language = "en"
        elif options.language is None and first is not None:
            language, probability, _ = model.detect_language(features=first.features)
        info = TranscriptInfo(
            language=language,
            language_probability=float(probability),
            duration=round(self.total_s, 3),
        )
        self.emit(InfoReady(self.job_id, info))
        tokenizer = Tokenizer(
            model.hf_tokenizer, multilingual, task=options.task, language=language
        )
        self.context = (model, tokenizer, _fw_options(model, options, tokenizer))
        self.key = group_key(model, options, language)
        self.info = info
        return info

    def feed(self, piece: Piece) -> None:
        """Decode one piece: its VAD chunks through the batcher, a few in flight."""
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.vad import (
            SpeechTimestampsMap,
            VadOptions,
            collect_chunks,
            get_speech_timestamps,
        )

        part = piece.samples
        vad = VadOptions(max_speech_duration_s=CHUNK_S, min_silence_duration_ms=160)
        speech = get_speech_timestamps(part, vad) if len(part) else []
        if not speech:
            return
        chunks, metas = collect_chunks(part, speech, max_duration=CHUNK_S)
        ts_map = SpeechTimestampsMap(speech, SAMPLE_RATE)
        if not chunks:
            return
        model = self.model

        def chunk(i: int, cut: float = 0.0) -> _Chunk:
            """Chunk i from `cut` seconds on (0: the whole VAD chunk; more: a continuation)."""
            samples = chunks[i][round(cut * SAMPLE_RATE) :]
            feats = np.asarray(pad_or_trim(model.feature_extractor(samples)[..., :-1]))
            return _Chunk(feats, float(metas[i]["offset"]) + cut, len(samples) / SAMPLE_RATE)

        if self.info is None:
            self.start(chunk(0))
        batcher, key, context, job_id = self.batcher, self.key, self.context, self.job_id
        window = max(1, self.settings.max_batch_size)  # chunks in flight: bounds feature memory
        # (chunk, where in it, continuations so far, ticket), in stream order
        tickets: deque[tuple[int, float, int, Ticket]] = deque()
        nxt = 0
        while nxt < len(chunks) or tickets:
            # The job's first chunk goes alone so the first segment comes back after
            # one chunk's decode; then up to a batch's worth stay in flight.
            limit = window if self.ramped else 1
            while nxt < len(chunks) and len(tickets) < limit:
                tickets.append((nxt, 0.0, 0, batcher.submit(job_id, key, context, chunk(nxt))))
                nxt += 1
            index, cut, tries, ticket = tickets.popleft()
            while not ticket.wait(0.05):
                if self.should_cancel():
                    raise TranscriptionCancelled(job_id)
            self.ramped = True
            result: ChunkResult = ticket.result()
            for raw in result.segments:
                segment = _to_segment(raw, ts_map, piece.start_s, self.seg_id)
                self.seg_id += 1
                self.segments.append(segment)
                self.emit(SegmentAdded(job_id, segment))
                done = min(segment.end, self.total_s)
                self.emit(
                    Progress(job_id, round(done / self.total_s, 4) if self.total_s else 1.0, done)
                )
                if self.should_cancel():
                    raise TranscriptionCancelled(job_id)
            rest = continuation(len(chunks[index]) / SAMPLE_RATE, cut, result.resume_at, tries)
            if rest is not None:
                # The model stopped early (as at a window's end in sequential mode):
                # the rest of this chunk goes again, ahead of the job's later chunks.
                again = batcher.submit(job_id, key, context, chunk(index, rest), front=True)
                tickets.appendleft((index, rest, tries + 1, again))


def continuation(piece_s: float, cut: float, resume_at: float | None, tries: int) -> float | None:
    """Where to decode a chunk again (seconds into the VAD piece), or None: the model
    stopped `resume_at` seconds into the part that started at `cut`. Not for a rest too
    short to hold a word, no progress, or after MAX_CONTINUATIONS of one chunk."""
    if resume_at is None or resume_at <= 0 or tries >= MAX_CONTINUATIONS:
        return None
    rest = cut + resume_at
    return rest if piece_s - rest >= MIN_CONTINUATION_S else None


def _to_segment(raw: dict[str, Any], ts_map: Any, offset: float, seg_id: int) -> Segment:
    """A decoded segment dict, mapped from speech time back to file time (as
    faster-whisper's restore_speech_timestamps does) and shifted by the resume offset."""
    raw_words = raw.get("words") or []
    words: list[Word] = []
    if raw_words:
        for w in raw_words:
            index = ts_map.get_chunk_index((w["start"] + w["end"]) / 2)
            words.append(
                Word(
                    start=round(ts_map.get_original_time(w["start"], index) + offset, 3),
                    end=round(ts_map.get_original_time(w["end"], index) + offset, 3),
                    word=w["word"],
                    probability=float(w["probability"]),
                )
            )
        start, end = words[0].start, words[-1].end
    else:
        start = round(ts_map.get_original_time(raw["start"]) + offset, 3)
        end = round(ts_map.get_original_time(raw["end"], is_end=True) + offset, 3)
    return Segment(
        id=seg_id,
        start=start,
        end=end,
        text=raw["text"],
        words=tuple(words),
        avg_logprob=float(raw["avg_logprob"]),
        no_speech_prob=float(raw["no_speech_prob"]),
    )
