"""The paper's fine-tuning recipe as settings, and the checks that fail on impossible ones before any work.

    config = TrainConfig(learning_rate=1e-3, batch_size=32, max_steps=600, eval_steps=100)
    check_config(config)                         # one-line UsageError for an impossible setting
    gradient_accumulation(config, world_size=2)  # per-device batches x accumulation x processes = batch_size

Defaults are the paper's recipe (from its released code): effective batch 64 (per-device batch x
gradient accumulation x processes), AdamW at a constant 1e-4, weight decay 0.01, sources up to
1024 tokens and targets up to 256, prefix "summarize: " for T5.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

CHECKPOINT_SUFFIX = ".checkpoints"


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX): there --bf16 autocast pays on CPU too
    (a distil-whisper step of tiny.en at batch 16: 2.9 s -> 1.7 s); elsewhere it would be emulated, and slower."""
    import torch
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


@dataclass
class TrainConfig:
    learning_rate: float = 1e-4              # paper: 1e-4, held constant
    lr_scheduler: str = "constant"           # any transformers scheduler name: constant, linear, cosine, ...
    warmup_steps: int = 0                    # linear warm-up steps before the schedule
    weight_decay: float = 0.01               # AdamW weight decay (paper: 0.01)
    batch_size: int = 64                     # effective batch: per-device x accumulation x processes (paper: 64)
    per_device_batch_size: int | None = None  # examples per forward pass (None: up to 8); accumulation does the rest
    max_source_length: int = 1024            # source tokens kept (paper: 1024); longer sources are truncated
    max_target_length: int = 256             # target tokens kept (paper: 256)
    prefix: str | None = None                # None: "summarize: " for T5-family models, "" otherwise
    epochs: float = 3.0                      # upper bound on passes over train when max_steps is not set
    max_steps: int | None = None             # optimizer steps; overrides epochs
    eval_steps: int = 500                    # validation loss and a checkpoint every N steps
    eval_samples: int | None = None          # validation rows used for the loss; None: the whole split
    patience: int = 3                        # evaluations without improvement before stopping; 0: never stop early
    logging_steps: int = 10                  # train loss logged every N steps
    save_total_limit: int = 2                # checkpoints kept (the best one is always kept too)
    seed: int = 0                            # weights of presets, data order, dropout
    bf16: bool = False                       # bfloat16 mixed precision (GPU, or a CPU with native bfloat16)
    fp16: bool = False                       # float16 mixed precision (GPU)
    resume: bool = False                     # continue from the last checkpoint in the checkpoint dir
    checkpoint_dir: str | None = None        # None: OUT.checkpoints next to OUT
    distill_from: str | None = None          # teacher model: add Shleifer & Rush's distillation loss
    distill_alpha: float = 0.8               # weight of the distillation loss (1 - alpha on cross-entropy)
    distill_temperature: float = 2.0         # softmax temperature of teacher and student
    freeze_encoder: bool = False             # train the decoder only: a draft keeps its full model's encoder
    freeze_embeddings: bool = False          # also keep the decoder's token embeddings (tied head) and positions
    pseudo_labels: bool = False              # train on the teacher's (--distill-from) transcripts; frozen encoder
    cache_dir: str | None = None             # cached encoder outputs and pseudo-labels; None: the asymprune cache
    encode_batch_size: int = 8               # utterances per batch when caching encoder outputs and pseudo-labels
    group_by_length: bool = False            # batches of rows of like length (HF's LengthGroupedSampler): less padding
    report_to: str = "none"                  # experiment trackers, comma-separated (tensorboard, wandb, mlflow, ...; all)
    run_name: str | None = None              # the run's name in the trackers; None: OUT's folder name
    logging_dir: str | None = None           # TensorBoard's event files while training; None: CHECKPOINTS/runs/RUN_NAME


# The trackers the Trainer reports to (its `report_to` names), the package each needs, and how to
# tell whether it is installed (transformers.integrations' own test, by name).
TRACKERS = {"tensorboard": ("tensorboard", "is_tensorboard_available"), "wandb": ("wandb", "is_wandb_available"),
            "mlflow": ("mlflow", "is_mlflow_available"), "comet_ml": ("comet_ml", "is_comet_available"),
            "neptune": ("neptune", "is_neptune_available"), "clearml": ("clearml", "is_clearml_available"),
            "dagshub": ("dagshub", "is_dagshub_available"), "dvclive": ("dvclive", "is_dvclive_available"),
            "codecarbon": ("codecarbon", "is_codecarbon_available"), "swanlab": ("swanlab", "is_swanlab_available"),
            "trackio": ("trackio", "is_trackio_available"), "azure_ml": ("azureml-core", "is_azureml_available"),
            "kubeflow": ("kubeflow-training", "is_kubeflow_available"), "flyte": ("flytekit", "is_flytekit_available")}


