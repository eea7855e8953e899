"""Speech data for Whisper: espeak-ng synthesis, the `synthetic-speech` corpus, audio datasets, log-mel features.

    from asymprune.speech import SpeechCorpusConfig, input_features, load_speech_dataset, synthetic_speech
    splits = synthetic_speech(SpeechCorpusConfig(train=4000))      # {'train': [SpeechRow, ...], ...}
    splits = load_speech_dataset("my_audiofolder/")                 # audiofolder, or JSONL/CSV rows
    feats = input_features([row.read() for row in splits["test"][:8]])   # (8, 80, 3000) log-mel
    inputs = SpeechInputs([row.audio for row in rows], extractor, labels)  # a split's model inputs, made lazily

Each split is a list of `SpeechRow`s (id, text, audio file, where, duration, info); `row.read()`
gives 16 kHz mono float32. The audio libraries (soundfile, soxr, transformers) load only when used.
"""

from .audio import SpeechRow, check_audio, read_audio
from .corpus import SpeechCorpusConfig, synthetic_speech
from .features import feature_batches, feature_extractor, input_features
from .inputs import SpeechCollator, SpeechInputs
from .readers import SpeechDataConfig, load_speech_dataset
from .synth import Synthesizer, english_voices, synthesize

__all__ = ["SpeechRow", "check_audio", "read_audio", "SpeechCorpusConfig", "synthetic_speech", "feature_batches",
           "feature_extractor", "input_features", "SpeechCollator", "SpeechInputs", "SpeechDataConfig",
           "load_speech_dataset", "Synthesizer", "english_voices", "synthesize"]
