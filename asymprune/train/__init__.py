"""Fine-tuning: the paper's recipe on Hugging Face's Seq2SeqTrainer, resumable, until converged.

    from asymprune.train import TrainConfig, train
    record = train("runs/pruned", Path("runs/pruned-ft"), "synthetic", TrainConfig(max_steps=600))

    config.py       TrainConfig (the recipe) and its checks
    checkpoints.py  complete checkpoints found, half-written ones removed, --resume checked
    trainer.py      the Seq2SeqTrainer: arguments, distillation, the rich progress bar, the step timer
    cached.py       frozen-encoder training on cached encoder outputs (Whisper), --pseudo-labels
    run.py          train(): check, load the data and models, tokenize, fit, record, save
"""

from .checkpoints import is_complete_checkpoint, last_checkpoint
from .config import CHECKPOINT_SUFFIX, TrainConfig, check_config, checkpoint_dir, gradient_accumulation
from .run import train

__all__ = ["is_complete_checkpoint", "last_checkpoint", "CHECKPOINT_SUFFIX", "TrainConfig", "check_config",
           "checkpoint_dir", "gradient_accumulation", "train"]