def trackers(config: TrainConfig) -> list[str]:
    """The Trainer's `report_to` list of `config.report_to` ("none": [], "all": every installed one)."""
    names = [n.strip() for n in config.report_to.split(",") if n.strip()]
    if names in ([], ["none"]):
        return []
    if names == ["all"]:
        from transformers.integrations import get_available_reporting_integrations
        return get_available_reporting_integrations()
    return names


def check_trackers(config: TrainConfig) -> None:
    """Every tracker named is one the Trainer knows and is installed: else one line saying what to install."""
    from transformers.integrations import integration_utils

    names = [n.strip() for n in config.report_to.split(",") if n.strip()]
    if ("none" in names or "all" in names) and len(names) > 1:
        raise UsageError(f"--report-to {config.report_to}: 'none' and 'all' stand alone; pass one of them, or a "
                         "comma-separated list of trackers")
    for name in names if names not in ([], ["none"], ["all"]) else []:
        if name not in TRACKERS:
            raise UsageError(f"--report-to {name}: unknown tracker; choose from none, all, {', '.join(TRACKERS)}")
        package, available = TRACKERS[name]
        if not getattr(integration_utils, available)():
            raise UsageError(f"--report-to {name} needs the {package} package, which is not installed; install it "
                             f"with `pip install {package}` (or pass --report-to none)")


def checkpoint_dir(out: Path, config: TrainConfig) -> Path:
    return Path(config.checkpoint_dir) if config.checkpoint_dir else out.with_name(out.name + CHECKPOINT_SUFFIX)


def per_device_batch(config: TrainConfig) -> int:
    return config.per_device_batch_size or min(8, config.batch_size)


def gradient_accumulation(config: TrainConfig, world_size: int) -> int:
    """Accumulation steps that make per-device batches add up to the effective batch."""
    per_step = per_device_batch(config) * world_size
    if config.batch_size % per_step:
        raise UsageError(f"--batch-size {config.batch_size} is not a multiple of --per-device-batch-size "
                         f"{per_device_batch(config)} x {world_size} process(es); pass a per-device batch that "
                         "divides it")
    return config.batch_size // per_step


def check_config(config: TrainConfig) -> None:
    """Fail on impossible settings before any work."""
    import torch
    from transformers.trainer_utils import SchedulerType

    for name in ("batch_size", "max_source_length", "max_target_length", "eval_steps",
                 "logging_steps", "save_total_limit"):
        if getattr(config, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(config, name)})")
    if config.per_device_batch_size is not None and not 0 < config.per_device_batch_size <= config.batch_size:
        raise UsageError(f"--per-device-batch-size {config.per_device_batch_size} must be between 1 and --batch-size "
                         f"{config.batch_size}")
    if config.max_steps is not None and config.max_steps < 1:
        raise UsageError(f"--max-steps {config.max_steps}: train for at least 1 step")
    if config.epochs <= 0:
        raise UsageError(f"--epochs {config.epochs}: must be more than 0")
    if config.learning_rate <= 0:
        raise UsageError(f"--learning-rate {config.learning_rate}: must be more than 0")
    if config.patience < 0:
        raise UsageError(f"--patience {config.patience}: pass 0 to turn early stopping off, or a positive count")
    if config.eval_samples is not None and config.eval_samples < 1:
        raise UsageError(f"--eval-samples {config.eval_samples}: use at least 1 row, or leave it out for all")
    schedulers = [s.value for s in SchedulerType]
    if config.lr_scheduler not in schedulers:
        raise UsageError(f"unknown --lr-scheduler '{config.lr_scheduler}'; choose one of: {', '.join(schedulers)}")
    if config.bf16 and config.fp16:
        raise UsageError("--bf16 and --fp16 both given; pass one of them")
    if config.fp16 and not torch.cuda.is_available():
        raise UsageError("--fp16 needs a CUDA GPU and none is available; drop the flag to train in float32")
    if config.bf16 and not (torch.cuda.is_available() or cpu_has_bf16()):
        raise UsageError("--bf16 needs a CUDA GPU or a CPU with native bfloat16 (AVX512-BF16 or AMX), and this "
                         "machine has neither; drop the flag to train in float32")
    if not 0 <= config.distill_alpha <= 1 or config.distill_temperature <= 0:
        raise UsageError("--distill-alpha must be in [0, 1] and --distill-temperature above 0")
    if config.pseudo_labels and not (config.distill_from and config.freeze_encoder):
        raise UsageError("--pseudo-labels trains a decoder on a teacher's transcripts: pass the teacher with "
                         "--distill-from, and --freeze-encoder")
    if config.encode_batch_size < 1:
        raise UsageError(f"--encode-batch-size must be at least 1 (got {config.encode_batch_size})")
    check_trackers(config)
