"""gpu.py's own setup step for CTranslate2 on a GPU whose driver is CUDA 13.

    reason, tried = prepare_ct2(WHEELS, workdir)   # None: CTranslate2 ran a model on CUDA here; else why not
    python benchmarks/gpu_setup.py --download       # here, with internet: the wheels into WHEELS (gitignored)

PyPI's ctranslate2 4.x wheel (4.8.5 checked) links the CUDA runtime statically and loads cuBLAS
at run time by the name `libcublas.so.12` (and the driver's libcuda.so.1); it needs no cuDNN for
text models, and no CUDA runtime wheel. A CUDA-13 driver still runs CUDA-12 programs, so the
missing piece on a CUDA-13 image (torch +cu130, which ships cuBLAS 13 only) is libcublas.so.12.
The setup, in order, stopping at the first that runs:
  1. ctranslate2 importable, or installed from a carried wheel into WORKDIR/site (pip --no-index);
  2. libcublas.so.12 from a carried or installed nvidia-cublas-cu12, or the system's;
  3. else `libcublas.so.12` as a link to the image's cuBLAS 13 (CTranslate2 calls only
     cublasCreate/Destroy/SetStream/GetMathMode/GetProperty, cublasSgemm(StridedBatched) and
     cublasGemmEx/GemmStridedBatchedEx, all in cuBLAS 13 under the same names; an ABI change would
     show in the probe).
Each candidate folder goes first in LD_LIBRARY_PATH (the bench's workers are new processes: their
loader reads it) and is preloaded with ctypes here; then a probe process loads a converted t5-tiny
on CUDA, generates with float16, and checks float32 tokens against CPU's. The first candidate that
passes is kept; otherwise the reason, with every attempt, goes into the result file.

The device machine has no internet and carries at most 64 MiB: `--download` fetches the cp312
ctranslate2 wheel (43 MB) into WHEELS, which the device tool's `carry` takes along. The
nvidia-cublas-cu12 wheel is 581 MB (12.9.3.13), over that limit, so it is not downloaded by
default (`--with-cublas` for a machine reached otherwise); on the lent machines step 3 is what runs.
Never commit the wheels (WHEELS is in .gitignore).
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import subprocess
import sys
from pathlib import Path

WHEELS = Path(__file__).resolve().parent.parent / ".gpu-wheels"
CT2_WHEEL = "ctranslate2==4.8.5"
CUBLAS12_WHEEL = "nvidia-cublas-cu12"
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]


def download(folder: Path, with_cublas: bool = False, python: str = "3.12") -> None:
    """The wheels for the device machine (Python `python`, x86-64), into `folder`: run where pip reaches PyPI."""
    names = [CT2_WHEEL] + ([CUBLAS12_WHEEL] if with_cublas else [])
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", python,
           "--implementation", "cp", *[a for p in PLATFORMS for a in ("--platform", p)], "-d", str(folder), *names]
    subprocess.run(cmd, check=True)


def install_wheels(folder: Path, target: Path) -> list[str]:
    """pip-install every wheel in `folder` into `target` (no index, no dependencies) and put it on this process's
    and its children's path; the wheels' names."""
    wheels = sorted(glob.glob(str(folder / "*.whl")))
    if wheels:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--target", str(target), *wheels], check=True)
        sys.path.insert(0, str(target))
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))
    return [Path(w).name for w in wheels]


def library_dirs(soname: str, roots: list[Path]) -> list[Path]:
    """Folders holding `soname`: under each root's nvidia/*/lib (pip's CUDA wheels), LD_LIBRARY_PATH, the CUDA
    toolkit's lib64, and what ldconfig knows; in that order, each once."""
    found = []
    for root in roots:
        found += [Path(p).parent for p in glob.glob(str(root / "nvidia" / "**" / soname), recursive=True)]
    for d in [*os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep), *glob.glob("/usr/local/cuda*/lib64")]:
        if d and (Path(d) / soname).exists():
            found.append(Path(d))
    try:
        listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
        found += [Path(line.rsplit("=>", 1)[1].strip()).parent for line in listing.splitlines()
                  if line.strip().startswith(soname + " ") and "=>" in line]
    except OSError:
        pass
    return list(dict.fromkeys(p.resolve() for p in found))


def alias_folder(cublas13: Path, folder: Path) -> Path:
    """A folder where `libcublas.so.12` is a link to the cuBLAS 13 in `cublas13` (its libcublasLt.so.13 beside it)."""
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "libcublas.so.12"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(cublas13 / "libcublas.so.13")
    return folder


