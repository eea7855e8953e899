"""Model cards: a README.md in the hub's format in every folder asymprune writes, updated by later steps.

    write_card(tmp, "runs/base", "d3")    # init, prune, train, vocab: rendered from the folder's own records
    add_evaluation("runs/d3-ft", metrics, Path("runs/d3-ft/eval-synthetic-test"))  # evaluate: the scores
    add_latency("stages/train-ab12", rows, env, "stages/bench-cd34")               # a sweep's bench: latency

The card is made with huggingface_hub's ModelCard and ModelCardData: YAML front matter with
`base_model`, `library_name`, `tags` (`asymprune`, `pruned` where layers were removed, ...),
`datasets`, `metrics` and a `model-index` of the scores (each metric's names and `type`, from the metric
registry: ROUGE for summaries, WER/CER for transcripts), and a body rendered from the records in
the folder (`asymprune.json`, `train.json`, `vocab.json`; `card_text.py`). What no record holds (the
source, the scores, the latency) lives under the front matter's `asymprune` key, so a later step
re-renders the whole card instead of appending to it: one row per dataset and split, one per
latency setup and batch size. A card that the source folder already had (one asymprune did not
write) is never replaced: it is kept, as it was, below the asymprune sections, and carried on by
every later step; a hub source's card is linked.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..fsutil import atomic_file
from ..version import __version__
from .card_text import (SOURCE_MARK, body, dataset_names, eval_results, has_pruned_layers, made_line,
                        metric_names)
from .families import Family, family_of_type

KEY = "asymprune"           # the front matter's key for what the card holds beyond the folder's records
RECORDS = {"prune": "asymprune.json", "train": "train.json", "vocab": "vocab.json"}
INHERITED = ("license", "license_name", "license_link", "language")  # what a derived model keeps of its source's card


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):  # checked by files.check_files before any command reads it
        return None


def _parse(text: str):
    """(ModelCard or None, whether asymprune wrote it) of a README.md's text."""
    from huggingface_hub import ModelCard
    if not text.startswith("---"):
        return None, False
    try:
        card = ModelCard(text, ignore_metadata_errors=True)
    except Exception:  # front matter that is not YAML (or not a mapping): someone's text, kept as it is
        return None, False
    return card, isinstance(card.data.to_dict().get(KEY), dict)


def _kept_card(source: str, text: str, card) -> str:
    """A card asymprune did not write, kept whole below the asymprune sections."""
    meta = "" if card is None else (f"\n\n<details><summary>its metadata</summary>\n\n```yaml\n"
                                     f"{card.data.to_yaml()}\n```\n\n</details>")
    text = card.text if card is not None else text
    return (f"{SOURCE_MARK}\n## The source's model card\n\nThe card of `{source}`, as it was:{meta}\n\n"
            f"{text.strip()}\n")


def _from_source(source: str | None) -> tuple[str, dict, list]:
    """(the card text to keep from `source`, the metadata a derived model inherits from it, the
    asymprune steps that made the source)."""
    if not source:
        return "", {}, []
    folder = Path(source).expanduser()
    if not folder.is_dir():  # "org/name" is a hub id: link its card (a bare name may be a preset)
        return (f"{SOURCE_MARK}\n## The source's model card\n\nSee https://huggingface.co/{source}.\n"
                if source.count("/") == 1 else ""), {}, []
    readme = folder / "README.md"
    if not readme.is_file():
        return "", {}, []
    text = readme.read_text(encoding="utf-8")
    card, ours = _parse(text)
    inherited = {k: v for k, v in (card.data.to_dict() if card else {}).items() if k in INHERITED and v}
    if ours:  # carry on what it kept of its own source, and its steps
        theirs = card.data.to_dict()[KEY]
        lineage = list(theirs.get("lineage") or []) + [{"model": source, "made": theirs.get("made")}]
        return (SOURCE_MARK + card.text.split(SOURCE_MARK, 1)[1] if SOURCE_MARK in card.text else ""), inherited, \
            lineage
    return _kept_card(source, text, card), inherited, []


def _render(folder: Path, name: str, state: dict, kept: str, inherited: dict):
    from huggingface_hub import ModelCard, ModelCardData

    records = {k: _read_json(folder / f) for k, f in RECORDS.items()}
    config = _read_json(folder / "config.json") or {}
    prune, train = records["prune"], records["train"]
    vocab = records["vocab"] or (prune or {}).get("vocab")
    recipe = (train or {}).get("recipe") or {}
    family = family_of_type(config.get("model_type")) or Family()  # a type no family claims: the defaults
    tags = ["asymprune", config.get("model_type"), *family.card_tags]
    tags += ["pruned"] if has_pruned_layers(prune) else []
    tags += ["distillation"] if recipe.get("distill_from") else []
    tags += ["domain-vocabulary"] if vocab else []
    tags += ["random-weights"] if state.get("preset") and not train else []
    state["made"] = made_line(state, prune, train, vocab)
    evaluations = state.get("evaluations") or []
    datasets = dataset_names([(train or {}).get("dataset"), (vocab or {}).get("dataset"),
                              *(e["dataset"] for e in evaluations)])
    data = ModelCardData(
        base_model=state.get("source"), library_name="transformers", pipeline_tag=family.pipeline_tag,
        tags=[t for t in tags if t], datasets=datasets or None, metrics=metric_names(evaluations) or None,
        model_name=state.get("title", name), eval_results=eval_results(evaluations, family) or None, **inherited,
        **{KEY: state})
    text = body(name, state, prune, train, vocab, config)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{text}" + (f"\n{kept}" if kept else ""))


