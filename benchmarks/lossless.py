"""Lossless draft-and-verify on CPU, batch 1: the full model alone vs assisted by each draft.

    python benchmarks/lossless.py --base runs/base --drafts runs/d61-ft,runs/d62-ft --docs 12 --new-tokens 64
    python benchmarks/lossless.py --smoke --out /tmp/lossless     # seconds, random t5-tiny models

One process holds the base and every draft; per synthetic test document it runs every mode once,
interleaved (the order rotates from document to document so that drift hits all alike), after
one untimed warm-up document:

- `full`: the base's plain greedy generate() (natural stopping, at most --new-tokens);
- `assisted by D`: the same call with draft D (asymprune.assist), whose tokens must equal `full`'s;
- `assisted by D, shared encoder` (with --share-encoder): D reads the base's encoder output;
- the cost ratio c: per model, the decode time per token of a fixed-length generation
  ((time for N tokens - time for 1 token) / (N - 1), EOS suppressed), draft over base.

The prediction is Leviathan et al. (2023): with per-token acceptance a and g drafts per round,
a round yields (1 - a^(g+1)) / (1 - a) tokens for the price of g*c + 1 base steps. It covers the
decoding steps only: the encoder pass (and the draft's own encoder pass, unless shared) is
outside it. Writes OUT/lossless.md and OUT/lossless.json (lossless-smoke.* with --smoke).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_description, machine_name  # noqa: E402


def _args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", help="The converged full model (a directory).")
    ap.add_argument("--drafts", help="Comma-separated drafts: pruned, re-tuned variants of --base.")
    ap.add_argument("--docs", type=int, default=12, help="Synthetic test documents timed (after 1 warm-up).")
    ap.add_argument("--new-tokens", type=int, default=64, help="Generated tokens at most (natural stopping).")
    ap.add_argument("--max-source-length", type=int, default=1024)
    ap.add_argument("--draft-tokens", type=int, default=20, help="g: drafts per round at most (transformers: 20).")
    ap.add_argument("--draft-confidence", type=float, default=0.4, help="End a round below this probability.")
    ap.add_argument("--share-encoder", action="store_true", help="Also time each draft reading the base's encoder.")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's).")
    ap.add_argument("--smoke", action="store_true", help="Random t5-tiny base, 6/1 and 6/2 drafts, 1 short doc.")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    if args.docs < 1 or args.new_tokens < 2:
        ap.error("--docs must be at least 1 and --new-tokens at least 2")
    if not args.smoke and not (args.base and args.drafts):
        ap.error("pass --base DIR --drafts DIR,DIR (or --smoke)")
    return args


def _smoke_models(root: Path) -> tuple[str, list[str]]:
    from asymprune import prune_layers
    from asymprune.models import build_preset
    paths = []
    for dec in (6, 1, 2):
        model, tokenizer = build_preset("t5-tiny", seed=1)
        if dec != 6:
            prune_layers(model, decoder=dec, strategy="spread")
        path = root / f"t5-tiny-6-{dec}"
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
        paths.append(str(path))
    return paths[0], paths[1:]


def _greedy(model, new_tokens: int, fixed: bool):
    from transformers import GenerationConfig
    c = model.config
    return GenerationConfig(max_new_tokens=new_tokens, min_new_tokens=new_tokens if fixed else None,
                            do_sample=False, num_beams=1, use_cache=True, decoder_start_token_id=c.decoder_start_token_id,
                            eos_token_id=c.eos_token_id, pad_token_id=c.pad_token_id)


def _timed(model, ids, gen) -> tuple[float, list[int]]:
    import torch
    with torch.inference_mode():
        start = time.perf_counter()
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=gen)
        return time.perf_counter() - start, out[0].tolist()


def measure(base: str, drafts: list[str], args) -> dict:
    """Every mode on every document, interleaved; per-mode times, tokens and draft statistics."""
    import torch

    from asymprune.assist import (AssistConfig, DraftStats, assisted_generate, check_draft_sources, confidence_adapts,
                                  encoders_equal)
    from asymprune.data import load_rows
    from asymprune.models import family_for, load_model, load_tokenizer

    for d in drafts:
        check_draft_sources(base, d, args.share_encoder)
    if args.threads:
        torch.set_num_threads(args.threads)
    full = load_model(base).eval()
    tokenizer = load_tokenizer(base)
    models = {d: load_model(d).eval() for d in drafts}
    rows = load_rows("synthetic", "test", args.docs + 1)
    prefix = family_for(full.config).source_prefix(full.config)
    docs = [tokenizer(prefix + text, truncation=True, max_length=args.max_source_length,
                      return_tensors="pt").input_ids for text in rows["source"]]
    natural, fixed, first = (_greedy(full, args.new_tokens, False), _greedy(full, args.new_tokens, True),
                             _greedy(full, 1, True))

    names = [Path(d).name for d in drafts]
    label = dict(zip(drafts, names if len(set(names)) == len(names) else drafts))  # short, if unambiguous
    modes = [("full", None, None)]
    for d in drafts:
        modes.append((f"assisted by {label[d]}", d, AssistConfig(args.draft_tokens, args.draft_confidence)))
        if args.share_encoder:
            modes.append((f"assisted by {label[d]}, shared encoder", d,
                          AssistConfig(args.draft_tokens, args.draft_confidence, share_encoder=True)))
    for name in [base, *drafts]:  # cost ratio: decode time per token of each model alone
        modes += [(f"cost:{name}:1", name, "first"), (f"cost:{name}:n", name, "fixed")]

    seconds = {m[0]: [] for m in modes}
    tokens, stats = {m[0]: [] for m in modes}, {m[0]: DraftStats() for m in modes}
    for i, ids in enumerate(docs):
        order = modes[i % len(modes):] + modes[:i % len(modes)]
        for name, draft, how in order:
            if draft is None:
                s, out = _timed(full, ids, natural)
            elif isinstance(how, AssistConfig):
                result = assisted_generate(full, models[draft], ids, torch.ones_like(ids), natural, how)
                s, out = result.seconds, result.sequences[0].tolist()
                if i:
                    stats[name].merge(result.stats)
            else:
                model = full if draft == base else models[draft]
                s, out = _timed(model, ids, first if how == "first" else fixed)
            if i:  # document 0 warms up
                seconds[name].append(s)
                tokens[name].append(out)

    def decode_ms(name):
        n = statistics.fmean(seconds[f"cost:{name}:n"]) - statistics.fmean(seconds[f"cost:{name}:1"])
        return 1000 * n / max(args.new_tokens - 1, 1)

    full_s = sum(seconds["full"])
    rows_out = []
    for name, draft, how in modes:
        if name.startswith("cost:"):
            continue
        row = {"mode": name, "draft": draft, "seconds": sum(seconds[name]),
               "ms_per_doc": 1000 * statistics.fmean(seconds[name]),
               "speedup": full_s / sum(seconds[name]),
               "identical_outputs": sum(a == b for a, b in zip(tokens[name], tokens["full"])),
               "generated_tokens": sum(len(t) - 1 for t in tokens[name])}
        if draft is not None:
            m = models[draft]
            s, c = stats[name], decode_ms(draft) / decode_ms(base)
            row.update(layers=family_for(m.config).layer_counts(m.config), encoder_identical=encoders_equal(full, m),
                       cost_ratio=c, draft_decode_ms_per_token=decode_ms(draft), settings=how.__dict__,
                       confidence_adapts=confidence_adapts(how), **s.to_dict())
            if s.alpha is not None:
                from asymprune.assist import predicted_speedup
                row["predicted_speedup"] = predicted_speedup(s.alpha, s.draft_tokens_per_round, c)
        rows_out.append(row)
    return {"base": base, "base_layers": family_for(full.config).layer_counts(full.config),
            "base_decode_ms_per_token": decode_ms(base), "docs": len(docs) - 1, "rows": rows_out,
            "threads": torch.get_num_threads()}


def _fmt(x, spec="{:.2f}"):
    return "n/a" if x is None else spec.format(x)


def _threshold(result: dict) -> str:
    """Whether transformers moved the confidence threshold during each call (scikit-learn installed)."""
    adapts = {r["confidence_adapts"] for r in result["rows"] if r.get("draft")}
    return ("a start value: transformers adapts it during each call, scikit-learn being installed" if adapts == {True}
            else "fixed: transformers adapts it only with scikit-learn installed and a threshold above 0"
            if adapts == {False}
            else "no draft rows")


def render(result: dict, args, command: str) -> str:
    docs = result["docs"]
    lines = [
        "# Lossless draft-and-verify on CPU, batch 1" + (" (smoke run: random weights)" if args.smoke else ""),
        "",
        f"Machine: {machine_description('cpu')}; {result['threads']} threads.",
        "",
        f"Command: `{command}`",
        "",
        f"Setup: base `{result['base']}` ({result['base_layers']['encoder']}/{result['base_layers']['decoder']} "
        f"layers); {docs} synthetic test documents after 1 warm-up document, greedy, natural stopping, at most "
        f"{args.new_tokens} new tokens; drafts propose up to {args.draft_tokens} tokens per round and stop a round "
        f"below probability {args.draft_confidence} ({_threshold(result)}). One process; per document every mode "
        "runs once, the order rotating. Speed-up: the base's total time over the mode's, same documents.",
        "",
        "| mode | draft enc/dec | identical outputs | acceptance rate | α per token | drafts per round ḡ | "
        "tokens per round | cost ratio c | predicted speed-up | measured speed-up | ms per doc |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        layers = f"{r['layers']['encoder']}/{r['layers']['decoder']}" if r.get("layers") else "-"
        if r["draft"] is None:
            lines.append(f"| {r['mode']} | - | - | - | - | - | 1 | - | - | 1.00× | {r['ms_per_doc']:.0f} |")
            continue
        lines.append(
            f"| {r['mode']} | {layers} | {r['identical_outputs']}/{docs} | {_fmt(r['acceptance_rate'], '{:.1%}')} | "
            f"{_fmt(r['alpha'])} | {_fmt(r['draft_tokens_per_round'], '{:.1f}')} | "
            f"{_fmt(r['tokens_per_round'])} | {r['cost_ratio']:.2f} | {_fmt(r.get('predicted_speedup'), '{:.2f}×')} | "
            f"{r['speedup']:.2f}× | {r['ms_per_doc']:.0f} |")
    lines += [
        "",
        "Acceptance rate: draft tokens kept / proposed, a round's kept tokens being the common prefix of what the draft "
        "proposed and what the base appended, EOS included. α: the per-token acceptance probability, estimated from "
        "the rounds (kept tokens over kept tokens plus rejections). Cost ratio c: the draft's decode time per token over "
        f"the base's ({result['base_decode_ms_per_token']:.1f} ms), each measured alone on the same documents with "
        f"{args.new_tokens} tokens forced. Predicted speed-up (Leviathan et al., 2023): (1 − α^(ḡ+1)) / ((1 − α)(ḡc + 1)); "
        "it covers decoding only, not the encoder pass nor the draft's own encoder pass.",
    ]
    if args.smoke:
        lines += ["", "Smoke run: random weights, so the acceptance rate and speed-ups mean nothing; it checks the "
                      "script end to end."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    args = _args(argv)
    command = "python benchmarks/lossless.py " + " ".join(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            args.docs, args.new_tokens, args.max_source_length = 1, min(args.new_tokens, 6), 48
            base, drafts = _smoke_models(Path(tmp))
        else:
            base, drafts = args.base, [d for d in args.drafts.split(",") if d]
        result = measure(base, drafts, args)
    text = render(result, args, command)
    stem = "lossless-smoke" if args.smoke else "lossless"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.md").write_text(text)
    (args.out / f"{stem}.json").write_text(json.dumps({"machine": machine_name("cpu"), "command": command,
                                                       **result}, indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main()
