"""`Family`: everything asymprune knows about one architecture family, with a text encoder-decoder's defaults.

    family = family_for(config)            # the registered family of a transformers config, or a UsageError
    family.layers(model, "decoder")        # its nn.ModuleList of decoder layers
    family.auto_class.from_pretrained(src)  # AutoModelForSeq2SeqLM unless the family says otherwise
    family.source_prefix(config)           # "summarize: " for T5, "" by default

A family is one registered class (`@register_family`). Every hook has a default on this base class,
so a family overrides only what differs, the way CTranslate2's converter loaders do; nothing outside
the families asks what model type a config has.
"""

from __future__ import annotations

from torch import nn

from ...errors import UsageError
from ...plugins import load_plugins
from ..shapes import DecoderShape

STACKS = ("encoder", "decoder")
FAMILIES: dict[str, "Family"] = {}


def register_family(cls):
    """Class decorator: make a Family available to `family_for` (a later one of the same name replaces it)."""
    FAMILIES[cls.name] = cls()
    return cls


def family_of_type(model_type: str | None) -> "Family | None":
    """The family that claims a transformers `model_type`, or None."""
    load_plugins()
    return next((f for f in FAMILIES.values() if model_type in f.model_types), None)


def family_for(config) -> "Family":
    """The family of a transformers config, or a UsageError naming what is supported."""
    model_type = getattr(config, "model_type", None)
    if not getattr(config, "is_encoder_decoder", False):
        raise UsageError(
            f"'{model_type}' is not an encoder-decoder model; asymprune prunes seq2seq models "
            f"({supported_types()}), pass one of those"
        )
    family = family_of_type(model_type)
    if family is None:
        raise UsageError(f"model type '{model_type}' is not supported yet; supported: {supported_types()}")
    return family


def supported_types() -> str:
    load_plugins()
    return ", ".join(t for f in FAMILIES.values() for t in f.model_types)


def param_counts(model) -> dict[str, int]:
    """Total parameters, and those in each stack's layers (embeddings, norms and head are 'other')."""
    family = family_for(model.config)
    total = sum(p.numel() for p in model.parameters())
    per_stack = {s: sum(p.numel() for p in family.layers(model, s).parameters()) for s in STACKS}
    return {"total": total, **per_stack, "other": total - sum(per_stack.values())}


