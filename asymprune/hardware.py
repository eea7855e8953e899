"""This machine's limits, measured once and remembered: streaming-read bandwidth and matmul rate.

    bw = read_bandwidth(170_000_000, threads=2)   # Bandwidth at a ~170 MB working set, both regimes
    bw.gb_s, bw.regime, bw.dram_gb_s               # e.g. 9.8, "dram", 9.6
    peak = matmul_rate("float32", threads=2)       # FlopRate: GFLOP/s of a square torch.matmul

What the figures are:
- A read is `torch.sum` over a float32 buffer of the size asked for (rounded up to two
  significant figures of MiB), with the thread count asked for, repeated for about a second
  after a warm-up: the figure is the best pass (as STREAM reports), the median and the load
  average are kept beside it. It is how a decoding step reads its weights: the same bytes, again and
  again. On CUDA the buffer is in device memory and each pass is timed between syncs.
- Two regimes. A working set that the caches hold between passes streams faster than one
  that must come from DRAM (twice as fast or more on these machines). So a read is measured
  at the size of the step being judged, and beside it at a size far larger than the last-level
  cache (the DRAM figure). A size is in the "cache" regime when its rate is at least
  CACHE_RATIO times the DRAM rate, else in the "dram" regime.
- Figures are cached per machine (CPU model and thread count, or GPU name) in machine-limits.json in
  $ASYMPRUNE_LIMITS_DIR, else $ASYMPRUNE_CACHE (default ~/.cache/asymprune), written atomically under
  a lock. A cache file that cannot be read is an error naming it, never trusted or replaced.
- Each measurement takes about a second. Measure on a quiet machine: other processes on the
  same cores lower every figure (`Bandwidth.load` says how busy the cores were).
"""

from __future__ import annotations

import fcntl
import math
import os
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, confloat, conint

from .errors import UsageError
from .fsutil import write_json

CACHE_NAME = "machine-limits.json"
FORMAT = "asymprune machine limits v1"
CACHE_RATIO = 1.5       # a working set reads in the "cache" regime at >= 1.5x the DRAM rate
SECONDS = 0.8           # timed seconds per figure (after a warm-up pass)
MIN_SAMPLES = 5
SAMPLE_S = 0.002        # a timed sample repeats the pass until it lasts this long (timer resolution)
MIB = 2 ** 20


class Figure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate: confloat(gt=0, allow_inf_nan=False)     # GB/s (read) or GFLOP/s (matmul): the best sample
    median: confloat(gt=0, allow_inf_nan=False)   # the median sample
    spread: confloat(ge=0, allow_inf_nan=False)   # (75th - 25th percentile) / median of the samples
    samples: conint(ge=1)
    load: confloat(ge=0, allow_inf_nan=False)     # 1-minute load average per core while measuring: > 1 is busy
    measured_at: str                              # UTC, ISO 8601
    torch: str                                    # torch version that measured it


class Machine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    read: dict[conint(gt=0), Figure] = {}         # bytes read per pass -> figure
    matmul: dict[str, Figure] = {}                # dtype -> figure


class CacheFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str
    machines: dict[str, Machine] = {}


@dataclass(frozen=True)
class Bandwidth:
    gb_s: float          # read rate at the working set's size (rounded up: `bytes`)
    bytes: int           # the size it was measured at
    regime: str          # "cache" or "dram" (see the module's docstring)
    dram_gb_s: float     # read rate far beyond the caches
    dram_bytes: int      # the size that was measured at
    machine: str         # what the figures are cached under
    source: str          # how they were measured, for a report
    load: float          # highest 1-minute load average per core while the two were measured (> 1: busy)


@dataclass(frozen=True)
class FlopRate:
    gflops: float        # GFLOP/s
    machine: str
    source: str          # how it was measured, for a report
    load: float          # 1-minute load average per core while it was measured (> 1: busy)


# ---------------------------------------------------------------- the machine

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        import platform
        return platform.processor() or platform.machine()


