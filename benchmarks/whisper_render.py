"""results/whisper.md from benchmarks/whisper.py's result: WER against the control, one interleaved speed run, lossless."""

from __future__ import annotations

from pathlib import Path


def _f(x, spec="{:.2f}") -> str:
    return "–" if x is None or x != x else spec.format(x)


def _label(models: dict, name: str) -> str:
    """'4L/2L' for a model the run names by its folder (a CTranslate2 row: 'FOLDER (ct2 int8)')."""
    path = name.rsplit(" (", 1)[0] if name.endswith(")") else name
    head = " with its domain head" if "domain head" in name.rsplit(" (", 1)[-1] else ""
    return next((k + head for k, v in models.items() if v == path), name)


def _backend(row: dict) -> str:
    return "HF float32" if row["backend"] == "hf" else f"CTranslate2 {row['dtype'].split(':')[-1]}"


def wer_table(out: Path) -> str:
    """One line per run: WER, its difference from the control with the paired 95% interval, the verdict."""
    import pandas as pd
    runs = pd.read_csv(out / "report" / "runs.csv")
    speed = pd.concat([pd.read_csv(p) for p in sorted((out / "report").glob("speedup-*.csv"))])
    lines = ["| run | WER % | Δ WER vs control (95% CI), points | verdict | sweep bench, batch 1 |",
             "|---|---|---|---|---|"]
    for _, r in runs.iterrows():
        s = speed[speed.variant == r.variant]
        if r.kind == "full":
            delta, verdict = "–", "the starting point"
        elif s.empty:
            delta, verdict = "–", str(r.status)
        else:
            s = s.iloc[0]
            delta = (f"{s.wer_delta:+.2f} [{_f(s.wer_low, '{:+.2f}')}, {_f(s.wer_high, '{:+.2f}')}]"
                     if r.kind != "control" else "0 (the reference)")
            verdict = s.verdict
        name = {"full": "tiny.en (full, 4/4)", "control": "control (4/4, re-tuned)"}.get(r.kind, r.variant)
        lines.append(f"| {name} | {_f(r.get('wer'))} | {delta} | {verdict} | {_f(r.get('speedup_bs1'))}× |")
    return "\n".join(lines)


