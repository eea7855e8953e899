"""`evaluate` on the real tiny.en: encoder outputs cached on disk and reused give the same transcripts."""

from __future__ import annotations

import pytest

from asymprune.evaluate import EvalConfig, evaluate

TEXTS = ("The quick brown fox jumps over the lazy dog.", "What time is it?")


@pytest.fixture(scope="module")
def audiofolder(tmp_path_factory):
    import soundfile as sf

    from tests.speech import SAMPLE_RATE, speak_fresh
    folder = tmp_path_factory.mktemp("clips")
    (folder / "test").mkdir()
    for i, audio in enumerate(speak_fresh(list(TEXTS))):
        sf.write(folder / "test" / f"clip{i}.wav", audio, SAMPLE_RATE)
    (folder / "metadata.csv").write_text("file_name,text\n" + "".join(
        f"test/clip{i}.wav,{text}\n" for i, text in enumerate(TEXTS)))
    return folder


def test_cached_encoder_outputs_give_the_same_transcripts_and_are_computed_once(tiny_en, audiofolder, tmp_path,
                                                                                monkeypatch):
    monkeypatch.setenv("ASYMPRUNE_CACHE", str(tmp_path / "cache"))

    def run(cached):
        return evaluate(str(tiny_en), str(audiofolder), EvalConfig(batch_size=2, max_new_tokens=32,
                                                                   encoder_cache=cached))
    plain, first, second = run(False), run(True), run(True)
    predictions = [[p["prediction"] for p in r["predictions"]] for r in (plain, first, second)]
    assert predictions[0] == predictions[1] == predictions[2] and len(predictions[0]) == 2
    assert "What time is it?" in predictions[0]
    assert first["metrics"]["wer"] == plain["metrics"]["wer"] and first["metrics"]["gen_len"] == plain["metrics"]["gen_len"]
    assert "encoder_cache" not in plain["metrics"]
    assert (first["metrics"]["encoder_cache"]["encoded"], second["metrics"]["encoder_cache"]["encoded"]) == (2, 0)
    assert first["metrics"]["encoder_cache"]["folder"].startswith(str(tmp_path / "cache"))


def test_text_models_ignore_the_encoder_cache(t5_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ASYMPRUNE_CACHE", str(tmp_path / "cache"))
    result = evaluate(str(t5_dir), "synthetic", EvalConfig(max_samples=4, max_new_tokens=8, encoder_cache=True))
    assert "encoder_cache" not in result["metrics"] and len(result["predictions"]) == 4
    assert not (tmp_path / "cache" / "distil").exists()
