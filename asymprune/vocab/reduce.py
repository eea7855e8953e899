"""The `asymprune vocab` job: choose the tokens, rebuild the tokenizer, shrink the model, record it.

    job = prepare_vocabulary("runs/d2", Path("runs/d2-v8k"), "synthetic", VocabConfig(size=8000))  # checks only
    record = reduce_vocabulary("runs/d2", Path("runs/d2-v8k"), "synthetic", VocabConfig(size=8000))
    record["kept"], record["coverage"], record["params_after"]      # also written to OUT/vocab.json
    tokens = domain_tokens("runs/d2", "synthetic", VocabConfig())   # for a CTranslate2 vocabulary map

What is kept: every special token the model or tokenizer needs (pad, eos, unk, bos, decoder
start, the post-processor's tokens, ids named in the config and generation config); a
byte-level BPE's 256 byte tokens, so that any text still encodes and decodes exactly; the
single characters the data's tokens are made of; every token the train split's sources
(with the model's source prefix) and targets tokenize to. With `size`, exactly `size` tokens
in that order of priority: the special and byte tokens, the characters by frequency, the
data's tokens by frequency, then the tokenizer's own order (BPE: merge rank, i.e. id;
Unigram: piece score).
T5's sentinels (<extra_id_N>) exist for span-corruption pre-training and a summarizer never
sees them, so they are dropped unless the data uses them or `keep_sentinels` is set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError, first_line
from .model import model_required_ids, shrink_model
from .compare import CHUNK, compare_tokenization
from .tokenizer import RebuildableTokenizer

@dataclass
class VocabConfig:
    size: int | None = None        # tokens kept in total; None: every token the data uses plus the special ones
    split: str = "train"           # split whose sources and targets choose the tokens
    coverage_split: str = "test"   # split tokenized with both tokenizers for the coverage report
    keep_sentinels: bool = False   # also keep special tokens with no role (T5's <extra_id_N>)
    prefix: str | None = None      # source prefix; None: "summarize: " for T5-family models, "" otherwise

    def validate(self, size_flag: str = "--size") -> None:
        """`size_flag`: how the user gave `size` (--size, --vmap-size, vocab.size), for the messages."""
        if self.size is not None and (isinstance(self.size, bool) or self.size < 1):
            raise UsageError(f"{size_flag} {self.size} must be a positive number of tokens, e.g. 8000")


def count_tokens(tokenizer, rows, prefix: str, progress=None):
    """How often each id occurs in the sources (with `prefix`) and targets of `rows`."""
    import numpy as np

    counts = np.zeros(len(tokenizer), dtype=np.int64)
    task = progress.add_task("count tokens", total=len(rows)) if progress else None
    for start in range(0, len(rows), CHUNK):
        batch = rows[start:start + CHUNK]
        for texts in ([prefix + s for s in batch["source"]], batch["target"]):
            encoded = tokenizer(texts, verbose=False)["input_ids"]  # whole texts: no warning that they are long
            ids = np.concatenate([np.asarray(row, dtype=np.int64) for row in encoded])
            counts += np.bincount(ids, minlength=len(counts))[: len(counts)]
        if progress:
            progress.advance(task, len(batch["source"]))
    return counts


def select_ids(counts, required: set[int], rt, rows_in_model: int, size: int | None,
               excluded: set[int], closure: bool = True) -> list[int]:
    """Sorted old ids to keep: required ones, used ones by frequency, then the tokenizer's order.

    With `closure`, a token comes with the tokens its BPE merges pass through (needed when the
    tokenizer is rebuilt; a CTranslate2 vocabulary map restricts only the output, and needs none).
    """
    ancestors = rt.ancestors if closure else (lambda i: {i})
    kept = set()
    for i in required:
        kept |= ancestors(i)
    used = [i for i in range(len(counts)) if counts[i] > 0]
    rank = {i: r for r, i in enumerate(rt.fallback_order())}
    by_use = rt.char_ids(counts) + sorted(used, key=lambda i: (-counts[i], rank.get(i, len(rank))))
    if size is None:
        for i in by_use:
            kept |= ancestors(i)
    else:
        others = [i for i in rank if i < min(len(counts), rows_in_model) and counts[i] == 0 and i not in excluded]
        for i in by_use + others:
            if len(kept) >= size:
                break
            need = ancestors(i) - kept
            if len(kept) + len(need) <= size:
                kept |= need
    outside = sorted(i for i in kept if i >= rows_in_model)
    if outside:
        raise UsageError(f"token id {outside[0]} is beyond the model's {rows_in_model} embedding rows; the tokenizer "
                         "does not belong to this model: save the model's own tokenizer with it")
    return sorted(kept)


@dataclass
class VocabJob:
    """Everything `reduce_vocabulary` checked before the expensive work: data and tokenizer, no weights."""
    model_src: str
    out: Path | None
    dataset: str
    cfg: VocabConfig
    overwrite: bool
    config: object            # the model's transformers config
    tokenizer: object         # the model's tokenizer
    rt: object                # RebuildableTokenizer of it
    required: set             # ids kept whatever the data says (special and byte tokens)
    byte_ids: set             # of those, the byte tokens that let any text encode (byte-level BPE)
    excluded: set             # ids --size never adds unless the data uses them (sentinels)
    prefix: str               # source prefix used when counting
    splits: object            # the dataset's DatasetDict
    record: dict | None = None  # the source's asymprune.json (layers kept, ...), carried over; None: it has none


def prepare_vocabulary(model_src: str, out: Path | None, dataset: str, cfg: VocabConfig, data=None,
                       overwrite: bool = False, size_flag: str = "--size") -> VocabJob:
    """Every check that needs no weights: OUT (unless None), the tokenizer, --size, the dataset.

    `size_flag` names `cfg.size` in messages as the user gave it (export's --vmap-size).
    """
    from ..data import DataConfig, get_split, load_dataset_spec
    from ..fsutil import check_writable_out
    from ..models import family_for, load_config, load_tokenizer

    cfg.validate(size_flag)
    if out is not None:
        check_writable_out(Path(out), overwrite, inputs=[model_src, dataset])
    config = load_config(model_src)
    tokenizer = load_tokenizer(model_src)
    if tokenizer is None:
        raise UsageError(f"'{model_src}' has no tokenizer; save the model's tokenizer into its directory")
    rt = RebuildableTokenizer(tokenizer)
    generation_config = load_generation_config(model_src)
    sentinels = rt.extra_special_ids()
    byte_ids = rt.byte_ids()
    required = rt.required_ids() | model_required_ids(config, generation_config) | byte_ids
    required |= sentinels if cfg.keep_sentinels else set()
    missing = sorted(i for i in required if i not in rt.tokens)
    if missing:
        raise UsageError(f"the model's config names token id {missing[0]}, which its tokenizer does not have; "
                         "fix the config's token ids or save the matching tokenizer")
    excluded = set() if cfg.keep_sentinels else sentinels
    _check_size(cfg.size, size_flag, rt, required, byte_ids, excluded, config.vocab_size)
    splits = load_dataset_spec(dataset, data or DataConfig())
    get_split(splits, cfg.split, dataset)
    prefix = cfg.prefix if cfg.prefix is not None else family_for(config).source_prefix(config)
    return VocabJob(model_src, out and Path(out), dataset, cfg, overwrite, config, tokenizer, rt, required,
                    byte_ids, excluded, prefix, splits, _source_record(Path(model_src)))


def _source_record(src: Path) -> dict | None:
    """The source's asymprune.json, read before any work: a damaged one is an error, not an absent one."""
    path = src / "asymprune.json"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"{path} cannot be read ({str(e)[:100]}); restore it from the model's source, or "
                         "delete it to reduce the vocabulary without carrying the pruning record") from None
    if not isinstance(record, dict):
        raise UsageError(f"{path} is not a JSON object; restore it from the model's source, or delete it")
    return record


