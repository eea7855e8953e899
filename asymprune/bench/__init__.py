"""Generation latency, measured so that models can be compared fairly (see run.py for how).

    from asymprune.bench import BenchConfig, run_bench
    report = run_bench(["flan-t5-small", "runs/pruned"], BenchConfig(batch_sizes=[1, 8], runs=7))

    config.py    BenchConfig (what is timed) and its checks
    backends/    one registered entry per runtime (hf, ct2): how a model is loaded, fed, timed; Setup
    worker.py    one model per fresh process, timed on request
    run.py       check_bench, run_bench (the interleaved run)
    documents.py dataset mode: the K calls of documents each round times, the interval over them
    describe.py  the environment of a measurement, results_table
    speedup.py   speed-up as a ratio of medians, its paired bootstrap interval, how it is printed
"""

from .backends import BACKENDS, Backend, Runner, Setup, backend_for, explicit_generation_config, register_backend
from .config import DTYPES, BenchConfig, default_threads
from .describe import environment, results_table
from .run import check_bench, run_bench
from .speedup import speedup, speedup_interval, speedup_text

__all__ = ["BACKENDS", "Backend", "Runner", "Setup", "backend_for", "register_backend", "DTYPES", "BenchConfig",
           "default_threads", "check_bench", "environment", "results_table", "run_bench", "explicit_generation_config",
           "speedup", "speedup_interval", "speedup_text"]
