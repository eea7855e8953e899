"""The body of an asymprune model card, rendered from a folder's records and what the card holds.

    body("d3-ft", state, prune, train, vocab, config)   # markdown: what was done, the scores, the latency
    eval_results(state["evaluations"])                 # huggingface_hub EvalResults for the model-index

Sections appear only where there is something to say: Lineage (the asymprune steps before this
folder), Layers (asymprune.json), Training (train.json), Vocabulary (vocab.json), Evaluation
and Latency (what `evaluate` and a sweep's bench put into the card), Use.
"""

from __future__ import annotations

from pathlib import Path

from .families import Family, family_of_type

SOURCE_MARK = "<!-- asymprune: the source's own model card, kept as it was -->"
STACKS = ("encoder", "decoder")
DATA_FILES = (".jsonl", ".json", ".csv", ".parquet")


def _is_pruning_record(prune) -> bool:
    """An asymprune.json of `prune` (a planner's scratch copy, or an older one, may hold less)."""
    return isinstance(prune, dict) and all(isinstance(prune.get(k), dict) for k in ("kept", "layers",
                                                                                    "original_layers"))


def has_pruned_layers(prune: dict | None) -> bool:
    return _is_pruning_record(prune) and any(prune["layers"][s] < prune["original_layers"][s] for s in STACKS)


def _is_file_spec(spec: str) -> bool:
    return Path(spec).expanduser().exists() or spec.endswith(DATA_FILES) or "/" in spec and not spec.startswith("hf:")


def dataset_names(specs) -> list[str]:
    """The `datasets` of the front matter: hub names (`hf:` dropped) and registered names; files are
    named in the body only (a path is no dataset id)."""
    names = [s.removeprefix("hf:").split(":")[0] for s in specs if s and not _is_file_spec(s)]
    return list(dict.fromkeys(names))


def _dataset_label(spec: str) -> str:
    return Path(spec.rstrip("/")).name if _is_file_spec(spec) else spec.removeprefix("hf:")


def metric_of_entry(e: dict):
    """The registered metric of an evaluation row (a row written before WER had none: ROUGE's)."""
    from ..metrics import metric_for
    return metric_for(e.get("metric") or "rouge")


def metric_names(evaluations: list[dict]) -> list[str]:
    """The front matter's `metrics`: each evaluation's metric, once, in order."""
    return list(dict.fromkeys(metric_of_entry(e).name for e in evaluations))


def eval_results(evaluations: list[dict], family: Family | None = None):
    """One huggingface_hub EvalResult per score of each evaluation (the card's model-index): the task
    is the family's, each key's metric type and name its metric's ("rouge" / "ROUGE-2", "wer" / "WER")."""
    from huggingface_hub import EvalResult
    task = (family or Family()).pipeline_tag
    return [EvalResult(task_type=task, task_name=task.replace("-", " ").title(),
                       dataset_type=_dataset_label(e["dataset"]), dataset_name=_dataset_label(e["dataset"]),
                       dataset_split=e["split"], metric_type=m.hub_type(key), metric_name=m.key_label(key),
                       metric_value=round(e[key], 2))
            for e in evaluations for m in [metric_of_entry(e)] for key in m.keys if e.get(key) is not None]


def _millions(n) -> str:
    return f"{n / 1e6:.2f}M"


def made_line(state: dict, prune, train, vocab) -> str:
    """What was done to make this folder, in one sentence (also the next card's lineage entry)."""
    steps = []
    if preset := state.get("preset"):
        steps.append(f"the `{preset['name']}` architecture with random weights (seed {preset['seed']}) and a "
                     "tokenizer trained on asymprune's synthetic text: a starting point, not a trained model")
    if has_pruned_layers(prune):
        layers = ", ".join(f"{s} {prune['original_layers'][s]} → {prune['layers'][s]} layers" for s in STACKS)
        steps.append(f"whole layers removed from `{prune['source']}` ({layers})")
    if train:
        steps.append(f"fine-tuned from `{train.get('source')}` on `{train.get('dataset')}` ({train.get('steps', 0):,} "
                     "steps)")
    if vocab:
        steps.append(f"its vocabulary cut to the {vocab.get('kept', 0):,} of {vocab.get('original_tokens', 0):,} "
                     f"tokens that `{vocab.get('dataset')}` needs")
    return "; ".join(steps) or f"made from `{state.get('source')}`"


def _lineage(state: dict) -> str:
    items = state.get("lineage") or []
    if not items:
        return ""
    lines = [f"{i}. `{e['model']}`: {e['made']}" for i, e in enumerate(items, 1)]
    return "## Lineage\n\nThe asymprune steps that made the source, oldest first:\n\n" + "\n".join(lines)