def load_generation_config(model_src: str):
    """The model's GenerationConfig, or None where it has no generation_config.json (the config holds
    the ids then); a file that exists and cannot be read is an error, not an absent file."""
    from transformers import GenerationConfig

    local = Path(model_src) / "generation_config.json"
    if Path(model_src).is_dir() and not local.exists():
        return None
    try:
        return GenerationConfig.from_pretrained(model_src)
    except (OSError, ValueError) as e:
        if local.exists():
            raise UsageError(f"{local} cannot be read ({first_line(e)[:120]}); fix or delete it") from None
        return None  # a hub id without one


def _check_size(size: int | None, flag: str, rt, required: set, byte_ids: set, excluded: set, rows: int) -> None:
    """--size between the tokens the model needs and the tokens the tokenizer has."""
    if size is None:
        return
    floor = len(set().union(*(rt.ancestors(i) for i in required)))
    if size < floor:
        what = f"{floor} tokens this model needs ({floor - len(byte_ids)} special tokens and {len(byte_ids)} " \
               "byte tokens, so that any text still encodes)" if byte_ids else \
               f"{floor} special tokens this model needs (pad, eos, unk, ...)"
        raise UsageError(f"{flag} {size} is smaller than the {what}; pass {flag} {floor} or more")
    keepable = {i for i in rt.tokens if i < rows}
    if size > len(keepable):
        raise UsageError(f"{flag} {size} is more than the {len(keepable)} tokens this tokenizer has; pass {flag} "
                         f"{len(keepable)} or less, or leave it out to keep the tokens the data uses")
    if size > len(keepable - excluded):
        raise UsageError(f"{flag} {size} is more than the {len(keepable - excluded)} tokens this tokenizer has "
                         f"besides its {len(excluded & keepable)} sentinels (<extra_id_N>); pass {flag} "
                         f"{len(keepable - excluded)} or less, or --keep-sentinels to count them")