def speed_table(bench: dict, models: dict) -> str:
    rows = [r for r in bench["results"] if "acceptance_rate" not in r]
    lines = ["| model | backend | batch | median ms a call | speed-up vs HF float32 full (95% CI) | prefill ms | "
             "decode ms/token | tokens/utterance |", "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["batch_size"], r["backend"] != "hf")):
        ci = f" [{_f(r['speedup_low'])}, {_f(r['speedup_high'])}]" if r.get("speedup_low") is not None else ""
        lines.append(f"| {_label(models, r['model'])} | {_backend(r)} | {r['batch_size']} | "
                     f"{_f(r['median_ms'], '{:.0f}')} | {_f(r['speedup'])}×{ci} | {_f(r['prefill_ms'], '{:.0f}')} | "
                     f"{_f(r['decode_ms_per_token'])} | {_f(r['generated_tokens_mean'], '{:.1f}')} |")
    return "\n".join(lines)


def lossless_table(row: dict, identity: dict | None) -> str:
    """Two rows: the bench's interleaved one (few documents), and the n test utterances of the identity check."""
    from asymprune.assist import predicted_speedup
    head = ["| measured on | identical transcripts | acceptance | α | draft tokens/round | tokens/round | c | "
            "predicted | measured | full | assisted |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    c = row["cost_ratio"]
    lines = [f"| bench: batch 1, 1 utterance × {row.get('rounds', 3)} interleaved rounds | – | "
             f"{_f(row['acceptance_rate'], '{:.1%}')} | {_f(row['alpha'])} | {_f(row['draft_tokens_per_round'])} | "
             f"{_f(row['tokens_per_round'])} | {_f(c)} | {_f(row['predicted_speedup'])}× | {_f(row['speedup'])}× "
             f"[{_f(row['speedup_low'])}, {_f(row['speedup_high'])}] | {_f(row['full_ms'], '{:.0f}')} ms | "
             f"{_f(row['assisted_ms'], '{:.0f}')} ms |"]
    if identity:
        a = identity["assistant"]
        predicted = predicted_speedup(a["alpha"], a["draft_tokens_per_round"], c) if a.get("alpha") else None
        timed = identity.get("seconds_alone")
        lines.append(f"| {identity['n']} test utterances, batch 1, each mode in one block | {identity['identical']}/"
                     f"{identity['n']} | {_f(a['acceptance_rate'], '{:.1%}')} | {_f(a['alpha'])} | "
                     f"{_f(a['draft_tokens_per_round'])} | {_f(a['tokens_per_round'])} | {_f(c)} | {_f(predicted)}× | "
                     + (f"{timed / identity['seconds_assisted']:.2f}× | {timed:.1f} s | "
                        f"{identity['seconds_assisted']:.1f} s |" if timed else "– | – | – |"))
    return "\n".join(head + lines)


def _recipe(out: Path) -> list[str]:
    """The sweep's data size and re-tune settings, as its spec.yaml holds them (the demo writes one)."""
    import yaml
    path = out / "spec.yaml"
    if not path.is_file():
        return []
    spec = yaml.safe_load(path.read_text())
    r = spec.get("retrain", {})
    keys = ("max_steps", "batch_size", "learning_rate", "lr_scheduler", "warmup_steps", "freeze_encoder",
            "freeze_embeddings", "pseudo_labels", "distill_from", "bf16", "group_by_length")
    return [f"Re-tune recipe (every variant and the control, from `{path.name}`): training utterances "
            f"{spec.get('data', {}).get('n')}; " + ", ".join(f"{k} {r[k]}" for k in keys if k in r) + ".\n"]


def render(result: dict, out: Path) -> str:
    models = result["study"]["models"]
    demo = f"; the models are those of `{result['demo_command']}`" if result.get("demo_command") else ""
    parts = [f"# The speech study: Whisper tiny.en, pruned and re-tuned\n\nCommand: `{result['command']}` "
             f"({result['seconds'] / 60:.0f} min in all){demo}.\n\nMachine: {result['machine']}; load average at the "
             f"start {', '.join(f'{x:.1f}' for x in result['load_average_start'])}.\n",
             *_recipe(out), "## Quality: WER against the re-tuned control\n", wer_table(out), ""]
    if "bench" in result:
        cfg = result["bench"]["config"]
        parts += ["## Speed: one interleaved run, HF float32 and CTranslate2 int8\n",
                  f"Batch sizes {cfg['batch_sizes']}; test utterances with natural stopping (at most "
                  f"{cfg['new_tokens']} new tokens); {cfg['docs']} call(s) of batch-size utterances per round, "
                  f"{cfg['runs']} timed rounds after {cfg['warmup']} warm-up; every ratio is against HF float32 "
                  "of the full model at the same batch size, in this same run.\n", speed_table(result["bench"], models),
                  "", "## Lossless: the full model verifying a re-tuned draft (batch 1)\n",
                  lossless_table(result["lossless"], result.get("identity")), ""]
        a = (result.get("identity") or {}).get("assistant") or result["lossless"]
        parts += [READING.format(c=result["lossless"]["cost_ratio"], tokens=a["tokens_per_round"]), ""]
        if "lossless_domain" in result:
            vocab = result["draft_vocab"]
            parts += [f"### The same draft with a domain head ({vocab['rows']:,} of 51,864 rows)\n",
                      DOMAIN.format(rows=vocab["rows"]),
                      lossless_table(result["lossless_domain"], result.get("identity_domain")), ""]
    return "\n".join(parts) + "\n"


READING = """How to read the lossless rows: c is the draft's decode time per token over the full model's (HF float32,
batch 1, both from the speed run above). Every draft step still reads the tied 51,864 x 384 output projection,
about 20M of tiny.en's 29M decoder parameters, so dropping decoder layers leaves most of a draft step in place
(c = {c:.2f} here); at {tokens:.1f} tokens a round the predicted factor (Leviathan et al., decoding steps only)
cannot reach much above 1. The measured one is lower still: each
round adds transformers' candidate-generation overhead, and the encoder pass (once, shared) is in both. The
lever that lowers c is a draft with a small head of its own: the next table."""

DOMAIN = """`--draft-vocab`: the draft's output projection is replaced in memory by {rows:,} rows, the token ids of the
training split's transcripts plus those tiny.en's configs name (`asymprune draft-vocab`), its logits scattered
back into the full width (-inf elsewhere), so every token is still the full model's greedy choice. c is the draft's
decode time per token alone with that head, in the same run; a token outside the domain is never proposed (the full
model writes it itself), which is what α loses.
"""
