"""Does `--compile` (static KV cache + torch.compile) pay on this machine? Eager vs compiled, interleaved.

    python benchmarks/compiled.py --model asymprune/assets/t5-tiny-synthetic --threads 2
    python benchmarks/compiled.py --model flan-t5-small --source-length 512 --new-tokens 64

One process holds the model twice: the eager path and the compiled one (asymprune.compiled, the
config `bench --compile` and `generate --compile` use). After the compiled path's warm-up calls
(the compilation), the two run alternately, A B A B ..., on the same seeded source ids with
exactly --new-tokens tokens (EOS suppressed), and the medians are compared. The tokens of every
call must be equal. Writes benchmarks/results/compiled.md (or --out).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_description  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="asymprune/assets/t5-tiny-synthetic", help="directory or preset")
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--source-length", type=int, default=256)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls per path and batch size (compiles)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "compiled.md")
    args = ap.parse_args(argv)

    import torch

    from asymprune.bench import default_threads, explicit_generation_config
    from asymprune.compiled import compiled_generation_config
    from asymprune.models import load_model

    threads = args.threads or default_threads()
    torch.set_num_threads(threads)
    model = load_model(args.model, presets=True)
    eager = explicit_generation_config(model)
    compiled = compiled_generation_config(eager, "cpu")
    gen = torch.Generator().manual_seed(0)
    sizes = [int(x) for x in args.batch_sizes.split(",")]
    ids = torch.randint(5, model.config.vocab_size, (max(sizes), args.source_length - 1), generator=gen)
    ids = torch.cat([ids, torch.full((max(sizes), 1), model.config.eos_token_id)], dim=1)

    def call(config, bs):
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=ids[:bs], attention_mask=torch.ones_like(ids[:bs]),
                                 generation_config=config, max_new_tokens=args.new_tokens,
                                 min_new_tokens=args.new_tokens)
        return (time.perf_counter() - start) * 1000, out

    rows, started = [], time.perf_counter()
    for bs in sizes:
        t0 = time.perf_counter()
        for _ in range(args.warmup):
            call(compiled, bs)
            call(eager, bs)
        warm_s = time.perf_counter() - t0
        times, equal = {"eager": [], "compiled": []}, True
        for _ in range(args.runs):
            ms_e, out_e = call(eager, bs)
            ms_c, out_c = call(compiled, bs)
            times["eager"].append(ms_e)
            times["compiled"].append(ms_c)
            equal &= torch.equal(out_e, out_c)
        e, c = statistics.median(times["eager"]), statistics.median(times["compiled"])
        rows.append((bs, e, c, e / c, equal, warm_s))
        print(f"batch {bs}: eager {e:.1f} ms, compiled {c:.1f} ms, {e / c:.2f}×, tokens equal: {equal}", flush=True)

    cmd = "python benchmarks/compiled.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = ["# The compiled HF path (`--compile`) vs eager, CPU", "",
             f"Machine: {machine_description('cpu')}; {threads} threads.", "",
             f"Command: `{cmd.strip()}` ({time.perf_counter() - started:.0f} s in all)", "",
             f"Model `{args.model}`; source {args.source_length} tokens, exactly {args.new_tokens} new tokens, "
             f"greedy; {args.warmup} warm-up calls per path (the compiled path compiles in them), then "
             f"{args.runs} calls per path, alternating; medians.", "",
             "| batch | eager ms | compiled ms | speed-up | tokens equal | warm-up s |", "|---|---|---|---|---|---|"]
    lines += [f"| {bs} | {e:.1f} | {c:.1f} | {x:.2f}× | {'yes' if q else 'NO'} | {w:.0f} |" for bs, e, c, x, q, w in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
