"""The speech study: the real Whisper tiny.en pruned, re-tuned, scored and timed; writes results/whisper.md.

    python benchmarks/whisper.py --out runs/whisper-study                    # ~30 min on 2 quiet cores
    python benchmarks/whisper.py --out runs/whisper-study --skip-bench ...   # the sweep and its report only
    python benchmarks/whisper.py --smoke --out /tmp/ws                        # minutes: tiny corpus, 2 steps
    python benchmarks/whisper.py --from-demo demo-speech-out                  # steps 3-4 on `demo --speech`'s run

Four named steps, each reusing what a previous run finished:
1. data: `synthetic-speech` with --train training, 40 validation and --test test utterances,
   written as rows files (OUT/data/{train,validation,test}.jsonl: audio path, text), read back
   as any user's rows folder;
2. sweep: the speech demo's recipe and grid (asymprune.sweep.demo.SPEECH_SPEC: distil-whisper's
   re-tune, 60 KD steps of 16, the control re-tuned alike) on that folder, then the report: WER
   against the control with paired bootstrap intervals (OUT/report). The sweep's own bench is a
   short batch-1 one; the speed figures of the result come from step 3;
3. bench: ONE interleaved run (asymprune.bench.run_bench) of HF float32 and CTranslate2 int8
   workers of the full model and --bench-variants, at batch 1, 8 and 16, on the test utterances
   with natural stopping (each call a batch of real 30-second windows), plus the full model
   assisted by --draft with the shared encoder (lossless, batch 1), twice: with the draft's whole
   head, and with a domain head (OUT/draft-vocab.json: the ids of the training split's transcripts,
   `asymprune draft-vocab`), the draft also timed alone with that head for its c;
4. write: results/whisper.md and whisper.json. The draft's cost ratio c is its decode ms per token
   (with the head it drafts with) over the full model's, both HF float32 at batch 1 in that same run;
   the predicted speed-up is
   Leviathan et al.'s over the decoding steps alone (asymprune.assist.predicted_speedup).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_description  # noqa: E402


def _args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="Working folder: data, sweep stages, report.")
    ap.add_argument("--from-demo", type=Path, help="Skip steps 1-2: time and report `asymprune demo --speech`'s "
                                                    "finished run in this folder (its 40 test utterances).")
    ap.add_argument("--train", type=int, default=400, help="Training utterances (the demo's 400).")
    ap.add_argument("--test", type=int, default=120, help="Test utterances: about 14 words each.")
    ap.add_argument("--bench-variants", default="4L/2L,2L/2L", help="Variants timed beside the full model.")
    ap.add_argument("--draft", default="4L/2L", help="The variant that drafts for the full model (lossless row).")
    ap.add_argument("--bench-docs", type=int, default=1, help="K: calls per round; batch b takes K*b utterances.")
    ap.add_argument("--runs", type=int, default=5, help="Timed rounds (5 at least for an interval: bench.speedup.MIN_ROUNDS).")
    ap.add_argument("--threads", type=int, default=None, help="Intra-op threads of every worker (default: all).")
    ap.add_argument("--skip-bench", action="store_true", help="Steps 1, 2 and the report only.")
    ap.add_argument("--smoke", action="store_true", help="8 train / 4 test utterances, 2 steps, batch 1 and 2.")
    ap.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    if (args.out is None) == (args.from_demo is None):
        ap.error("pass --out DIR (a study of its own) or --from-demo DIR (a finished speech demo)")
    if args.train < 1 or args.test < 1 or args.runs < 1 or args.bench_docs < 1:
        ap.error("--train, --test, --runs and --bench-docs must be at least 1")
    return args


def write_data(out: Path, train: int, test: int, validation: int = 40) -> Path:
    """Step 1: the corpus as a rows folder (paths into the speech cache); rewritten only if absent."""
    from asymprune.speech import SpeechCorpusConfig, synthetic_speech
    folder = out / "data"
    if (folder / "test.jsonl").is_file():
        return folder
    splits = synthetic_speech(SpeechCorpusConfig(train=train, validation=validation, test=test))
    tmp = out / "data.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        with open(tmp / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({"audio": str(r.audio), "text": r.text}) + "\n")
    tmp.rename(folder)
    return folder


def study_spec(out: Path, data: Path, smoke: bool):
    """Step 2's sweep: the speech demo's (its recipe, bf16 where the CPU has it), on the rows folder, with a short
    batch-1 bench of its own."""
    from dataclasses import replace

    from asymprune.sweep.demo import demo_spec
    spec = replace(demo_spec(out, speech=True), name="whisper-study", datasets=[str(data)], data={},
                   bench={"batch_sizes": [1], "new_tokens": 16, "runs": 5, "warmup": 1}, output_dir=str(out / "sweep"))
    if smoke:
        spec = replace(spec, grid=[{"encoder": 4, "decoder": 2}], retrain={
            **spec.retrain, "max_steps": 2, "warmup_steps": 0, "eval_steps": 2, "batch_size": 4,
            "per_device_batch_size": 4})
    return spec


def run_study(out: Path, data: Path, smoke: bool) -> dict:
    """Step 2: import tiny.en, run the sweep, write its report; {variant label: trained model folder}."""
    from asymprune.models.whisper_folder import import_ct2_whisper
    from asymprune.report import write_report
    from asymprune.sweep import run_sweep
    from asymprune.sweep.demo import SPEECH_MODEL
    if not (out / SPEECH_MODEL).is_dir():
        import_ct2_whisper(out / SPEECH_MODEL)
    spec = study_spec(out, data, smoke)
    run_sweep(spec)
    write_report(out / "sweep" / "results.db", out / "report", overwrite=True)
    return finished_models(out / "sweep" / "results.db", out / SPEECH_MODEL)


def finished_models(db_path: Path, full: Path) -> dict:
    """{variant label: trained model folder} of a finished sweep, and each stage's seconds."""
    import sqlite3
    if not db_path.is_file():
        raise SystemExit(f"error: {db_path} not found; run the sweep (or `asymprune demo --speech`) first")
    with sqlite3.connect(db_path) as db:
        rows = db.execute("select r.variant, r.kind, r.encoder_layers, r.decoder_layers, s.output, s.seconds "
                          "from runs r join stages s on s.run_id = r.id where s.stage = 'train' and "
                          "s.status = 'done'").fetchall()
        seconds = db.execute("select r.variant, s.stage, s.seconds from runs r join stages s on s.run_id = r.id "
                             "where s.status = 'done'").fetchall()
    models = {"full": str(full)}
    for variant, kind, enc, dec, output, _ in rows:
        models["control" if kind == "control" else f"{enc}L/{dec}L"] = output
    return {"models": models, "stage_seconds": [list(r) for r in seconds]}