def machine_key(device: str = "cpu", threads: int | None = None) -> str:
    """'cpu | AMD EPYC | 2 threads' or 'cuda | NVIDIA H100 80GB HBM3'."""
    if device == "cuda":
        import torch
        return f"cuda | {torch.cuda.get_device_name(torch.cuda.current_device())}"
    return f"cpu | {cpu_model()} | {_threads(threads)} threads"


def _threads(threads: int | None) -> int:
    """`threads`, or every core this process may run on (the affinity mask, as the bench counts them)."""
    if threads:
        return threads
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def last_level_cache(device: str = "cpu") -> int:
    """Bytes of the largest cache (sysfs on CPU, L2 on CUDA); 0 where unknown."""
    if device == "cuda":
        import torch
        return int(getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "L2_cache_size", 0))
    sizes = []
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = f.read_text().strip()
        unit = {"K": 2 ** 10, "M": MIB, "G": 2 ** 30}.get(text[-1:], 1)
        sizes.append(int(text.rstrip("KMG")) * unit)
    return max(sizes, default=0)


def dram_size(device: str = "cpu") -> int:
    """A working set far beyond the caches: 1 GiB, or 4x the last-level cache if larger, within an
    eighth of the memory (total, not free: the size, and so the cache entry, must not drift)."""
    want = max(2 ** 30, 4 * last_level_cache(device))
    if device == "cuda":
        import torch
        total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
    else:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return min(want, total // 8 // MIB * MIB)


def working_set_size(nbytes: int) -> int:
    """`nbytes` rounded up to two significant figures of MiB (at least 1 MiB): 158.8 MiB -> 160 MiB."""
    mib = max(nbytes / MIB, 1.0)
    step = 10 ** max(math.floor(math.log10(mib)) - 1, 0)
    return int(math.ceil(mib / step - 1e-9) * step) * MIB


# ---------------------------------------------------------------- measuring

@contextmanager
def _torch_threads(threads: int | None):
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(_threads(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _time(work, device: str, seconds: float) -> list[float]:
    """Seconds per call of `work`, one per sample, after a warm-up call."""
    import torch
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    work()
    sync()
    start = time.perf_counter()
    work()
    sync()
    reps = max(1, math.ceil(SAMPLE_S / max(time.perf_counter() - start, 1e-9)))
    times, end = [], time.perf_counter() + seconds
    while len(times) < MIN_SAMPLES or time.perf_counter() < end:
        start = time.perf_counter()
        for _ in range(reps):
            work()
        sync()
        times.append((time.perf_counter() - start) / reps)
    return times


def _figure(rates: list[float]) -> dict:
    """The best sample is the figure, as STREAM reports it: a limit is what the machine is seen to
    do, and other work on its cores only ever slows a pass. The median and the load say how busy it was."""
    import torch
    q = statistics.quantiles(rates, n=4)
    median = statistics.median(rates)
    return {"rate": max(rates), "median": median, "spread": (q[2] - q[0]) / median, "samples": len(rates),
            "load": os.getloadavg()[0] / (os.cpu_count() or 1),
            "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "torch": torch.__version__}


def measure_read(nbytes: int, device: str = "cpu", threads: int | None = None, seconds: float = SECONDS) -> dict:
    """A streaming read of `nbytes` (a float32 buffer summed), uncached: {rate (GB/s), spread, samples, ...}."""
    import torch
    with _torch_threads(threads):
        buffer = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
        times = _time(lambda: torch.sum(buffer), device, seconds)
        del buffer
    return _figure([nbytes // 4 * 4 / t / 1e9 for t in times])


def measure_matmul(dtype: str, device: str = "cpu", threads: int | None = None, seconds: float = SECONDS) -> dict:
    """GFLOP/s of an n x n torch.matmul at `dtype` (n = 2048 on CPU, 8192 on CUDA), uncached."""
    import torch
    n = 8192 if device == "cuda" else 2048
    with _torch_threads(threads):
        a = torch.randn(n, n, device=device).to(getattr(torch, dtype))
        b = torch.randn(n, n, device=device).to(getattr(torch, dtype))
        times = _time(lambda: torch.matmul(a, b), device, seconds)
    return _figure([2 * n ** 3 / t / 1e9 for t in times])


# ---------------------------------------------------------------- remembered figures

def cache_path(cache_dir: Path | None = None) -> Path:
    """$ASYMPRUNE_LIMITS_DIR, else $ASYMPRUNE_CACHE, else $XDG_CACHE_HOME/asymprune, else ~/.cache/asymprune;
    the file in it. (The first keeps these figures apart from asymprune's other caches: tests use it.)"""
    if cache_dir is None:
        env = os.environ.get("ASYMPRUNE_LIMITS_DIR") or os.environ.get("ASYMPRUNE_CACHE")
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "asymprune"
        cache_dir = Path(env) if env else base
    return Path(cache_dir).expanduser() / CACHE_NAME


def load_cache(path: Path) -> CacheFile:
    """The cache file's figures; an empty cache where there is no file; UsageError where it is damaged."""
    if not path.exists():
        return CacheFile(format=FORMAT)
    fix = f"delete {path} and asymprune measures this machine again"
    try:
        cache = CacheFile.model_validate_json(path.read_bytes())
    except OSError as e:
        raise UsageError(f"cannot read the machine-limits cache {path} ({e.strerror or e}); {fix}") from None
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise UsageError(f"the machine-limits cache {path} is damaged ({where}: {first['msg']}); {fix}") from None
    if cache.format != FORMAT:
        raise UsageError(f"the machine-limits cache {path} is of format '{cache.format}', not '{FORMAT}'; {fix}")
    return cache


@contextmanager
def _locked(path: Path):
    """Hold an exclusive lock beside `path`: one process measures (and writes) at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def remembered(kind: str, label, measure, machine: str, cache_dir: Path | None = None,
               refresh: bool = False) -> tuple[Figure, bool]:
    """(figure, was cached) of `kind` ("read" or "matmul") at `label` for `machine`, measured with
    `measure()` only when the cache lacks it (or `refresh`)."""
    path = cache_path(cache_dir)
    load_cache(path)  # a damaged file stops us before we wait for the lock or measure
    with _locked(path):
        cache = load_cache(path)  # again, under the lock: another process may have written it
        figures = getattr(cache.machines.setdefault(machine, Machine()), kind)
        if label in figures and not refresh:
            return figures[label], True
        figures[label] = Figure(**measure())
        write_json(path, cache.model_dump(mode="json"))
        return figures[label], False


def read_bandwidth(nbytes: int, device: str = "cpu", threads: int | None = None, cache_dir: Path | None = None,
                   refresh: bool = False) -> Bandwidth:
    """The read rate at a working set of `nbytes` and far beyond the caches, and the regime of `nbytes`."""
    machine = machine_key(device, threads)
    size, big = working_set_size(nbytes), dram_size(device)
    dram, _ = remembered("read", big, lambda: measure_read(big, device, threads), machine, cache_dir, refresh)
    if size >= big:
        here, size = dram, big
    else:
        here, _ = remembered("read", size, lambda: measure_read(size, device, threads), machine, cache_dir, refresh)
    regime = "cache" if here.rate >= CACHE_RATIO * dram.rate else "dram"
    return Bandwidth(gb_s=here.rate, bytes=size, regime=regime, dram_gb_s=dram.rate, dram_bytes=big,
                     machine=machine, source=f"torch.sum over float32 buffers, best of {here.samples} passes",
                     load=max(here.load, dram.load))


def matmul_rate(dtype: str, device: str = "cpu", threads: int | None = None, cache_dir: Path | None = None,
                refresh: bool = False) -> FlopRate:
    """GFLOP/s of a square torch.matmul at `dtype` on this machine: the FLOP ceiling's peak."""
    machine = machine_key(device, threads)
    fig, _ = remembered("matmul", dtype, lambda: measure_matmul(dtype, device, threads), machine, cache_dir, refresh)
    n = 8192 if device == "cuda" else 2048
    return FlopRate(gflops=fig.rate, machine=machine, source=f"torch.matmul {n}x{n} {dtype}, best of {fig.samples}",
                    load=fig.load)