def _layers(prune: dict | None) -> str:
    if not _is_pruning_record(prune):
        return ""
    rows = []
    for s in STACKS:
        kept = prune["kept"][s]
        shown = "all" if len(kept) == prune["original_layers"][s] else ", ".join(map(str, kept))
        rows.append(f"| {s} | {prune['original_layers'][s]} → {prune['layers'][s]} | {shown} |")
    before, after = prune.get("params_before") or {}, prune.get("params_after") or {}
    params = [f"| {part} | {_millions(before[part])} | {_millions(after[part])} | "
              f"{100 * (1 - after[part] / before[part]) if before[part] else 0:.1f}% |"
              for part in (*STACKS, "other", "total") if part in before and part in after]
    scores = " Its layer scores are in `asymprune.json`." if prune.get("scores") else ""
    return ("## Layers\n\n"
            f"Whole layers were removed from `{prune.get('source')}` with the `{prune.get('strategy')}` strategy. The kept "
            f"layers are the source's, bit for bit; indices are the source's.{scores}\n\n"
            "| stack | layers | kept |\n|---|---|---|\n" + "\n".join(rows) +
            ("\n\n| parameters | before | after | removed |\n|---|---|---|---|\n" + "\n".join(params) if params else ""))


def _training(train: dict | None) -> str:
    if not train:
        return ""
    r = train.get("recipe") or {}
    rows = {"steps": f"{train.get('steps', 0):,}" + (" (stopped early)" if train.get("stopped_early") else ""),
            "learning rate": f"{r.get('learning_rate')}, {r.get('lr_scheduler')} schedule, "
                             f"{r.get('warmup_steps', 0)} warm-up steps",
            "effective batch": f"{r.get('batch_size')} = {r.get('per_device_batch_size')} per device × "
                               f"{r.get('gradient_accumulation_steps')} accumulation steps × {r.get('world_size', 1)} "
                               "process(es)",
            "optimizer": f"{r.get('optimizer', 'adamw_torch')}, weight decay {r.get('weight_decay')}",
            "lengths": f"sources up to {r.get('max_source_length')} tokens, targets up to {r.get('max_target_length')}"
                       + (f"; prefix `{r['prefix']}`" if r.get("prefix") else ""),
            "early stopping": f"validation loss every {r.get('eval_steps')} steps, patience {r.get('patience')}; the "
                              "best weights are kept"}
    if train.get("best_eval_loss") is not None:
        rows["best validation loss"] = f"{train['best_eval_loss']:.4f} at step {train.get('best_step')}"
    if r.get("distill_from"):
        rows["distillation"] = (f"from `{r['distill_from']}`, weight {r.get('distill_alpha')}, temperature "
                                f"{r.get('distill_temperature')}")
    if train.get("frozen_params"):
        rows["frozen"] = f"the encoder and the embeddings it reads ({train['frozen_params']:,} parameters)"
    if (r.get("report_to") or "none") != "none":
        rows["tracker"] = f"{r['report_to']}, run `{r.get('run_name')}`"
    rows["seed"] = str(r.get("seed"))
    rows["time"] = f"{train.get('seconds', 0):.0f} s"
    data = train.get("rows") or {}
    return ("## Training\n\n"
            f"Fine-tuned from `{train.get('source')}` on `{train.get('dataset')}` ({data.get('train', 0):,} train and "
            f"{data.get('validation', 0):,} validation rows) with Hugging Face's Seq2SeqTrainer; `train.json` holds "
            "every setting and loss.\n\n| setting | value |\n|---|---|\n"
            + "\n".join(f"| {k} | {v} |" for k, v in rows.items()))


def _vocabulary(vocab: dict | None) -> str:
    if not vocab:
        return ""
    before, after = vocab.get("params_before") or {}, vocab.get("params_after") or {}
    params = f" Parameters: {_millions(before['total'])} → {_millions(after['total'])}." \
        if "total" in before and "total" in after else ""
    cover = vocab.get("coverage") or {}
    coverage = (" On the " + cover["split"] + " split: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in
                                                                      cover.items() if isinstance(v, int)) + "."
                ) if cover.get("split") else ""
    return ("## Vocabulary\n\n"
            f"Only the embedding and lm_head rows of {vocab.get('kept', 0):,} of {vocab.get('original_tokens', 0):,} "
            f"tokens were kept: {vocab.get('special', 0):,} special tokens and the tokens that `{vocab.get('dataset')}`'s "
            f"{vocab.get('split')} split uses{' (--size ' + str(vocab['size']) + ')' if vocab.get('size') else ''}. "
            f"The tokenizer was rebuilt to match; new id i is old id `kept_ids[i]` in `vocab.json`.{params}{coverage}")