def write_vocab(models: dict, data, out: Path) -> dict:
    """The draft's domain vocabulary: the ids of the training split's transcripts and the special ones."""
    from asymprune.vocab import write_draft_vocab
    path = out / "draft-vocab.json"
    ids = write_draft_vocab(models["full"], str(data[0]), path, data[1], "train", overwrite=True)
    return {"path": str(path), "rows": len(ids)}


def run_speed(models: dict, data, args, vocab: str) -> dict:
    """Step 3: one interleaved run of HF float32 and CTranslate2 int8 workers, and the lossless rows (the draft's
    whole head, its domain head `vocab`), with the draft timed alone with that head."""
    from asymprune.assist import AssistConfig
    from asymprune.bench import BenchConfig, run_bench
    from asymprune.bench.backends import Setup
    names = ["full", *[v for v in args.bench_variants.split(",") if v]]
    missing = [n for n in [*names, args.draft] if n not in models]
    if missing:
        raise SystemExit(f"error: no finished model for {', '.join(missing)} in the sweep; have {', '.join(models)}")
    ct2 = Setup(backend="ct2", ct2_compute_type="int8")
    entries = [models[n] for n in names] + [(models[n], ct2) for n in names]
    entries += [(models[args.draft], Setup(draft_vocab=vocab))]  # the draft alone with its domain head: its c
    entries += [] if args.draft in names else [models[args.draft]]
    cfg = BenchConfig(batch_sizes=[1, 2] if args.smoke else [1, 8, 16], new_tokens=64, dataset=str(data[0]),
                      docs=args.bench_docs, runs=args.runs, warmup=1, threads=args.threads,
                      assistants=[models[args.draft], (models[args.draft], AssistConfig(share_encoder=True,
                                                                                        draft_vocab=vocab))],
                      assist=AssistConfig(share_encoder=True))
    return run_bench(entries, cfg, data=data[1])


