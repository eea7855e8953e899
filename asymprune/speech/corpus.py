"""`synthetic-speech`: generated English sentences spoken by espeak-ng, made once and cached.

    splits = synthetic_speech()                                  # {'train': 4000, 'validation': 200, 'test': 400 rows}
    splits = synthetic_speech(SpeechCorpusConfig(train=800, test=120, voices=("en-us", "en-gb-x-rp")))
    row = splits["test"][0]   # SpeechRow(id='test-00000', text=..., audio=.../x.flac, duration=3.9,
                              #           info={'voice': 'en-us', 'rate': 130})

Each split draws its sentences from its own seeded stream (`"{seed}:{split}"`), so the
validation and test rows do not change when the train size does, and no sentence of validation
or test appears in train. Utterance i of a split is spoken by voice i mod V at rate
(i div V) mod R, so every prefix of a split is balanced across voices and speeds.

Sizes (defaults): a re-tune of Whisper needs thousands of distinct training utterances (training
loss reaches ~0.05 on 800 in 200 steps, and more steps then do not help), and a test set of a
few hundred utterances (~5,000 words at 400) gives WER intervals of about a point.
On 2 busy cores synthesis costs 13-20 ms an utterance (2 workers), reading it back 3 ms; log-mel
features (70-105 ms) are not cached here (benchmarks/speech_data.py).

The cache (see `cache.py`) holds one FLAC per utterance, shared by every corpus that speaks the
same sentence with the same voice and rate, and per corpus a manifest folder with one JSON
Lines file per split and `corpus.json`, written last, which makes the corpus complete. A
complete corpus is checked on every load (each file's sha256 against the manifest): a damaged
file or manifest is one line naming it, never re-used, never silently replaced.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from queue import Queue
from typing import Callable

from ..errors import UsageError, first_line
from ..fsutil import atomic_file, write_json
from .audio import SAMPLE_RATE, SpeechRow
from .cache import (CACHE_FORMAT, cache_root, digest, file_sha256, utterance_key, utterance_path, verify_utterance,
                    write_utterance)
from .sentences import GENERATOR, sentences
from .synth import MAX_RATE, MIN_RATE, Synthesizer, shared_synthesizer

# American (a female variant too), British (a male variant too), RP and New York. Left out:
# en-gb-scotland and en-029, which the full tiny.en mishears at 51% and 64% WER against 30-44% for
# these (240 test utterances, benchmarks/speech_voices.py): they would add noise to every comparison.
DEFAULT_VOICES = ("en-us", "en-us+f3", "en", "en+m3", "en-gb-x-rp", "en-us-nyc")
DEFAULT_RATES = (130, 155, 180)  # words per minute: slow, espeak-like, brisk
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SpeechCorpusConfig:
    train: int = 4000                           # training utterances
    validation: int = 200                       # validation utterances
    test: int = 400                             # test utterances: ~5,000 words, WER intervals of about a point
    seed: int = 0                               # sentences and splits; the same seed gives the same corpus
    voices: tuple[str, ...] = DEFAULT_VOICES    # espeak-ng voices, NAME or NAME+VARIANT
    rates: tuple[int, ...] = DEFAULT_RATES      # speaking rates, words per minute
    cache_dir: Path | None = field(default=None, compare=False)  # None: cache_root()
    workers: int | None = field(default=None, compare=False)     # synthesis processes; None: up to 4, one per CPU


def _check(config: SpeechCorpusConfig) -> None:
    for split in SPLITS:
        if getattr(config, split) < 0:
            raise UsageError(f"synthetic-speech: {split} size {getattr(config, split)} is negative; pass 0 or more")
    if config.train + config.validation + config.test == 0:
        raise UsageError("synthetic-speech: every split has size 0; ask for some utterances")
    if not config.voices or not config.rates:
        raise UsageError("synthetic-speech needs at least one voice and one rate")
    synth = shared_synthesizer()
    for voice in config.voices:
        synth.check_voice(voice)
    for rate in config.rates:
        if not MIN_RATE <= rate <= MAX_RATE:
            raise UsageError(f"synthetic-speech: rate {rate} is out of range; espeak-ng takes {MIN_RATE} to "
                             f"{MAX_RATE} words per minute")


def plan(config: SpeechCorpusConfig) -> dict[str, list[dict]]:
    """split -> [{id, text, voice, rate}]: what the corpus speaks, before any audio exists."""
    held_out: set[str] = set()
    texts = {}
    for split in ("test", "validation", "train"):  # evaluation first: train then avoids their sentences
        texts[split] = sentences(getattr(config, split), seed=f"{config.seed}:{split}", exclude=held_out)
        held_out |= set(texts[split])
    nv = len(config.voices)
    return {split: [{"id": f"{split}-{i:05d}", "text": text, "voice": config.voices[i % nv],
                     "rate": config.rates[(i // nv) % len(config.rates)]} for i, text in enumerate(texts[split])]
            for split in SPLITS}


def corpus_dir(config: SpeechCorpusConfig, espeak_version: str) -> Path:
    key = digest({"format": CACHE_FORMAT, "generator": GENERATOR, "espeak": espeak_version,
                  **{k: v for k, v in asdict(config).items() if k not in ("cache_dir", "workers")}})
    return Path(config.cache_dir or cache_root()) / "speech" / "corpora" / key[:20]


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"{what} {path} is damaged ({first_line(e, typed=True)}); "
                         f"delete {path.parent} and run again to re-make it") from None


def _load_complete(folder: Path, root: Path) -> dict[str, list[SpeechRow]] | None:
    """The corpus in `folder` if its manifest is complete and every file is there; None to (re-)make it."""
    if not (folder / "corpus.json").exists():
        return None
    index = _read_json(folder / "corpus.json", "synthetic-speech manifest")
    if not isinstance(index, dict) or not isinstance(index.get("splits"), dict):
        raise UsageError(f"synthetic-speech manifest {folder / 'corpus.json'} is damaged (no splits); "
                         f"delete {folder} and run again to re-make it")
    splits = {}
    for split, entry in index["splits"].items():
        manifest = folder / entry["file"]
        if not manifest.exists() or file_sha256(manifest) != entry["sha256"]:
            raise UsageError(f"synthetic-speech manifest {manifest} is missing or damaged (its checksum differs "
                             f"from corpus.json); delete {folder} and run again to re-make it")
        rows = []
        for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
            r = json.loads(line)
            audio = root / r["audio"]
            if not audio.exists():
                return None  # absent, not damaged: the build makes it again, byte for byte
            if file_sha256(audio) != r["sha256"]:
                raise UsageError(f"cached audio {audio} is damaged (its checksum differs from {manifest} line "
                                 f"{number}); delete it and run again to re-make it")
            rows.append(SpeechRow(r["id"], r["text"], audio, f"{manifest} line {number}", r["duration"],
                                  {"voice": r["voice"], "rate": r["rate"]}))
        splits[split] = rows
    return splits


def _make_one(pool: Queue, root: Path, version: str, item: dict) -> dict:
    path = utterance_path(root, utterance_key(item["text"], item["voice"], item["rate"], version))
    if path.exists():
        frames = verify_utterance(path)  # made by an earlier corpus: trusted only if its samples check out
    else:
        synth = pool.get()
        try:
            audio = synth.synthesize(item["text"], item["voice"], item["rate"])
        finally:
            pool.put(synth)
        write_utterance(path, audio)
        frames = len(audio)
    return {**item, "duration": round(frames / SAMPLE_RATE, 4), "audio": str(path.relative_to(root)),
            "sha256": file_sha256(path)}


def synthetic_speech(config: SpeechCorpusConfig | None = None,
                     progress: Callable[[int, int], None] | None = None) -> dict[str, list[SpeechRow]]:
    """train/validation/test `SpeechRow`s of the synthetic corpus, made on first use and then read from the cache.

    `progress(done, total)` is called as utterances are made (not when the corpus is already cached).
    """
    config = config or SpeechCorpusConfig()
    _check(config)
    version = shared_synthesizer().info().version
    root = Path(config.cache_dir or cache_root())
    folder = corpus_dir(config, version)
    if (done := _load_complete(folder, root)) is not None:
        return done
    planned = plan(config)
    items = [item for split in SPLITS for item in planned[split]]
    workers = max(1, config.workers or min(4, os.cpu_count() or 1))
    pool: Queue = Queue()
    synths = [Synthesizer() for _ in range(workers)]
    for s in synths:
        pool.put(s)
    made = []
    try:
        with ThreadPoolExecutor(workers) as ex:
            for record in ex.map(lambda item: _make_one(pool, root, version, item), items):
                made.append(record)
                if progress:
                    progress(len(made), len(items))
    finally:
        for s in synths:
            s.close()
    folder.mkdir(parents=True, exist_ok=True)
    index, start = {"format": CACHE_FORMAT, "espeak": version, "config": {
        k: v for k, v in asdict(config).items() if k not in ("cache_dir", "workers")}, "splits": {}}, 0
    for split in SPLITS:
        records, start = made[start:start + len(planned[split])], start + len(planned[split])
        write_lines(folder / f"{split}.jsonl", records)
        index["splits"][split] = {"file": f"{split}.jsonl", "rows": len(records),
                                  "sha256": file_sha256(folder / f"{split}.jsonl")}
    write_json(folder / "corpus.json", index)  # last: its presence means the corpus is complete
    return _load_complete(folder, root)


def write_lines(path: Path, records: list[dict]) -> None:
    with atomic_file(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
