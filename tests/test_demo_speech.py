"""`asymprune demo --speech`: the real tiny.en, distil-whisper's recipe, WER against the control."""

import shutil

import pytest

from asymprune.sweep import build_plan, bench_groups, demo_spec
from tests.helpers import run_cli, run_cli_subprocess


def test_speech_demo_plan(tiny_en, tmp_path):
    """The speech demo's sweep: tiny.en, its control and the five variants, each re-tuned decoder-only with KD
    from the full model on its transcripts, scored with WER, benched together at batch 1 and 8."""
    out = tmp_path / "demo"
    out.mkdir()
    shutil.copytree(tiny_en, out / "whisper-tiny.en")  # what run_demo imports first
    spec = demo_spec(out, speech=True)
    chains = build_plan(spec)
    assert [c.variant for c in chains] == ["4L/4L", "control", "4L/3L", "4L/2L", "4L/1L", "2L/4L", "2L/2L"]
    assert chains[0].run_fields["decoder_total"] == 4 and chains[0].stages[0].name == "evaluate"  # no base fine-tune
    kept = {c.variant: c.run_fields["kept"] for c in chains[2:]}
    assert kept["4L/2L"] == {"encoder": [0, 1, 2, 3], "decoder": [0, 3]}  # spread keeps the first and the last
    for chain in chains[1:]:
        train = next(s for s in chain.stages if s.name == "train").inputs["train"]
        assert train["distill_from"] == f"src:{out / 'whisper-tiny.en'}"  # the full model, not the stage's input
        assert train["freeze_encoder"] and train["freeze_embeddings"] and train["pseudo_labels"]
    (group,) = bench_groups(spec, chains)
    assert group.inputs["bench"]["batch_sizes"] == [1, 8]


def test_speech_demo_refuses_from_scratch(tmp_path, capsys):
    assert run_cli(["demo", "--speech", "--from-scratch", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "drop one of the flags" in err
    assert not (tmp_path / "d").exists()


@pytest.mark.speech_demo  # not in `make test-slow` until its time on CI's 2 cores is measured (README)
def test_speech_demo_end_to_end(tmp_path):
    """The whole speech demo as a user runs it (its own process: torch's thread settings are its own)."""
    out = tmp_path / "demo-speech"
    done = run_cli_subprocess(["demo", "--speech", "--out", str(out)])
    assert done.returncode == 0, done.stderr[-2000:]
    assert "recommendation: " in done.stdout
    md = (out / "report" / "report.md").read_text()
    assert "WER" in md and "| control | control |" in md and "95% CI" in md and "speed-up BS1" in md
    executed = (out / "executions.jsonl").read_text()
    again = run_cli_subprocess(["demo", "--speech", "--out", str(out)])
    assert again.returncode == 0 and (out / "executions.jsonl").read_text() == executed  # nothing ran twice
