"""Generate outputs for a split and score them with the dataset's metric, the way the paper's tables do.

    from asymprune.evaluate import EvalConfig, evaluate, evaluate_and_save, save_evaluation
    result = evaluate("runs/pruned", "synthetic", EvalConfig(split="test", max_samples=200))
    result["metrics"]    # {"metric": "rouge", "rouge1": 41.2, "rouge2": 18.9, ..., "gen_len": 37.5, ...}
    save_evaluation(result, Path("runs/pruned/eval-synthetic-test"))  # metrics.json + predictions.jsonl
    result, out = evaluate_and_save("runs/pruned", "synthetic", baseline=Path("runs/base/eval/metrics.json"))

The dataset names its metric (summarization: ROUGE with the stemmer; a metrics.json without a
"metric" is ROUGE's), whose record (asymprune.metrics) scores each example and the corpus, with
paired bootstrap intervals against a baseline. GenL is the mean number of tokens the model generated
(padding and the decoder's prompt excluded, end-of-sequence included), as run_summarization counts.
"""

from __future__ import annotations

import copy
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .assist import AssistConfig
from .baseline import add_baseline, load_baseline
from .errors import UsageError
from .fsutil import atomic_dir, check_writable_out, write_json
from .metrics import metric_for


@dataclass
class EvalConfig:
    split: str = "test"                  # which split of the dataset to summarize
    max_samples: int | None = None       # the first N rows of the split; None: all of them
    batch_size: int = 16                 # sources per generate() call
    num_beams: int | None = None         # None: the model's generation config
    max_new_tokens: int = 256            # generated tokens at most (never transformers' 20-token default)
    min_new_tokens: int | None = None    # None: the model's generation config
    length_penalty: float | None = None  # None: the model's generation config
    max_source_length: int = 1024        # source tokens kept; longer sources are truncated and counted
    prefix: str | None = None            # None: the model family's ("summarize: " for T5, "" otherwise)
    device: str | None = None            # None: cuda when available, else cpu
    assistant: str | None = None         # draft model: lossless draft-and-verify, batch 1 (asymprune.assist)
    assist: AssistConfig = field(default_factory=AssistConfig)  # the draft's settings
    # Speech: keep the encoder's outputs on disk (the asymprune cache, keyed by the encoder's weights) and reuse
    # them for every model with the same encoder, as a sweep's decoder-pruned variants have. Exact: the same
    # outputs generate() would compute; 2.3 MB an utterance for tiny.en. Ignored by text families and --assistant.
    encoder_cache: bool = False

    def __post_init__(self):
        if isinstance(self.assist, dict):  # from JSON or a sweep spec
            self.assist = AssistConfig(**self.assist)


