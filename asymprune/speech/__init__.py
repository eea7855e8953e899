"""Speech data for Whisper: espeak-ng synthesis, the `synthetic-speech` corpus, audio datasets, log-mel features.

    from asymprune.speech import synthesize, synthetic_speech, load_speech_dataset, input_features
    splits = synthetic_speech(SpeechCorpusConfig(train=4000))     # {'train': [SpeechRow, ...], ...}
    splits = load_speech_dataset("my_audiofolder/")                # audiofolder, or JSONL/CSV rows
    feats = input_features([row.read() for row in splits["test"][:8]])   # (8, 80, 3000) log-mel

The package imports its modules lazily: importing it loads no audio library.
"""
