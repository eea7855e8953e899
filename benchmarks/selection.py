"""Which layers to keep? paper/spread vs angular vs greedy-loss, on the tiny synthetic setup.

    python benchmarks/selection.py --work /tmp/selection     # ~35 min on 2 CPU cores

1. Fine-tune a t5-tiny base (6+6 layers) on the synthetic corpus.
2. For decoder-only (6/K) and encoder-only (K/6) pruning and each strategy (spread: the
   paper has no map for 6-layer stacks, and its maps are evenly spread; angular; greedy-loss,
   both scored on validation rows): prune the base, evaluate ROUGE-2 with no re-tuning, re-tune
   for the same short budget, evaluate again. A full model re-tuned the same way is the control.
3. Write benchmarks/results/selection.md.

Every step's output is kept under --work, so a rerun resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from asymprune.data import DataConfig
from asymprune.evaluate import EvalConfig, evaluate, save_evaluation
from asymprune.models import load_model, load_tokenizer
from asymprune.prune import CALIBRATED, CalibrationConfig, prune_folder, score_layers
from asymprune.rouge import lead_baseline
from asymprune.train import TrainConfig, train

STRATEGIES = ["spread", "angular", "greedy-loss"]
DATA = DataConfig(n=10_000)
SHAPE = dict(batch_size=32, per_device_batch_size=32, max_source_length=256, max_target_length=64,
             eval_samples=100, patience=0, logging_steps=50)


def step(out: Path, fn):
    """Run fn(out) unless out exists (a rerun resumes); return out."""
    if not out.exists():
        t = time.time()
        fn(out)
        print(f"  {out.name}: {time.time() - t:.0f} s", flush=True)
    return out


def rouge2(model_dir: Path, eval_cfg: EvalConfig, out: Path) -> float:
    def run(o):
        save_evaluation(evaluate(str(model_dir), "synthetic", eval_cfg, data=DATA), o)
    step(out, run)
    return json.loads((out / "metrics.json").read_text())["rouge2"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("selection-work"))
    ap.add_argument("--base-steps", type=int, default=1200)
    ap.add_argument("--retune-steps", type=int, default=150)
    ap.add_argument("--keep", type=int, default=2, help="layers kept in the pruned stack")
    ap.add_argument("--calibration-samples", type=int, default=32)
    ap.add_argument("--eval-samples", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "selection.md")
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    eval_cfg = EvalConfig(max_samples=args.eval_samples, max_new_tokens=64, batch_size=50, max_source_length=256)
    base_cfg = TrainConfig(learning_rate=1e-3, max_steps=args.base_steps, eval_steps=args.base_steps // 4, **SHAPE)
    retune_cfg = TrainConfig(learning_rate=5e-4, max_steps=args.retune_steps, eval_steps=args.retune_steps, **SHAPE)
    cal = CalibrationConfig("synthetic", "validation", args.calibration_samples, max_source_length=256,
                            max_target_length=64)

    print("base", flush=True)
    base = step(work / "base", lambda o: train("t5-tiny", o, "synthetic", base_cfg, data=DATA))
    base_r2 = rouge2(base, eval_cfg, work / "eval-base")
    control = step(work / "control-retuned", lambda o: train(str(base), o, "synthetic", retune_cfg, data=DATA))
    control_r2 = rouge2(control, eval_cfg, work / "eval-control")

    from asymprune.data import get_split, load_dataset_spec
    test = get_split(load_dataset_spec("synthetic", DATA), "test", "synthetic").select(range(args.eval_samples))
    lead3 = lead_baseline(test)["rouge2"]

    def score(o):
        model, tok = load_model(str(base)), load_tokenizer(str(base))
        o.mkdir()
        (o / "scores.json").write_text(json.dumps(score_layers(model, tok, cal), indent=1))
    scores = json.loads((step(work / "scores", score) / "scores.json").read_text())

    rows = []
    k = args.keep
    for kind, enc, dec in (("decoder", 6, k), ("encoder", k, 6)):
        for strategy in STRATEGIES:
            name = f"{kind}-{enc}-{dec}-{strategy}"
            print(name, flush=True)
            pruned_dir = work / f"pruned-{name}"

            def prune(o, strategy=strategy, enc=enc, dec=dec):
                prune_folder(str(base), o, encoder=enc, decoder=dec, strategy=strategy,
                             calibration=cal if strategy in CALIBRATED else None)
            step(pruned_dir, prune)
            record = json.loads((pruned_dir / "asymprune.json").read_text())
            before = rouge2(pruned_dir, eval_cfg, work / f"eval-{name}-noretune")
            retuned = step(work / f"retuned-{name}", lambda o, p=pruned_dir: train(str(p), o, "synthetic",
                                                                                     retune_cfg, data=DATA))
            after = rouge2(retuned, eval_cfg, work / f"eval-{name}-retuned")
            rows.append((kind, f"{enc}/{dec}", strategy, record["kept"][kind], before, after))

    cmd = "python benchmarks/selection.py " + " ".join(sys.argv[1:])
    lines = [
        "# Layer selection on the tiny synthetic setup: spread vs angular vs greedy-loss",
        "",
        f"Command: `{cmd}` (2 CPU cores).",
        "",
        f"Setup: t5-tiny (6+6 layers, d_model 128) fine-tuned from scratch on the synthetic corpus for "
        f"{args.base_steps} steps (lr 1e-3, batch 32); each variant pruned from that base keeps {k} layers of one "
        f"stack, is evaluated with no re-tuning, then re-tuned for {args.retune_steps} steps (lr 5e-4, batch 32) "
        f"and evaluated again. ROUGE-2 (rouge-score, stemmer) on the first {args.eval_samples} test documents, "
        f"greedy decoding, up to 64 new tokens. angular and greedy-loss score layers on "
        f"{args.calibration_samples} validation rows (teacher-forced, no training). `paper` has no keep-map for "
        "6-layer stacks; `spread` (evenly spaced, first and last kept) is the paper's rule for them.",
        "",
        f"Base: ROUGE-2 {base_r2:.2f}. Re-tuned full-model control: {control_r2:.2f}. Lead-3: {lead3:.2f}.",
        "",
        "| pruned stack | enc/dec | strategy | kept | R2 no re-tune | R2 re-tuned | re-tuned − control |",
        "|---|---|---|---|---|---|---|",
        *[f"| {kind} | {v} | {s} | {kept} | {b:.2f} | {a:.2f} | {a - control_r2:+.2f} |"
          for kind, v, s, kept, b, a in rows],
    ]
    g = scores["greedy-loss"]
    lines += ["", f"Scores of the base's layers (`asymprune layers BASE --calibration synthetic "
              f"--calibration-samples {args.calibration_samples}`); greedy-loss base loss {g['base_loss']:.3f}:", "",
              "| stack | layer | angular distance | loss without it alone | greedy removal step |", "|---|---|---|---|---|"]
    for stack in ("encoder", "decoder"):
        order = g[stack]["removal_order"]
        for i, a in enumerate(scores["angular"][stack]):
            step_no = order.index(i) + 1 if i in order else "kept last"
            lines.append(f"| {stack} | {i} | {a:.3f} | {g[stack]['loss_without'][i]:.3f} | {step_no} |")
    lines += ["", "## Findings", "", "FINDINGS"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    if args.out.exists() and "## Findings" in args.out.read_text():  # keep findings written by hand
        text = text.replace("FINDINGS\n", args.out.read_text().split("## Findings\n", 1)[1].lstrip("\n"))
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