def check_config(config: EvalConfig) -> None:
    """Fail on impossible settings before any work."""
    if config.max_samples is not None and config.max_samples < 1:
        raise UsageError(f"--max-samples {config.max_samples}: evaluate at least 1 sample, or leave the flag out "
                         "to evaluate the whole split")
    for name in ("batch_size", "max_new_tokens", "max_source_length"):
        if getattr(config, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if config.num_beams is not None and config.num_beams < 1:
        raise UsageError("--num-beams must be at least 1")


def default_out(model_src: str, dataset: str, split: str) -> Path:
    """MODEL/eval-<dataset>-<split>, the dataset name reduced to safe characters."""
    model_dir = Path(model_src).expanduser()
    if not model_dir.is_dir():
        raise UsageError(f"'{model_src}' is not a local directory, so results have no default place; pass --out DIR")
    name = Path(dataset.rstrip("/\\")).name if Path(dataset).expanduser().exists() else dataset
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "dataset"
    return model_dir / f"eval-{name}-{split}"


def generation_config(model, config: EvalConfig):
    """The model's generation config with the evaluation's lengths and beams on top."""
    gen = copy.deepcopy(model.generation_config)
    gen.max_new_tokens = config.max_new_tokens
    gen.max_length = None  # max_new_tokens alone bounds the length
    from .models import family_for
    family_for(model.config).apply_generation_overrides(gen)
    for name in ("num_beams", "min_new_tokens", "length_penalty"):
        if getattr(config, name) is not None:
            setattr(gen, name, getattr(config, name))
    return gen


def generate_summaries(model, processor, tokenized, config: EvalConfig, progress=None, draft=None,
                       draft_stats=None, encoder_cache=None) -> tuple[list[str], list[int]]:
    """Batched generate() over encoded sources; (texts, generated token counts) in input order.

    The model's family pads the batches (its collator), says which ids of an output were generated
    (`Family.generated`: text models return the decoder prompt in front) and where the tokenizer is.
    With `draft`, each batch (of 1) is draft-and-verify, and `draft_stats` (a DraftStats) adds up.
    With `encoder_cache` ((EncoderCache, row ids), see `cached_encoder`), generate() reads the encoder's
    outputs from it instead of running the encoder (and the rows' inputs are never built).
    """
    import torch

    from .assist import generate_one_by_one
    from .models import family_for

    family = family_for(model.config)
    tokenizer, collate = family.tokenizer_of(processor), family.data_collator(processor)
    gen = generation_config(model, config)
    device = next(model.parameters()).device
    # Longest first, so a batch holds sources of similar length (little padding) and memory
    # problems show up on the first batch.
    sizes = family.source_lengths(tokenized)
    order = sorted(range(len(tokenized)), key=lambda i: -sizes[i])
    texts, lengths = [""] * len(order), [0] * len(order)
    for b in range(0, len(order), config.batch_size):
        idx = order[b:b + config.batch_size]
        if encoder_cache is not None:
            from transformers.modeling_outputs import BaseModelOutput
            cache, ids = encoder_cache
            hidden = cache.stack([ids[i] for i in idx]).to(device=device, dtype=model.dtype)
            inputs = {"encoder_outputs": BaseModelOutput(last_hidden_state=hidden)}
        else:
            batch = collate([{k: v for k, v in tokenized[i].items() if k not in ("labels", "attention_mask")}
                             for i in idx])
            inputs = {k: v.to(device) for k, v in batch.items() if v is not None}  # no labels: None
        if draft is not None:
            out = generate_one_by_one(model, draft, inputs, gen, config.assist, draft_stats, tokenizer.pad_token_id)
        else:
            with torch.inference_mode():
                out = model.generate(**inputs, generation_config=gen)
        new, counts = family.generated(out.cpu(), gen, model.config, gen.max_new_tokens)
        for i, ids, n in zip(idx, new, counts):
            lengths[i] = n
            texts[i] = tokenizer.decode(ids, skip_special_tokens=True).strip()
        if progress is not None:
            progress(b + len(idx), len(order))
    return texts, lengths


def cached_encoder(model, processor, tokenized, config: EvalConfig):
    """((EncoderCache, row ids), what it cost) for `config.encoder_cache` where the model's family caches
    encoder outputs (`Family.encoder_cache_rows`: Whisper's 30-second windows), else (None, None)."""
    from .models import family_for
    rows = family_for(model.config).encoder_cache_rows(tokenized) if config.encoder_cache else None
    if not rows or config.assistant is not None:
        return None, None
    from .distil import encoder_outputs
    cache = encoder_outputs(model, rows, extractor=processor.feature_extractor, batch_size=config.batch_size)
    return (cache, [r.id for r in rows]), {"folder": str(cache.folder), "rows": len(cache), "encoded": cache.encoded,
                                           "seconds": round(cache.seconds, 2)}


def evaluate(model_src: str, dataset, config: EvalConfig | None = None, *, data=None, progress=None,
             trust_remote_code: bool = False, allow_pickle: bool = False) -> dict:
    """Summarize a split and score it: {"metrics": {...}, "predictions": [{...}, ...]}.

    `dataset` is a spec (see asymprune.data) or a DatasetDict with source/target columns;
    `data` is the DataConfig for a spec; `progress(done, total)` is called after each batch.
    """
    import torch

    from .data import DataConfig, check_inputs, dataset_metric, get_split, load_dataset_spec
    from .models import check_has_tokenizer, family_for, load_config, load_model, require_processor

    config = config or EvalConfig()
    check_config(config)
    model_config = load_config(model_src, presets=True, trust_remote_code=trust_remote_code)  # before the data: cheap
    check_has_tokenizer(model_src, presets=True)
    check_inputs(dataset, family_for(model_config).inputs, model_src, data)
    if config.assistant is not None:
        from .assist import check_batch_size, check_draft_sources
        check_batch_size(config.batch_size)
        if (config.num_beams or 1) > 1:
            raise UsageError("--assistant verifies greedy decoding only; pass --num-beams 1")
        config.assist.validate()
        check_draft_sources(model_src, config.assistant, config.assist.share_encoder, config.assist.draft_vocab)
    spec = dataset if isinstance(dataset, str) else "<in-memory>"
    ds = load_dataset_spec(dataset, data or DataConfig()) if isinstance(dataset, str) else dataset
    rows = get_split(ds, config.split, spec)
    if config.max_samples is not None:
        rows = rows.select(range(min(config.max_samples, len(rows))))

    model = load_model(model_src, presets=True, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    processor = require_processor(model_src, presets=True, trust_remote_code=trust_remote_code)
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    draft, draft_stats = None, None
    if config.assistant is not None:
        from .assist import DraftStats, check_greedy
        check_greedy(generation_config(model, config))
        draft = load_model(config.assistant, presets=True, trust_remote_code=trust_remote_code,
                           allow_pickle=allow_pickle).to(device).eval()
        from .assist import prepare_draft
        prepare_draft(model, draft, config.assist, config.assistant)  # --share-encoder checked, --draft-vocab's head
        draft_stats = DraftStats()
    family = family_for(model.config)
    prefix = family.source_prefix(model.config) if config.prefix is None else config.prefix
    tokenized, report = family.encode(rows, processor, prefix=prefix, max_source_length=config.max_source_length)

    started = time.perf_counter()
    encoder_cache, cache_cost = cached_encoder(model, processor, tokenized, config)
    texts, lengths = generate_summaries(model, processor, tokenized, config, progress, draft, draft_stats,
                                        encoder_cache)
    seconds = time.perf_counter() - started
    references = list(rows["target"])
    metric = metric_for(dataset_metric(dataset, data))
    scores = metric.per_example(texts, references)
    gen = generation_config(model, config)
    metrics = {
        "metric": metric.name,
        **metric.aggregate(scores),
        "gen_len": sum(lengths) / len(lengths),
        "samples": len(texts),
        "model": model_src,
        "dataset": spec,
        "split": config.split,
        "generation": {"num_beams": gen.num_beams, "max_new_tokens": gen.max_new_tokens,
                       "min_new_tokens": gen.min_new_tokens, "length_penalty": gen.length_penalty,
                       "batch_size": config.batch_size, "prefix": prefix},
        # Only where the family's encoding cuts sources (text: tokens over max_source_length; never audio)
        **({"max_source_length": config.max_source_length, "sources_truncated": report["sources_truncated"]}
           if "sources_truncated" in report else {}),
        "generate_seconds": seconds,  # the encoder's, cached ones (encoder_cache) or not, included
        **({"encoder_cache": cache_cost} if cache_cost else {}),
        "device": device,
        "config": asdict(config),
    }
    if draft_stats is not None:
        from .assist import stats_summary
        metrics["assistant"] = {"model": config.assistant, **stats_summary(draft_stats, config.assist)}
    ids = list(rows["id"]) if "id" in rows.column_names else None  # speech rows: the utterance each line is of
    predictions = [{"index": i, **({"id": ids[i]} if ids else {}), "prediction": p, "reference": r, "gen_len": n, **s}
                   for i, (p, r, n, s) in enumerate(zip(texts, references, lengths, scores))]
    return {"metrics": metrics, "predictions": predictions}


def save_evaluation(result: dict, out: Path, overwrite: bool = False) -> None:
    """metrics.json and predictions.jsonl in `out`, written all or nothing."""
    with atomic_dir(Path(out), overwrite=overwrite) as tmp:
        with open(tmp / "predictions.jsonl", "w", encoding="utf-8") as f:
            for row in result["predictions"]:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        write_json(tmp / "metrics.json", result["metrics"])


def evaluate_and_save(model_src: str, dataset, config: EvalConfig | None = None, out: Path | None = None, *,
                      baseline: Path | None = None, data=None, overwrite: bool = False, progress=None,
                      trust_remote_code: bool = False, allow_pickle: bool = False,
                      card: bool = True) -> tuple[dict, Path]:
    """`evaluate`, then `add_baseline` when a baseline's metrics.json is given, then `save_evaluation`
    into `out` (default: MODEL/eval-<dataset>-<split>); returns (result, out).

    With `card`, the scores also go into MODEL's model card (README.md) when asymprune wrote it
    (`result["card"]`: its path, else None), before the results are written, so that a kill in
    between leaves a card that the next run's identical row replaces.
    The output and the baseline are checked before anything is generated.
    """
    config = config or EvalConfig()
    out = Path(out) if out is not None else default_out(model_src, dataset, config.split)
    check_writable_out(out, overwrite, inputs=[model_src, dataset, config.assistant, baseline])
    if baseline is not None:
        from .data import dataset_metric
        load_baseline(baseline, dataset_metric(dataset))  # fail before generating, not after
    result = evaluate(model_src, dataset, config, data=data, progress=progress,
                      trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    if baseline is not None:
        add_baseline(result, baseline)
    if card:
        from .models.card import add_evaluation
        result["card"] = add_evaluation(model_src, result["metrics"], out)
    save_evaluation(result, out, overwrite=overwrite)
    return result, out