def _evaluation(evaluations: list[dict]) -> str:
    """A table per metric: every key of the metric, GenL, and the headline against the baseline."""
    if not evaluations:
        return ""
    parts = ["## Evaluation"]
    for name in metric_names(evaluations):
        rows, m = [], None
        for e in evaluations:
            if metric_of_entry(e).name != name:
                continue
            m, b = metric_of_entry(e), e.get("baseline")
            delta = None if not b else b.get("delta", b.get(f"{m.headline}_delta"))  # older cards: rouge2_delta
            vs = f"{delta:+.2f} [{b['low']:+.2f}, {b['high']:+.2f}] vs `{b['path']}`, {m.verdict(b)}" if b else "–"
            scores = " | ".join(f"{e[k]:.2f}" if e.get(k) is not None else "–" for k in (*m.keys, "gen_len"))
            rows.append(f"| `{_dataset_label(e['dataset'])}` | {e['split']} | {e.get('samples') or 0:,} | {scores} | "
                        f"{vs} |")
        labels = [m.key_label(k) for k in m.keys]
        parts.append(f"{m.about} GenL is the mean number of generated tokens. The last column is the paired bootstrap "
                     f"95% interval of the {m.label} difference with the baseline evaluation (this model − the "
                     f"baseline; {m.direction}), over the same examples.\n\n"
                     f"| dataset | split | examples | {' | '.join(labels)} | GenL | {m.label} vs baseline |\n"
                     + "|---" * (len(labels) + 5) + "|\n" + "\n".join(rows))
    return "\n\n".join(parts)


def _speedup(e: dict) -> str:
    value, low, high = e.get("speedup"), e.get("speedup_low"), e.get("speedup_high")
    if value is None:
        return "–"
    if low is None or high is None:
        return f"{value:.2f}×" + (" (the baseline)" if value == 1.0 else "")
    words = "no measurable speed-up" if low <= 1 <= high else "measurably slower" if high < 1 else "faster"
    return f"{value:.2f}× [{low:.2f}, {high:.2f}], {words}"


def _latency(latency: list[dict]) -> str:
    if not latency:
        return ""
    rows = []
    for e in sorted(latency, key=lambda e: (e["backend"], e["dtype"], e["device"], e["batch_size"])):
        work = (f"`{_dataset_label(e['dataset'])}` documents, GenL {e['gen_len']:.1f}" if e.get("dataset")
                else f"{e.get('inputs') or 'source ' + str(e['source_length'])}, {e['new_tokens']} new tokens")
        rows.append(f"| {e['batch_size']} | {e['median_ms']:.1f} | {_speedup(e)} | {e['baseline']} | {work} | "
                    f"{e['backend']} {e['dtype']}, {e['device']} ({e.get('hardware')}, {e.get('threads')} threads) | "
                    f"{e.get('runs')} |")
    return ("## Latency\n\n"
            "Median milliseconds per `generate()` call of one batch, measured by a sweep's bench stage; the speed-up "
            "is over the baseline timed in the same interleaved run, with a paired bootstrap 95% interval over its "
            "rounds.\n\n| batch size | median ms | speed-up [95% CI] | over | work | setup | runs |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(rows))


def _use(name: str, config: dict) -> str:
    family = family_of_type(config.get("model_type")) or Family()  # a type no family claims: the defaults
    prefix = family.source_prefix()
    prefix = f'\n# {family.name.upper()}-family models read "{prefix}" before each document' if prefix else ""
    model, processor = family.auto_class.__name__, family.processor_name
    what = "tokenizer" if processor.endswith("Tokenizer") else "processor"
    return ("## Use\n\nA plain Hugging Face folder: it loads with transformers alone.\n\n```python\n"
            f"from transformers import {model}, {processor}\n"
            f'model = {model}.from_pretrained("{name}")\n'
            f'{what} = {processor}.from_pretrained("{name}"){prefix}\n```')


def body(name: str, state: dict, prune, train, vocab, config: dict) -> str:
    """The markdown below the front matter, down to (not including) the source's kept card."""
    made = made_line(state, prune, train, vocab)
    header = (f"# {state.get('title', name)}\n\n<!-- Written by asymprune from this folder's records (asymprune.json, train.json, "
              "vocab.json) and what later steps measured; asymprune rewrites it when a later step measures this "
              "model. The source's own card, if it had one, is kept at the end. -->\n\n"
              f"A {config.get('model_type', 'seq2seq')} encoder-decoder made with asymprune: {made}.")
    sections = [header, _lineage(state), _layers(prune), _training(train), _vocabulary(vocab),
                _evaluation(state.get("evaluations") or []), _latency(state.get("latency") or []), _use(name, config)]
    return "\n\n".join(s for s in sections if s) + "\n"
