"""Token ids for a split, truncated to the limits, with a count of what was cut.

    tokenized, report = tokenize(ds["train"], tokenizer, prefix="summarize: ")
    truncation_line("train", report, 1024, 256)     # 'train: truncated 3/100 sources (> 1024 tokens), ...'
"""

from __future__ import annotations

def tokenize(ds, tokenizer, *, prefix: str = "", max_source_length: int = 1024,
             max_target_length: int | None = 256):
    """Token ids of `source` (and, with a target length, `labels`), truncated, plus a report.

    The report counts rows longer than the limits: {"rows", "sources_truncated", "targets_truncated"}.
    """
    def encode(texts, max_length, target=False):
        # Targets go through text_target=, so tokenizers with a separate target side (Marian's
        # target vocabulary, mBART's target language code) encode labels the way the model expects.
        def call(**kwargs):
            return tokenizer(text_target=texts, **kwargs) if target else tokenizer(texts, **kwargs)
        # Overflowing tokens come back as extra rows of the same sample: the first row is the
        # truncated text, and a sample with more than one row was truncated.
        enc = call(max_length=max_length, truncation=True, return_overflowing_tokens=True)
        owners = enc.get("overflow_to_sample_mapping")
        if owners is None:  # tokenizers without overflow support: measure the full length instead
            full = call()["input_ids"]
            return call(max_length=max_length, truncation=True), [len(f) > max_length for f in full]
        first = [i for i, o in enumerate(owners) if i == 0 or owners[i - 1] != o]
        counts = [0] * len(texts)
        for o in owners:
            counts[o] += 1
        return {k: [enc[k][i] for i in first] for k in ("input_ids", "attention_mask")}, [c > 1 for c in counts]

    def batch(rows):
        out, truncated = encode([prefix + s for s in rows["source"]], max_source_length)
        out = {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"],
               "source_truncated": truncated}
        if max_target_length is not None:
            labels, truncated = encode(rows["target"], max_target_length, target=True)
            out.update(labels=labels["input_ids"], target_truncated=truncated)
        return out

    tokenized = ds.map(batch, batched=True, remove_columns=ds.column_names)
    report = {"rows": len(ds), "sources_truncated": sum(tokenized["source_truncated"])}
    if max_target_length is not None:
        report["targets_truncated"] = sum(tokenized["target_truncated"])
    tokenized = tokenized.remove_columns([c for c in ("source_truncated", "target_truncated")
                                          if c in tokenized.column_names])
    return tokenized, report


def truncation_line(name: str, report: dict, max_source_length: int, max_target_length: int | None = None) -> str:
    """'train: truncated 3/100 sources (> 1024 tokens), 0/100 targets (> 256 tokens)'; a count the family's
    encoding does not report is left out (speech: no source is cut)."""
    parts = []
    if "sources_truncated" in report:
        parts.append(f"{report['sources_truncated']:,}/{report['rows']:,} sources (> {max_source_length} tokens)")
    if "targets_truncated" in report:
        parts.append(f"{report['targets_truncated']:,}/{report['rows']:,} targets (> {max_target_length} tokens)")
    return f"{name}: truncated {', '.join(parts)}" if parts else f"{name}: {report['rows']:,} rows"
