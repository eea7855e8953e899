"""The seams hold: a family, a metric (with a dataset kind naming it) and a backend, registered from
outside the package, run through prune, a sweep (train, evaluate, bench), its results.db and the report.

The entries are the README's "Extending" examples, executed as written: the code a user copies is
the code tested. They reach the bench's worker processes the way a user's would, through
ASYMPRUNE_PLUGINS.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_cli

README = Path(__file__).resolve().parent.parent / "README.md"
MODULE = "readme_extending"


def readme_examples() -> list[str]:
    section = README.read_text(encoding="utf-8").split("\n## Extending\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The README's examples as one module named by ASYMPRUNE_PLUGINS; the registries restored after."""
    from asymprune import plugins
    from asymprune.bench.backends import BACKENDS
    from asymprune.data import DATASETS
    from asymprune.metrics import METRICS
    from asymprune.models.families import FAMILIES
    registries = [FAMILIES, BACKENDS, METRICS, DATASETS]
    before = [dict(r) for r in registries]
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / f"{MODULE}.py").write_text("\n\n".join(readme_examples()))
    monkeypatch.syspath_prepend(str(tmp_path / "plugin"))  # spawned bench workers inherit sys.path
    monkeypatch.setenv(plugins.ENV, MODULE)
    yield
    for registry, saved in zip(registries, before):
        registry.clear()
        registry.update(saved)
    plugins._loaded.discard(MODULE)
    sys.modules.pop(MODULE, None)


def test_each_readme_example_is_under_30_lines():
    examples = readme_examples()
    assert len(examples) == 3
    assert all(len(code.strip().splitlines()) < 30 for code in examples)


def m2m100_folder(t5_dir: Path, out: Path) -> Path:
    """A tiny random M2M100 (a model type asymprune does not know) with t5-tiny's tokenizer."""
    from transformers import AutoTokenizer, M2M100Config, M2M100ForConditionalGeneration
    tokenizer = AutoTokenizer.from_pretrained(t5_dir)
    config = M2M100Config(vocab_size=len(tokenizer), d_model=64, encoder_layers=2, decoder_layers=2,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128,
                          decoder_ffn_dim=128, max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
                          eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.pad_token_id,
                          decoder_start_token_id=tokenizer.pad_token_id, forced_bos_token_id=None)
    import torch
    torch.manual_seed(0)
    M2M100ForConditionalGeneration(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_an_outside_family_metric_and_backend_run_end_to_end(plugin, t5_dir, tmp_path, capsys):
    model = m2m100_folder(t5_dir, tmp_path / "m2m")
    assert run_cli(["prune", str(model), str(tmp_path / "p"), "--decoder-layers", "1"]) == 0
    assert json.loads((tmp_path / "p" / "config.json").read_text())["decoder_layers"] == 1

    spec = {"output_dir": str(tmp_path / "out"), "models": [str(model)], "datasets": ["synthetic-em"],
            "grid": [{"encoder": 2, "decoder": 2}, {"encoder": 2, "decoder": 1}], "control": False, "data": {"n": 32},
            "train": {"max_steps": 2, "batch_size": 8, "per_device_batch_size": 8, "eval_steps": 2,
                      "eval_samples": 4, "learning_rate": 1e-3, "max_source_length": 64, "max_target_length": 16},
            "evaluate": {"max_samples": 4, "max_new_tokens": 4, "batch_size": 4, "max_source_length": 64},
            "bench": {"backend": "hf-qint8", "batch_sizes": [1], "source_length": 16, "new_tokens": 3, "runs": 1,
                      "warmup": 0}}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    assert run_cli(["sweep", str(tmp_path / "spec.yaml")]) == 0

    db = sqlite3.connect(tmp_path / "out" / "results.db")
    metrics = {m for (m,) in db.execute("SELECT DISTINCT metric FROM metrics")}
    assert "exact_match" in metrics and "rouge2" not in metrics
    setups = set(db.execute("SELECT DISTINCT backend, dtype FROM latency"))
    assert setups == {("hf-qint8", "qint8-dynamic")}
    capsys.readouterr()
    assert run_cli(["report", str(tmp_path / "out" / "results.db"), "--out", str(tmp_path / "report")]) == 0
    shown = capsys.readouterr().out
    assert "exact match" in shown and "2L/1L" in shown