def _save(folder: Path, card) -> None:
    with atomic_file(Path(folder) / "README.md", encoding="utf-8") as f:
        f.write(card.content if card.content.endswith("\n") else card.content + "\n")


def write_card(folder: Path, source: str | None, name: str, *, preset: dict | None = None,
               title: str | None = None) -> None:
    """Write `folder`/README.md for a model just made from `source` (None: none, as for a preset).

    `name` is the folder's final name (`folder` may be the temporary one of an atomic write);
    `title` the card's heading and model-index name when not that (a sweep's run, t5-tiny/6/3);
    `preset` ({"name", "seed", "description"}) describes a model `asymprune init` made.
    """
    kept, inherited, lineage = _from_source(source)
    state = {"version": __version__, "source": source, "lineage": lineage, "evaluations": [], "latency": []}
    if title and title != name:
        state["title"] = title
    if preset:
        state["preset"] = preset
    _save(folder, _render(Path(folder), name, state, kept, inherited))


def _existing(folder: Path):
    """(state, kept card, inherited metadata) of a folder's asymprune card, or None when the folder has a
    card asymprune did not write, or none and no asymprune record (then it is not asymprune's to change)."""
    readme = folder / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        card, ours = _parse(text)
        if not ours:
            return None
        data = card.data.to_dict()
        kept = SOURCE_MARK + card.text.split(SOURCE_MARK, 1)[1] if SOURCE_MARK in card.text else ""
        return dict(data[KEY]), kept, {k: v for k, v in data.items() if k in INHERITED and v}
    records = [r for r in (_read_json(folder / f) for f in RECORDS.values()) if isinstance(r, dict)]
    if not records:
        return None
    source = next((r.get("source") for r in records if r.get("source")), None)
    return {"version": __version__, "source": source, "evaluations": [], "latency": []}, "", {}


def _update(model: str, field: str, entries: list[dict], key) -> Path | None:
    folder = Path(model).expanduser()
    if not folder.is_dir() or (found := _existing(folder)) is None:
        return None
    state, kept, inherited = found
    new = {key(e) for e in entries}
    state[field] = [e for e in state.get(field) or [] if key(e) not in new] + entries
    state["version"] = __version__
    try:
        _save(folder, _render(folder, folder.resolve().name, state, kept, inherited))
    except OSError:  # a folder the user may read but not write: the results stand without the card
        return None
    return folder / "README.md"


def add_evaluation(model: str, metrics: dict, out: Path) -> Path | None:
    """Put an evaluation's scores (a metrics.json) into the card of the model folder it measured;
    the path of the card, or None when `model` has no card of asymprune's (a preset, a hub id, a
    folder with a card of its own). One row per dataset, split and document count: re-evaluating
    replaces it. Assisted (draft-and-verify) evaluations measure a pair of models and are left out."""
    if metrics.get("assistant"):
        return None
    from ..metrics import metric_for
    metric = metric_for(metrics.get("metric") or "rouge")  # a metrics.json without one is ROUGE's
    entry = {k: metrics.get(k) for k in ("dataset", "split", "samples", *metric.keys, "gen_len")}
    entry.update(metric=metric.name, num_beams=(metrics.get("generation") or {}).get("num_beams"),
                 max_new_tokens=(metrics.get("generation") or {}).get("max_new_tokens"), results=str(out))
    interval = (metrics.get("intervals") or {}).get(metric.headline)
    if interval:
        entry["baseline"] = {"path": metrics["baseline"]["path"], "delta": interval["delta"],
                             "low": interval["low"], "high": interval["high"]}
    return _update(model, "evaluations", [entry], lambda e: (e["dataset"], e["split"], e["samples"]))


def add_latency(model: str, rows: list[dict], env: dict, bench: Path, baseline: str) -> Path | None:
    """Put a bench's rows of one model (from one interleaved run) into its card; None as for
    `add_evaluation`. One row per setup (backend, dtype, device, work) and batch size: re-benching
    replaces it. `baseline` names the model the speed-ups are over."""
    entries = [{"batch_size": r["batch_size"], "median_ms": r["median_ms"], "speedup": r.get("speedup"),
                "speedup_low": r.get("speedup_low"), "speedup_high": r.get("speedup_high"), "baseline": baseline,
                "runs": len(r.get("runs_ms") or []), "backend": r.get("backend", env.get("backend")),
                "dtype": r.get("dtype", env.get("dtype")),
                "device": env.get("device"), "hardware": env.get("gpu") or env.get("cpu"),
                "threads": env.get("threads"), "source_length": env.get("source_length"),
                "new_tokens": env.get("new_tokens"), "dataset": env.get("dataset"), "inputs": env.get("inputs"),
                "gen_len": r.get("generated_tokens_mean"), "bench": str(bench)} for r in rows]
    return _update(model, "latency", entries, lambda e: (e["backend"], e["dtype"], e["device"], e["source_length"],
                                                         e["new_tokens"], e["dataset"], e["batch_size"]))
