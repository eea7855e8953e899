"""The CTranslate2 classes that run a converted model, one registered entry each; a family names its own.

    runtime = runtime_for(config)                         # the entry of the family's `ct2_runtime` ("Translator")
    model = runtime(ct2_dir, device="cpu", compute_type="int8", threads=2)
    batch = model.inputs(encoded)                         # what the runtime takes, from a family's model inputs
    lengths = model.generate(batch, new_tokens=32, fixed=True)
    runtime.check("runs/pruned", ct2_dir)                 # greedy tokens and log-probs against transformers

Adding a runtime is one `@register_runtime` class with these methods (`Whisper`, for `ctranslate2.models.Whisper`,
is in whisper_runtime.py).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..models import family_for

RUNTIMES: dict[str, type["Runtime"]] = {}


def vocabulary(ct2_dir: Path) -> list[str]:
    """The token strings of a converted model, indexed by id."""
    import json
    # Translator models have a shared or a target vocabulary; Whisper (and other single-vocabulary models) one
    for name in ("shared_vocabulary.json", "target_vocabulary.json", "vocabulary.json"):
        if (ct2_dir / name).is_file():
            return json.loads((ct2_dir / name).read_text())
    for name in ("shared_vocabulary.txt", "target_vocabulary.txt", "vocabulary.txt"):
        if (ct2_dir / name).is_file():
            return (ct2_dir / name).read_text(encoding="utf-8").split("\n")[:-1]
    raise UsageError(f"{ct2_dir} has no vocabulary file; delete it and convert again")


def register_runtime(cls):
    """Class decorator: the runtime a family names in `Family.ct2_runtime`."""
    RUNTIMES[cls.name] = cls
    return cls


def runtime_for(config) -> type["Runtime"]:
    name = family_for(config).ct2_runtime
    if name not in RUNTIMES:
        raise UsageError(f"CTranslate2 has no runtime '{name}' registered for '{config.model_type}' models; "
                         f"known: {', '.join(RUNTIMES)}")
    return RUNTIMES[name]


class Runtime:
    """One converted model loaded in a CTranslate2 class."""

    name: str

    def __init__(self, ct2_dir: Path, *, device: str = "cpu", compute_type: str = "default", threads: int = 1):
        raise NotImplementedError

    def inputs(self, encoded: dict):
        """One batch as the runtime takes it, from the family's model inputs (a dict of tensors)."""
        raise NotImplementedError

    def width(self, batch) -> int:
        """The longest source of a batch."""
        raise NotImplementedError

    def generate(self, batch, new_tokens: int, fixed: bool) -> list[int]:
        """Greedy generation: tokens generated per sequence, end-of-sequence included (`fixed`: exactly `new_tokens`).
        The counts are what the runtime really returned, not what was asked for: per-token figures divide by them."""
        raise NotImplementedError

    @classmethod
    def max_new_tokens(cls) -> int | None:
        """The most tokens one generation may produce in this runtime, or None: no limit of its own."""
        return None

    @classmethod
    def check(cls, model_dir: str | Path, ct2_dir: Path, length: int = 12, seed: int = 0) -> dict:
        """The conversion against transformers, both float32: {"tokens_match", "scores_match", ...}."""
        raise NotImplementedError


@register_runtime
class Translator(Runtime):
    """Text encoder-decoders: `ctranslate2.Translator`, fed token strings."""

    name = "Translator"

    def __init__(self, ct2_dir, *, device="cpu", compute_type="default", threads=1):
        import ctranslate2
        self.vocab = vocabulary(Path(ct2_dir))
        self.translator = ctranslate2.Translator(str(ct2_dir), device=device, compute_type=compute_type,
                                                 intra_threads=threads, inter_threads=1)

    def inputs(self, encoded):
        return [[self.vocab[i] for i, m in zip(row, mrow) if m]
                for row, mrow in zip(encoded["input_ids"].tolist(), encoded["attention_mask"].tolist())]

    def width(self, batch):
        return max(map(len, batch))

    def generate(self, batch, new_tokens, fixed):
        out = self.translator.translate_batch(batch, beam_size=1, max_decoding_length=new_tokens,
                                              min_decoding_length=new_tokens if fixed else 1)
        # CTranslate2 leaves out the end-of-sequence token that transformers counts, except at the length cap.
        return [len(r.hypotheses[0]) + (0 if fixed or len(r.hypotheses[0]) == new_tokens else 1) for r in out]

    @classmethod
    def check(cls, model_dir, ct2_dir, length=12, seed=0):
        import ctranslate2
        import torch

        from ..models import load_model
        model = load_model(str(model_dir), dtype=torch.float32)
        vocab = vocabulary(Path(ct2_dir))
        gen = torch.Generator().manual_seed(seed)
        src = torch.randint(5, min(len(vocab), model.config.vocab_size), (1, 15), generator=gen).tolist()[0]
        src = src + [model.config.eos_token_id]
        with torch.inference_mode():
            # One token more than compared: BART forces EOS at max length, CTranslate2 does not.
            hf = model.generate(torch.tensor([src]), max_new_tokens=length + 1, min_new_tokens=length + 1,
                                do_sample=False, num_beams=1, output_logits=True, return_dict_in_generate=True)
            hf_ids = hf.sequences[0, 1:length + 1].tolist()  # drop the decoder start token
            # Raw logits: the processed scores are renormalised without EOS (min_new_tokens).
            hf_logp = [torch.log_softmax(s[0].float(), -1)[t].item() for s, t in zip(hf.logits, hf_ids)]
        translator = ctranslate2.Translator(str(ct2_dir), device="cpu", compute_type="float32")
        result = translator.translate_batch([[vocab[i] for i in src]], beam_size=1, max_decoding_length=length,
                                            min_decoding_length=length)
        ct2_ids = [vocab.index(t) for t in result[0].hypotheses[0]]
        scored = translator.score_batch([[vocab[i] for i in src]], [[vocab[i] for i in hf_ids]])
        ct2_logp = scored[0].log_probs[: len(hf_ids)]
        diff = max(abs(a - b) for a, b in zip(hf_logp, ct2_logp))
        return {"tokens_match": ct2_ids == hf_ids, "hf_tokens": hf_ids, "ct2_tokens": ct2_ids,
                "max_logprob_diff": diff, "scores_match": diff < 1e-3}


def compare_with_hf(model_dir: str | Path, ct2_dir: Path, length: int = 12, seed: int = 0) -> dict:
    """Greedy tokens and per-token log-probs of HF float32 vs CTranslate2 float32 on a short input,
    by the runtime of the model's family."""
    from ..models import load_config
    return runtime_for(load_config(str(model_dir))).check(model_dir, ct2_dir, length, seed)