def _choose(job: VocabJob, progress=None, closure: bool = True):
    """(token counts of the split, sorted old ids to keep)."""
    counts = count_tokens(job.tokenizer, job.splits[job.cfg.split], job.prefix, progress)
    return counts, select_ids(counts, job.required, job.rt, job.config.vocab_size, job.cfg.size, job.excluded,
                              closure)


def domain_tokens(model_src: str, dataset: str, cfg: VocabConfig, data=None, progress=None,
                  size_flag: str = "--size") -> list[str]:
    """The tokens the data uses (and --size adds), in id order: for a CTranslate2 vocabulary map.

    The tokenizer stays whole, so unlike `reduce_vocabulary` no BPE merge tokens are added.
    """
    job = prepare_vocabulary(model_src, None, dataset, cfg, data, size_flag=size_flag)
    return [job.rt.tokens[i] for i in _choose(job, progress, closure=False)[1]]


def reduce_vocabulary(model_src: str, out: Path, dataset: str, cfg: VocabConfig, data=None,
                      overwrite: bool = False, progress=None, job: VocabJob | None = None,
                      size_flag: str = "--size") -> dict:
    """Write MODEL with only the domain's tokens to OUT; return the record (also OUT/vocab.json).

    `size_flag` names `cfg.size` in messages as the user gave it (a sweep's vocab.size).
    """
    from ..fsutil import atomic_dir, write_json
    from ..models import load_model, load_tokenizer, param_counts
    from ..version import __version__

    job = job or prepare_vocabulary(model_src, out, dataset, cfg, data, overwrite, size_flag)
    rows, tokenizer = job.splits[cfg.split], job.tokenizer
    counts, kept = _choose(job, progress)
    used = counts > 0
    record = {
        "asymprune_version": __version__, "source": model_src, "dataset": dataset, "split": cfg.split,
        "prefix": job.prefix, "size": cfg.size, "keep_sentinels": cfg.keep_sentinels, "tokenizer_model": job.rt.kind,
        "original_rows": int(job.config.vocab_size), "original_tokens": len(tokenizer), "kept": len(kept),
        "special": len(job.required - job.byte_ids), "byte_tokens": len(job.byte_ids), "used": int(used.sum()),
        "used_kept": int(used[kept].sum()),
    }
    with atomic_dir(Path(out), overwrite=overwrite) as tmp:
        # The tokenizer first: checked as a user will load it, before any weights are read.
        job.rt.rebuild(kept).save_pretrained(tmp)
        new_tok = load_tokenizer(str(tmp))
        check = compare_tokenization(tokenizer, new_tok, kept, rows, job.prefix, progress, "check tokenizer")
        if check["word_mismatches"]:
            m = check["first_mismatch"]
            raise UsageError(f"cannot rebuild this tokenizer exactly: {check['word_mismatches']} in-domain words "
                             f"tokenize differently (e.g. ids {m['before']} became {m['after']}); please report it")
        record["verified"] = {k: check[k] for k in ("rows", "tokens", "word_mismatches")}
        cover = job.splits[cfg.coverage_split] if cfg.coverage_split in job.splits else None
        record["coverage"] = None if cover is None else {
            "split": cfg.coverage_split,
            **{k: v for k, v in compare_tokenization(tokenizer, new_tok, kept, cover, job.prefix, progress,
                                                     "coverage").items() if k != "first_mismatch"}}
        model = load_model(model_src)
        record["params_before"] = param_counts(model)
        record["tied_lm_head"] = shrink_model(model, kept)
        record["params_after"] = param_counts(model)
        model.save_pretrained(tmp)
        _write_tie_flag(tmp, record["tied_lm_head"])
        _write_asymprune_record(job.record, tmp, record)
        write_json(tmp / "vocab.json", {**record, "kept_ids": kept})
        from ..models.card import write_card
        write_card(tmp, model_src, Path(out).name)
    return record


def _write_tie_flag(folder: Path, tied: bool) -> None:
    from ..fsutil import write_json
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config["tie_word_embeddings"] = tied
    write_json(path, config)


def _write_asymprune_record(base: dict | None, folder: Path, record: dict) -> None:
    """Carry the source's asymprune.json (layers kept, ...), if it has one, with a `vocab` summary added."""
    from ..fsutil import write_json
    if base is None:
        return
    base = dict(base)
    base["vocab"] = {k: v for k, v in record.items() if k != "asymprune_version"} | {"record": "vocab.json"}
    write_json(folder / "asymprune.json", base)


def write_vmap(tokens: list[str], path: Path) -> None:
    """A CTranslate2 vocabulary map whose tokens are always candidates (the empty source n-gram).

    CTranslate2 adds unk, bos and eos itself; with translate_batch(use_vmap=True) the decoder
    scores only these tokens, and the model keeps its full vocabulary.
    """
    bad = [t for t in tokens if any(c.isspace() for c in t)]
    if bad:
        raise UsageError(f"token {bad[0]!r} contains white space, which a CTranslate2 vocabulary map cannot hold")
    path.write_text("\t" + " ".join(tokens) + "\n", encoding="utf-8")
