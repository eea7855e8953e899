"""Options several commands share, and turning them into the library's settings.

Options left at None take the defaults of TrainConfig / EvalConfig / DataConfig, so the
recipe is written down once, in those dataclasses.
"""

from __future__ import annotations

import typer

from ..errors import UsageError

# Lossless draft-and-verify options that `generate`, `evaluate` and `bench` share (asymprune.assist).
ASSISTANT_HELP = "Draft model (a pruned variant of MODEL) for lossless draft-and-verify: same tokens, batch 1."
DRAFT_TOKENS_OPTION = typer.Option(20, help="--assistant: tokens the draft proposes per round at most.")
DRAFT_CONFIDENCE_OPTION = typer.Option(0.4, help="--assistant: end a round early when the draft's top probability "
                                                 "falls below this; 0: never.")
SHARE_ENCODER_OPTION = typer.Option(False, help="--assistant: the draft reads MODEL's encoder output (one encoder "
                                                "pass per document; exact for drafts trained with --freeze-encoder).")
DRAFT_VOCAB_OPTION = typer.Option(None, help="--assistant: JSON list of token ids the draft proposes from (a smaller "
                                              "head of its own, in memory; output unchanged). Make one with "
                                              "`asymprune draft-vocab`.")

# Timing options that `bench` and `plan` share.
DEVICE_OPTION = typer.Option("cpu", help="cpu or cuda.")
DTYPE_OPTION = typer.Option("float32", help="float32, bfloat16 or float16 (hf backend).")
THREADS_OPTION = typer.Option(None, help="Intra-op threads (default: the library's).")
BACKEND_OPTION = typer.Option("hf", help="hf (transformers) or ct2 (CTranslate2).")
CT2_COMPUTE_TYPE_OPTION = typer.Option("int8", help="CTranslate2 compute type: int8, int8_float32, float32, ...")

# Dataset options that `train`, `evaluate` and `vocab` share (asymprune.data).
DATASET_HELP = "registered name (synthetic, cnn_dailymail, xsum), hf:NAME[:CONFIG], a .jsonl/.json/.csv/.parquet " \
               "file, or a directory of train/validation/test files."
SOURCE_COLUMN = typer.Option(None, help="Column holding the text to summarize (default: inferred).")
TARGET_COLUMN = typer.Option(None, help="Column holding the reference summary (default: inferred).")
N_OPTION = typer.Option(None, "--n", help="synthetic: training rows (default 10,000); others: keep the first N.")
SPLIT_SEED = typer.Option(None, help="Seed of the synthetic corpus and of splitting a single file (default: 0); "
                                     "use the same value for train and evaluate.")
DROP_EMPTY = typer.Option(False, help="Skip rows with an empty or null source/target instead of failing.")
PREFIX = typer.Option(None, help="Source prefix (default: 'summarize: ' for T5, '' otherwise).")


def assist_config(draft_tokens: int, draft_confidence: float, share_encoder: bool, draft_vocab=None):
    """The draft settings of the four options above, checked."""
    from ..assist import AssistConfig
    config = AssistConfig(draft_tokens=draft_tokens, confidence=draft_confidence, share_encoder=share_encoder,
                          draft_vocab=None if draft_vocab is None else str(draft_vocab))
    config.validate()
    return config


def draft_line(stats) -> str:
    """'draft: acceptance rate 61.0% (...), 2.40 tokens per pass of the full model' for a DraftStats."""
    if not stats.proposed:
        return f"draft: {stats.rounds} rounds, no tokens proposed"
    return (f"draft: acceptance rate {stats.acceptance_rate:.1%} ({stats.accepted:,} of {stats.proposed:,} proposed "
            f"tokens kept), {stats.tokens_per_round:.2f} tokens per pass of the full model")


def int_list(text: str, flag: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"{flag} {text!r} must be comma-separated integers, e.g. 1,8,16") from None


def default(cls, name: str) -> str:
    """' (default: X)' for a help text, X being dataclass `cls`'s default of field `name`."""
    return f" (default: {cls.__dataclass_fields__[name].default})"


def given(**values) -> dict:
    """The options that were given (not None): they override a config's defaults."""
    return {k: v for k, v in values.items() if v is not None}


def data_config(source_column, target_column, n, split_seed, drop_empty_rows):
    from ..data import DataConfig
    return DataConfig(**given(source_column=source_column, target_column=target_column, n=n, split_seed=split_seed),
                      drop_empty_rows=drop_empty_rows)
