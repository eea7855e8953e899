"""The `hf` backend: transformers `generate()` in torch, at a dtype, optionally compiled or assisted by a draft."""

from __future__ import annotations

import copy

from ...errors import UsageError
from .base import Backend, Precision, Runner, Setup, register_backend, rss_mb, sample_peak

BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def explicit_generation_config(model):
    """Greedy decoding with the model's start, end and pad ids (its family's decoder prompt) and nothing else from
    its checkpoint (`Family.greedy_generation_config`).

    generate() fills every unset field from `model.generation_config`, so the bench replaces that
    config instead of passing one beside it: bart-large-cnn's beams and no_repeat_ngram_size, or
    PEGASUS's forced EOS, would otherwise make HF time other work than CTranslate2 does.
    """
    from ...models import family_for
    return family_for(model.config).greedy_generation_config(model)


@register_backend
class HfBackend(Backend):
    name = "hf"
    title = "transformers"
    assisted = True

    def check_model(self, src, config, setup, cfg):
        if setup.compile:
            from ...compiled import check_compile
            drafts = cfg.assistant_entries()
            check_compile(config, device=cfg.device, assistant=drafts[0][0] if drafts else None)
        if setup.draft_vocab:
            from ...assist import check_draft_vocab
            check_draft_vocab(setup.draft_vocab, config)

    def label(self, setup: Setup) -> str:
        return setup.dtype

    def describe(self, setup: Setup) -> str:
        head = f", domain head {setup.draft_vocab}" if setup.draft_vocab else ""
        return f"{self.name} {self.label(setup)}" + (" compiled" if setup.compile else "") + head

    def precision(self, setup: Setup) -> Precision:
        if setup.dtype not in BYTES:
            raise UsageError(f"unknown dtype '{setup.dtype}'; choose one of: {', '.join(BYTES)}")
        n = BYTES[setup.dtype]
        return Precision(f"hf {setup.dtype}", n, 0, n, n, setup.dtype)

    def value_bytes(self, setup: Setup):
        return BYTES[setup.dtype], BYTES[setup.dtype]

    def load(self, spec, setup, cfg, threads):
        return HfRunner(spec, setup, cfg, threads)


class HfRunner(Runner):
    def __init__(self, spec: dict, setup: Setup, cfg, threads: int):
        import torch

        from ...models import family_for, load_model, load_processor, param_counts
        self.cfg, self.torch = cfg, torch
        self.processor = load_processor(spec["path"], presets=True)
        dtype = getattr(torch, setup.dtype)
        model = load_model(spec["path"], presets=True, seed=cfg.seed, dtype=dtype).to(cfg.device)
        if setup.draft_vocab:  # timed alone with the head it would draft with: its step's cost
            from ...assist import draft_head_ids, read_draft_vocab, use_domain_head
            use_domain_head(model, draft_head_ids(read_draft_vocab(setup.draft_vocab), model.config,
                                                  model.generation_config))
        self.config, self.family = model.config, family_for(model.config)
        self.info = {"params": param_counts(model), "layers": self.family.layer_counts(model.config),
                     "weights_mb": sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20,
                     "threads": threads}
        model.generation_config = explicit_generation_config(model)
        self.eager = None  # compiled: the eager generation config its tokens are checked against
        if setup.compile:
            from ...compiled import compiled_generation_config
            self.eager = model.generation_config
            model.generation_config = compiled_generation_config(model.generation_config, cfg.device)
        self.model = model
        self.draft, self.stats = None, None  # a draft model: lossless rows only; their last call's drafts
        from ...assist import AssistConfig
        self.assist = AssistConfig(**spec["assist"]) if spec.get("assist") else cfg.assist  # that row's settings
        if spec.get("assistant"):
            self._init_draft(spec["assistant"], dtype)

    def _init_draft(self, src: str, dtype):
        from ...assist import encoders_equal, prepare_draft
        from ...models import family_for, load_model
        self.draft = load_model(src, presets=True, seed=self.cfg.seed, dtype=dtype).to(self.cfg.device)
        self.info["draft_encoder_identical"] = encoders_equal(self.model, self.draft)
        # --share-encoder checked at load, not on the first timed document; --draft-vocab's head put in
        prepare_draft(self.model, self.draft, self.assist, src)
        self.draft.generation_config = explicit_generation_config(self.draft)
        self.info["assistant"] = src
        self.info["draft_layers"] = family_for(self.draft.config).layer_counts(self.draft.config)
        self.info["weights_mb"] += sum(p.numel() * p.element_size() for p in self.draft.parameters()) / 2**20

    def inputs(self, encoded):
        return {k: v.to(self.cfg.device) for k, v in encoded.items()}  # the family's model inputs, for generate()

    def width(self, batch):
        return batch["attention_mask"].shape[1]

    def generate(self, batch, new_tokens, fixed):
        lengths = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens if fixed else None)
        if self.draft is not None:
            from ...assist import assisted_generate
            gen = copy.deepcopy(self.model.generation_config)
            gen.update(**lengths)
            result = assisted_generate(self.model, self.draft, batch, None, gen, self.assist)
            out, self.stats = result.sequences, result.stats.to_dict()
        else:
            out = self.model.generate(**batch, **lengths)
        # Generated tokens: the decoder prompt excluded, EOS included, padding of shorter outputs not.
        return self.family.generated(out, self.model.generation_config, self.config, new_tokens)[1]

    def check_tokens(self, batch, new_tokens, fixed):
        """Compiled: one call of each path on `batch`, untimed (the compiled one compiles here, so no timed call
        does), and whether their tokens are equal (`compiled.compare_tokens`)."""
        if self.eager is None:
            return {}
        from ...compiled import compare_tokens
        lengths = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens if fixed else None)
        # A copy: with CUDA graphs a compiled call's outputs live in memory that the next replay overwrites.
        compiled = self.family.generated(self.model.generate(**batch, **lengths).clone(), self.model.generation_config,
                                         self.config, new_tokens)[0]
        eager = self.family.generated(self.model.generate(**batch, generation_config=self.eager, **lengths),
                                      self.eager, self.config, new_tokens)[0]
        return compare_tokens(compiled, eager)

    def peak_memory_mb(self, work, device, rss_before_load):
        """On CUDA the allocator's peak; on CPU the weights plus what the generation adds to the resident set."""
        torch = self.torch
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            work()
            return torch.cuda.max_memory_allocated() / 2**20
        base = rss_mb()
        peak = sample_peak(rss_mb, work)
        return self.info["weights_mb"] + max(0.0, peak - base)