class Family:
    """One architecture family: its layer stacks, how it loads, what it reads, how it decodes and deploys."""

    name: str
    model_types: tuple[str, ...]
    layers_attr: str  # attribute of the encoder/decoder module that holds its nn.ModuleList
    count_keys: dict[str, str]  # the config.json key holding each stack's layer count
    tokenizer_style = "bart"  # presets: special-token layout of the trained tokenizer (models/tokenizer.py)
    inputs = "text"  # what a dataset's `source` holds for it, and what `generate` takes: "text" or "audio" (files)
    pipeline_tag = "summarization"  # the task a model card names
    card_tags = ("summarization", "text2text-generation")
    processor_name = "AutoTokenizer"  # what a model card's example loads the processor with
    ct2_runtime = "Translator"  # the ctranslate2 class that runs a conversion (asymprune.ct2.runtimes)
    assisted = True  # whether draft-and-verify (asymprune.assist: --assistant) runs the family's models

    # ------------------------------------------------------------ layers

    def stack(self, model, which: str) -> nn.Module:
        return model.get_encoder() if which == "encoder" else model.get_decoder()

    def layers(self, model, which: str) -> nn.ModuleList:
        return getattr(self.stack(model, which), self.layers_attr)

    def layer_counts(self, config) -> dict[str, int]:
        return {stack: getattr(config, key) for stack, key in self.count_keys.items()}

    def set_layer_counts(self, config, counts: dict[str, int]) -> None:
        for stack, key in self.count_keys.items():
            setattr(config, key, counts[stack])

    def adopt_first_layer(self, new_first: nn.Module, old_first: nn.Module) -> None:
        """Called when layer 0 was dropped: give the new first layer what only layer 0 owned."""

    def replace_layers(self, model, which: str, keep: list[int]) -> None:
        """Keep only the layers `keep` (sorted, unique) of one stack, renumbering cache indices."""
        old = self.layers(model, which)
        kept = [old[i] for i in keep]
        if keep[0] != 0:
            self.adopt_first_layer(kept[0], old[0])
        for new_idx, layer in enumerate(kept):
            # The KV cache is indexed by layer_idx; it must be the layer's new position.
            for module in layer.modules():
                if hasattr(module, "layer_idx"):
                    module.layer_idx = new_idx
        setattr(self.stack(model, which), self.layers_attr, nn.ModuleList(kept))

    def decoder_shape(self, config) -> DecoderShape:
        """What one decoding step reads, from the config alone (asymprune.bench.ceiling uses it)."""
        raise UsageError(f"asymprune cannot yet count what a '{config.model_type}' decoding step reads; "
                         "its family has no decoder_shape")

    def cross_attention_rows(self, config, source_tokens: float) -> float:
        """Rows of the cross-attention cache (the encoder's output length) for inputs of `source_tokens` positions:
        the source tokens themselves for text."""
        return source_tokens

    # ------------------------------------------------------------ classes and processor

    @property
    def auto_class(self):
        """The transformers class that loads and builds the family's models."""
        from transformers import AutoModelForSeq2SeqLM
        return AutoModelForSeq2SeqLM

    def from_config(self, config):
        """A model of `config` with fresh (random) weights."""
        return self.auto_class.from_config(config)

    def model_class(self, config):
        """The concrete transformers class of `config`'s model, or None where transformers has none."""
        return self.auto_class._model_mapping.get(type(config), None)

    def load_processor(self, src: str, **kwargs):
        """What turns inputs into model inputs and ids into text (a tokenizer; Whisper: a processor)."""
        from transformers import AutoTokenizer
        return AutoTokenizer.from_pretrained(src, **kwargs)

    def tokenizer_of(self, processor):
        """The tokenizer inside `processor` (the processor itself for text)."""
        return processor

    def save_processor(self, processor, out) -> None:
        """Write the processor's files into a model folder (a text family's: the tokenizer's)."""
        processor.save_pretrained(out)

    def preset_start_token(self, tokenizer) -> int:
        """The decoder start id of a preset built on a trained tokenizer (BART and most: </s>)."""
        return tokenizer.eos_token_id

    def preset_parts(self, preset):
        """(config, processor) of a preset (models/presets.py), without weights: a tokenizer trained here in the
        family's special-token layout, its ids in the config."""
        from transformers import AutoConfig

        from ..tokenizer import train_tokenizer
        tokenizer = train_tokenizer(self.tokenizer_style)
        special_ids = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
                       "decoder_start_token_id": self.preset_start_token(tokenizer)}
        if tokenizer.bos_token_id is not None:
            special_ids["bos_token_id"] = tokenizer.bos_token_id
        config = AutoConfig.for_model(preset.model_type, vocab_size=preset.vocab_size or len(tokenizer),
                                      **special_ids, **preset.config)
        return config, tokenizer

    def preset_generation_config(self, config):
        """The generation settings a preset of `config` is built with: what its family's checkpoints carry."""
        from transformers import GenerationConfig
        gen = GenerationConfig.from_model_config(config)
        gen.decoder_start_token_id = config.decoder_start_token_id
        return gen

    def finish_preset(self, model, processor) -> None:
        """Give a freshly built preset model the generation settings its checkpoints carry."""
        model.generation_config.decoder_start_token_id = model.config.decoder_start_token_id

    # ------------------------------------------------------------ inputs

    def source_prefix(self, config=None) -> str:
        """The task prefix the family's models are trained with, before each source ("" for none)."""
        return ""

    def encode(self, rows, processor, *, prefix: str = "", max_source_length: int = 1024,
               max_target_length: int | None = None):
        """(model inputs of a split's rows, labels with a target length; truncation counts): see data.tokenize."""
        from ...data import tokenize
        return tokenize(rows, processor, prefix=prefix, max_source_length=max_source_length,
                        max_target_length=max_target_length)

    def target_ids(self, processor, texts: list[str]) -> list[list[int]]:
        """The ids the decoder is trained to write for each target text, as `encode`'s labels hold them."""
        return self.tokenizer_of(processor)(text_target=list(texts), verbose=False)["input_ids"]

    def batch_inputs(self, processor, sources: list, *, prefix: str = "", max_length: int | None = None):
        """One padded batch of raw sources, as tensors generate() takes."""
        return processor([prefix + s for s in sources], truncation=True, max_length=max_length, padding=True,
                         return_tensors="pt")

    def fixed_inputs(self, config, body_ids: list[list[int]], batch_size: int) -> dict:
        """The bench's fixed-length inputs: the first `batch_size` rows of seeded random ids (the same for
        every model of a run), each closed by the end-of-sequence id."""
        import torch
        ids = torch.tensor([row + [config.eos_token_id] for row in body_ids[:batch_size]])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def bench_inputs(self, source_length: int, dataset: str | None) -> str:
        """What a bench times, in a few words (a result row's `inputs`, the table's header): `fixed_inputs`'
        seeded random ids of `source_length` tokens, or the documents of `dataset` ('SPEC:split')."""
        return dataset or f"random ids, source {source_length}"

    def data_collator(self, processor, model=None):
        """Pads a list of encoded rows into a batch (labels padded with -100)."""
        from transformers import DataCollatorForSeq2Seq
        return DataCollatorForSeq2Seq(processor, model=model)

    def source_lengths(self, encoded) -> list[int]:
        """Each encoded row's source length, which evaluation sorts batches by (little padding)."""
        return [len(encoded[i].get("input_ids", ())) for i in range(len(encoded))]

    def encoder_cache_rows(self, encoded) -> list | None:
        """With a frozen encoder: the rows of an encoded split (each with `id`, `audio`, `where`, `read()`) whose
        encoder outputs training computes once and reuses every step, or None: the encoder runs in each step
        (a text encoder over a few hundred tokens costs less than reading its outputs back)."""
        return None

    def label_ids(self, tokens: list[int], generation_config, config) -> list[int]:
        """The labels of an output whose generated ids are `tokens`: what the model is trained to write (a text
        model: the ids and end-of-sequence; the start token is shifted in front by the model itself)."""
        prompt = self.decoder_prompt(generation_config, config)
        return prompt[1:] + list(tokens) + [config.eos_token_id]

    def decoder_prompt(self, generation_config, config) -> list[int]:
        """The ids every output starts with, before any generated token (the decoder start; Whisper: several)."""
        start = getattr(generation_config, "decoder_start_token_id", None)
        start = config.decoder_start_token_id if start is None else start
        return [] if start is None else [start]

    def generated(self, sequences, generation_config, config, max_new_tokens: int) -> tuple[list[list[int]], list[int]]:
        """What generate() returned, per output: (the generated ids, without the decoder prompt and padding;
        the tokens generated, end-of-sequence included). Text models return the prompt in front."""
        pad, skip = config.pad_token_id, len(self.decoder_prompt(generation_config, config))
        rows = [row[skip:] for row in sequences.tolist()]
        ids = []
        for row in rows:
            end = len(row)
            while end and row[end - 1] == pad:  # padding of a shorter output in the batch
                end -= 1
            ids.append(row[:end])
        return ids, [sum(token != pad for token in row) for row in rows]

    def prepare_assisted(self, generation_config, draft_generation_config, config) -> dict:
        """Before generate() with a draft (asymprune.assist): set what the draft's generation config (a copy, put back
        after the call) needs, and return extra generate() arguments for the full model so that its output stays
        what generate() gives without the draft. Text families need nothing."""
        return {}

    def generation_overrides(self) -> dict:
        """GenerationConfig fields every asymprune generate() call sets on top of the model's (evaluate, bench)."""
        return {}

    def apply_generation_overrides(self, gen):
        """`gen` with `generation_overrides()` set (GenerationConfig.update skips fields the config lacks)."""
        for name, value in self.generation_overrides().items():
            setattr(gen, name, value)
        return gen

    def greedy_generation_config(self, model):
        """Greedy decoding with the model's start, end and pad ids and nothing else from its checkpoint (what the
        bench times: no shipped beams, n-gram blocking or forced tokens)."""
        from transformers import GenerationConfig
        config, shipped = model.config, model.generation_config
        start = shipped.decoder_start_token_id
        start = config.decoder_start_token_id if start is None else start
        return GenerationConfig(decoder_start_token_id=start, eos_token_id=config.eos_token_id,
                                pad_token_id=config.pad_token_id, bos_token_id=getattr(config, "bos_token_id", None),
                                do_sample=False, num_beams=1, use_cache=True)

    def max_source_positions(self, config) -> int | None:
        """Source tokens the model can take at most (learned positions), or None: no fixed limit."""
        return None

    def max_target_positions(self, config) -> int | None:
        """Decoder positions (prompt and generated tokens) the model can take at most, or None: no fixed limit."""
        return None

    # ------------------------------------------------------------ CTranslate2

    def ct2_loaders(self) -> dict[str, type]:
        """CTranslate2 converter loaders that replace the stock ones, by config class name (the family's fixes)."""
        return {}