def identity_check(models: dict, data, draft: str, n: int, vocab: str) -> dict:
    """How many of the first n test transcripts the assisted full model writes exactly as the full model alone
    (both greedy, batch 1: a batched transcript may differ in its last float bits), with the draft's whole head
    and with its domain head `vocab`."""
    from asymprune.assist import AssistConfig
    from asymprune.evaluate import EvalConfig, evaluate
    common = dict(max_samples=n, batch_size=1, max_new_tokens=64)
    alone = evaluate(models["full"], str(data[0]), EvalConfig(**common), data=data[1])
    checks = {}
    for key, head in (("whole", None), ("domain", vocab)):
        assist = AssistConfig(share_encoder=True, draft_vocab=head)
        assisted = evaluate(models["full"], str(data[0]), EvalConfig(**common, assistant=models[draft], assist=assist),
                            data=data[1])
        same = sum(a["prediction"] == b["prediction"] for a, b in zip(alone["predictions"], assisted["predictions"]))
        # generate() time over the n utterances, one block after the other (not interleaved: a second opinion
        # beside the bench's interleaved row, with n times its documents)
        checks[key] = {"identical": same, "n": len(alone["predictions"]),
                       "assistant": assisted["metrics"]["assistant"],
                       "seconds_alone": alone["metrics"]["generate_seconds"],
                       "seconds_assisted": assisted["metrics"]["generate_seconds"]}
    return checks


def lossless_row(report: dict, models: dict, draft: str, vocab: str | None = None) -> dict:
    """α, c, predicted and measured speed-up of the full model assisted by `draft` (HF float32, batch 1), with its
    whole head or (`vocab`) its domain head; c is the draft's decode time alone with that same head."""
    from asymprune.assist import predicted_speedup
    rows = [r for r in report["results"] if r["batch_size"] == 1 and r["backend"] == "hf"]
    full = next(r for r in rows if r["model"] == models["full"])
    head = f"domain head {vocab}" if vocab else None
    alone = next(r for r in rows if "acceptance_rate" not in r and r["model"].startswith(models[draft])
                 and (head in r["model"] if head else r["model"] == models[draft]))
    assisted = next(r for r in rows if "acceptance_rate" in r and r["draft"]["settings"].get("draft_vocab") == vocab)
    stats = assisted["draft"]
    c = alone["decode_ms_per_token"] / full["decode_ms_per_token"]
    alpha = stats.get("alpha")
    return {"draft": draft, "acceptance_rate": assisted["acceptance_rate"], "alpha": alpha, "cost_ratio": c,
            "tokens_per_round": stats.get("tokens_per_round"), "draft_tokens_per_round": stats.get("draft_tokens_per_round"),
            "predicted_speedup": predicted_speedup(alpha, stats["draft_tokens_per_round"], c) if alpha else None,
            "speedup": assisted["speedup"], "speedup_low": assisted["speedup_low"],
            "speedup_high": assisted["speedup_high"], "full_ms": full["median_ms"], "assisted_ms": assisted["median_ms"],
            "rounds": len(assisted["runs_ms"])}


def main(argv=None) -> None:
    args = _args(argv)
    if args.smoke:
        args.train, args.test, args.runs, args.bench_variants = 8, 4, 1, args.draft
    from asymprune.data import DataConfig
    started = time.time()
    if args.from_demo:  # the demo's own dataset: synthetic-speech, its training size, its 40 test utterances
        from asymprune.sweep.demo import SPEECH_MODEL, SPEECH_SPEC
        args.out = args.from_demo
        data = ("synthetic-speech", DataConfig(**SPEECH_SPEC["data"]))
        study = finished_models(args.out / "results.db", args.out / SPEECH_MODEL)
        study["demo_command"] = f"asymprune demo --speech --out {args.out}"
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        folder = write_data(args.out, args.train, args.test, 4 if args.smoke else 40)
        data = (str(folder), DataConfig())
        study = run_study(args.out, folder, args.smoke)
    result = {"command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
              "demo_command": study.pop("demo_command", None),
              "machine": machine_description(), "load_average_start": os.getloadavg(), "study": study,
              "report": str(args.out / "report" / "report.md")}
    if not args.skip_bench:
        vocab = write_vocab(study["models"], data, args.out)
        speed = run_speed(study["models"], data, args, vocab["path"])
        (args.out / "whisper-bench.json").write_text(json.dumps(speed, indent=1, default=str))  # kept if what follows fails
        identity = identity_check(study["models"], data, args.draft, 4 if args.smoke else 40, vocab["path"])
        result.update(bench=speed, draft_vocab=vocab, lossless=lossless_row(speed, study["models"], args.draft),
                      identity=identity["whole"], identity_domain=identity["domain"],
                      lossless_domain=lossless_row(speed, study["models"], args.draft, vocab["path"]))
    result["seconds"] = time.time() - started
    from whisper_render import render
    name = "whisper-smoke" if args.smoke else "whisper"
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    (args.results / f"{name}.md").write_text(render(result, args.out))
    print(f"wrote {args.results / (name + '.md')} in {result['seconds']:.0f} s")


if __name__ == "__main__":
    main()
