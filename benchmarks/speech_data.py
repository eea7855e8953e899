"""What speech data costs on this machine: synthesis, reading back, log-mel features, a cached reload.

    python benchmarks/speech_data.py                 # 240 utterances into a fresh temporary cache
    python benchmarks/speech_data.py --n 480 --threads 2

Builds a `synthetic-speech` corpus of N training utterances (default voices and rates) with 1 and
then 2 synthesis workers, each into its own fresh cache, then times reading every clip back
(FLAC decode to 16 kHz float32), WhisperFeatureExtractor at batch 8 on `--threads` torch
threads, and a reload of the complete corpus (manifest + checksum of every file). Prints the
load average beside the numbers: the machine is shared, and per-utterance costs scale with it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=240, help="training utterances to make")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the features")
    args = parser.parse_args()

    import torch

    from asymprune.speech import SpeechCorpusConfig, feature_batches, synthetic_speech
    torch.set_num_threads(args.threads)
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            config = SpeechCorpusConfig(train=args.n, validation=0, test=0, cache_dir=Path(tmp) / f"w{workers}",
                                        workers=workers)
            start = time.perf_counter()
            rows = synthetic_speech(config)["train"]
            took = time.perf_counter() - start
            audio_s = sum(r.duration for r in rows)
            print(f"synthesis, {workers} worker(s): {1000 * took / len(rows):.1f} ms an utterance "
                  f"(mean clip {audio_s / len(rows):.2f} s; {len(rows)} in {took:.1f} s)")
        start = time.perf_counter()
        synthetic_speech(config)
        print(f"reload of the complete corpus: {1000 * (time.perf_counter() - start) / len(rows):.2f} ms an utterance")
        start = time.perf_counter()
        clips = [r.read() for r in rows]
        print(f"read back (FLAC -> 16 kHz float32): {1000 * (time.perf_counter() - start) / len(clips):.2f} ms an "
              "utterance")
        start = time.perf_counter()
        for _ in feature_batches(rows, batch_size=8):
            pass
        print(f"log-mel features (30 s windows, batch 8, {args.threads} threads, read included): "
              f"{1000 * (time.perf_counter() - start) / len(rows):.1f} ms an utterance")
        size = sum(r.audio.stat().st_size for r in rows)
        print(f"cache: {size / len(rows) / 1000:.0f} kB an utterance")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