def expose(folder: Path) -> None:
    """`folder` first in LD_LIBRARY_PATH (for the processes started after this) and its cuBLAS loaded here."""
    os.environ["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(folder), os.environ.get("LD_LIBRARY_PATH")]))
    for name in ("libcublasLt.so.12", "libcublas.so.12"):
        if (folder / name).exists():
            try:
                ctypes.CDLL(str(folder / name), mode=ctypes.RTLD_GLOBAL)
            except OSError:  # not loadable here: the probe, a process of its own, says why
                pass


def probe_model(workdir: Path) -> Path:
    """A t5-tiny (random weights) converted to CTranslate2, for the probe (conversion needs no GPU)."""
    from asymprune.ct2 import cached_conversion
    from asymprune.models import build_preset, save_model
    hf_dir = workdir / "probe-t5-tiny"
    model, tokenizer = build_preset("t5-tiny", seed=0)
    save_model(model, hf_dir, tokenizer)
    return cached_conversion(hf_dir)


def probe(ct2_dir: Path, timeout: float = 180) -> str | None:
    """Load `ct2_dir` on CUDA in a fresh process (a crash stays there) and generate; None if it ran."""
    root = str(Path(__file__).resolve().parent.parent)  # asymprune, for the probe's vocabulary reader
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run([sys.executable, __file__, "--probe", str(ct2_dir)], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return f"the probe did not finish in {timeout:.0f} s"
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return f"the probe failed ({tail[:300]})"
    result = json.loads(lines[-1])
    if not result["float32_tokens_equal_cpu"]:
        return f"CTranslate2 on CUDA ran but its float32 tokens differ from CPU's ({result})"
    return None


def _probe_main(ct2_dir: str) -> None:
    import ctranslate2

    from asymprune.ct2.runtimes import vocabulary
    src = [vocabulary(Path(ct2_dir))[5:21]]
    out = {}
    for device, compute_type in (("cpu", "float32"), ("cuda", "float32"), ("cuda", "float16")):
        translator = ctranslate2.Translator(ct2_dir, device=device, compute_type=compute_type)
        result = translator.translate_batch(src, beam_size=1, max_decoding_length=8, min_decoding_length=8)
        out[f"{device}-{compute_type}"] = result[0].hypotheses[0]
    print(json.dumps({"cuda_devices": ctranslate2.get_cuda_device_count(), "tokens": out,
                      "float32_tokens_equal_cpu": out["cuda-float32"] == out["cpu-float32"]}))


def prepare_ct2(wheels: Path, workdir: Path) -> tuple[str | None, list[str]]:
    """Make CTranslate2 run on CUDA here (see the module's docstring): (None, what ran) or (why not, what was tried)."""
    tried = []
    try:
        import ctranslate2  # noqa: F401
    except ImportError:
        names = install_wheels(wheels, workdir / "site") if wheels.is_dir() else []
        tried.append(f"installed {', '.join(names)} from {wheels}" if names else f"no wheels in {wheels}")
        try:
            import ctranslate2  # noqa: F401,F811
        except ImportError:
            return f"ctranslate2 is not installed and no wheel of it was carried ({wheels})", tried
    roots = [workdir / "site", *map(Path, sys.path)]
    candidates = [(d, f"cuBLAS 12 in {d}") for d in library_dirs("libcublas.so.12", roots)]
    candidates += [(alias_folder(d, workdir / f"cublas12-alias-{i}"), f"libcublas.so.12 linked to cuBLAS 13 in {d}")
                   for i, d in enumerate(library_dirs("libcublas.so.13", roots))]
    if not candidates:
        return "no cuBLAS 12 or 13 library found for CTranslate2 (libcublas.so.12 / .13)", tried
    model = probe_model(workdir)
    saved = os.environ.get("LD_LIBRARY_PATH")
    for folder, what in candidates:
        expose(folder)
        why = probe(model)
        tried.append(f"{what}: {'ran (float16 and float32 on CUDA; float32 tokens equal CPU)' if why is None else why}")
        if why is None:
            return None, tried
        os.environ["LD_LIBRARY_PATH"] = saved or ""
    return "CTranslate2 could not run a model on CUDA with any cuBLAS found", tried


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        _probe_main(sys.argv[2])
    elif sys.argv[1:2] == ["--download"]:
        download(WHEELS, with_cublas="--with-cublas" in sys.argv)
    else:
        sys.exit("usage: gpu_setup.py --download [--with-cublas] | --probe CT2_DIR")
