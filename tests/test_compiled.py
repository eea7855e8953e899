"""The compiled path (`--compile`): a static cache and torch.compile give the eager path's tokens."""

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, GenerationConfig

from asymprune.compiled import check_compile, compiled_generation_config
from asymprune.errors import UsageError
from tests.helpers import run_cli


def _setup(model_dir, new=8):
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir).eval()
    ids = torch.randint(5, 400, (2, 16), generator=torch.Generator().manual_seed(0))
    ids[:, -1] = model.config.eos_token_id
    gen = GenerationConfig(max_new_tokens=new, min_new_tokens=new, do_sample=False, num_beams=1,
                           decoder_start_token_id=model.config.decoder_start_token_id,
                           eos_token_id=model.config.eos_token_id, pad_token_id=model.config.pad_token_id)
    return model, ids, gen


@pytest.mark.parametrize("family", ["t5", "bart"])
def test_static_cache_gives_the_eager_tokens(family, t5_dir, bart_dir):
    # The compiled path's cache, with compilation switched off: fast, and isolates the cache.
    model, ids, gen = _setup(t5_dir if family == "t5" else bart_dir)
    static = compiled_generation_config(gen, "cpu")
    assert static.cache_implementation == "static" and static.compile_config._compile_all_devices
    static.disable_compile = True
    with torch.inference_mode():
        assert torch.equal(model.generate(input_ids=ids, generation_config=gen),
                           model.generate(input_ids=ids, generation_config=static))


@pytest.mark.slow  # compiling takes about a minute per family on 2 cores
@pytest.mark.parametrize("family", ["t5", "bart"])
def test_compiled_generation_gives_the_eager_tokens(family, t5_dir, bart_dir):
    model, ids, gen = _setup(t5_dir if family == "t5" else bart_dir)
    compiled = compiled_generation_config(gen, "cpu")
    with torch.inference_mode():
        eager = model.generate(input_ids=ids, generation_config=gen)
        for _ in range(2):  # the first call compiles, the second reuses the compiled step
            assert torch.equal(model.generate(input_ids=ids, generation_config=compiled), eager)
    assert hasattr(model, "_compiled_call")  # the decoding steps really went through torch.compile


def test_compile_checks(t5_dir, capsys):
    from asymprune.models import load_config
    config = load_config(str(t5_dir))
    check_compile(config)
    for kwargs, message in ((dict(assistant="d"), "--compile and --assistant cannot be combined"),
                            (dict(num_beams=4), "greedy decoding only")):
        with pytest.raises(UsageError, match=message):
            check_compile(config, **kwargs)
    code = run_cli(["bench", str(t5_dir), "--compile", "--backend", "ct2", "--batch-sizes", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--compile is for the hf backend" in err


@pytest.mark.slow
def test_bench_and_generate_compile(t5_dir, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert run_cli(["bench", str(t5_dir), "--compile", "--batch-sizes", "1", "--source-length", "16",
                    "--new-tokens", "6", "--runs", "1", "--warmup", "1", "--json", str(out)]) == 0
    import json
    report = json.loads(out.read_text())
    row = report["results"][0]
    assert report["config"]["compile"] is True and row["generated_tokens_mean"] == 6
    assert row["tokens_equal_eager"] is True and row["tokens_first_difference"] is None  # checked in the run
    args = ["generate", str(t5_dir), "--max-new-tokens", "6", "--show-ids"]
    assert run_cli(args) == 0
    eager = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ids: ")]
    assert run_cli([*args, "--compile"]) == 0
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("ids: ")] == eager


def test_compare_tokens_finds_the_first_difference():
    from asymprune.bench.describe import token_check_warnings
    from asymprune.compiled import compare_tokens
    assert compare_tokens([[5, 6, 7], [8, 9]], [[5, 6, 7], [8, 9]]) == {"tokens_equal_eager": True,
                                                                         "tokens_first_difference": None}
    assert compare_tokens([[5, 6, 7], [8, 4, 3]], [[5, 6, 2], [8, 9, 3]])["tokens_first_difference"] == 1
    assert compare_tokens([[5, 6]], [[5, 6, 7]]) == {"tokens_equal_eager": False, "tokens_first_difference": 2}
    rows = [{"model": "m", "batch_size": 8, "tokens_equal_eager": False, "tokens_first_difference": 3},
            {"model": "m", "batch_size": 1, "tokens_equal_eager": True, "tokens_first_difference": None},
            {"model": "e", "batch_size": 1}]
    assert [w.split(":")[0] for w in token_check_warnings({"results": rows})] == ["m bs8"]
