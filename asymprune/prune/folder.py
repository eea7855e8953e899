"""A model folder in, a pruned model folder out: what `asymprune prune`, a sweep's prune stage and
benchmarks/selection.py all run. And the scores alone, for `asymprune layers`.

    record = prune_folder("runs/base", Path("runs/d2"), decoder="2/6", strategy="paper")
    record = prune_folder("runs/base", Path("runs/g2"), decoder=2, strategy="greedy-loss",
                          calibration=CalibrationConfig("synthetic"))
    record["kept"], record["params_after"]                    # the record is also OUT/asymprune.json
    scores = score_folder("runs/base", CalibrationConfig("synthetic"), ["angular"])
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..fsutil import check_writable_out, write_json
from ..models import STACKS, family_for, load_config, load_model, load_processor, param_counts
from ..models.files import no_tokenizer_message
from ..version import __version__
from .apply import apply_pruning, save_pruned
from .importance import CalibrationConfig, plan_calibrated, score_layers
from .select import CALIBRATED, Selection, needs_calibration, plan_pruning


def _is_count(selection: Selection) -> bool:
    return isinstance(selection, (int, str)) and not isinstance(selection, bool)


def prune_folder(src: str, out: Path, encoder: Selection = None, decoder: Selection = None,
                 strategy: str = "spread", calibration: CalibrationConfig | None = None, *, data=None,
                 presets: bool = False, overwrite: bool = False, trust_remote_code: bool = False,
                 allow_pickle: bool = False, progress=None, warn=None) -> dict:
    """Prune the model `src` (a folder, hub id or, with `presets`, a preset) into `out`; return the
    record written to OUT/asymprune.json: source, strategy ("explicit" when indices are given),
    kept indices, layer counts before and after, parameter counts before and after, and the
    layer scores of a data-driven strategy.

    Every check that needs no weights comes first: the calibration settings, OUT, the config,
    the selection and that it removes something. A data-driven strategy (angular, greedy-loss)
    then scores the layers of `src` on `calibration` rows; `data` (the DataConfig a sweep trains
    with) splits a dataset file as training does, None reads a single file whole. `warn(text)`
    hears what is ignored or missing; `progress` is a rich Progress for the scoring.
    """
    say = warn or (lambda text: None)
    if calibration is not None:
        calibration.validate()
    check_writable_out(Path(out), overwrite, inputs=[src, calibration and calibration.spec])
    config = load_config(src, trust_remote_code=trust_remote_code, presets=presets)
    calibrated = strategy in CALIBRATED and any(_is_count(x) for x in (encoder, decoder))
    if calibration is not None and not calibrated:
        say("--calibration is used only by angular and greedy-loss with layer counts; it is ignored here")
    if calibrated and calibration is None:
        raise needs_calibration(strategy)
    # Validates the counts before loading any weights (data-driven choices come after scoring).
    keep = plan_pruning(config, encoder, decoder, "spread" if strategy in CALIBRATED else strategy)
    original = family_for(config).layer_counts(config)
    if all(len(keep[s]) == original[s] for s in STACKS):
        raise UsageError(f"nothing to remove: this keeps all {original['encoder']} encoder and "
                         f"{original['decoder']} decoder layers; pass --encoder-layers/--decoder-layers below the "
                         "stack's depth (or --keep-encoder/--keep-decoder)")

    model = load_model(src, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle, presets=presets)
    processor = load_processor(src, trust_remote_code=trust_remote_code, presets=presets)
    scores = None
    if calibrated:
        keep, scores = plan_calibrated(model, processor, encoder, decoder, strategy, calibration, progress, data=data)
    before = param_counts(model)
    apply_pruning(model, keep)
    explicit = any(isinstance(x, (list, tuple)) for x in (encoder, decoder))
    record = {
        "asymprune_version": __version__,
        "source": src,
        "strategy": "explicit" if explicit else strategy,
        "kept": keep,
        "original_layers": original,
        "layers": {s: len(keep[s]) for s in STACKS},
        "params_before": before,
        "params_after": param_counts(model),
        **({"scores": scores} if scores else {}),
    }
    save_pruned(model, processor, out, record, overwrite=overwrite)
    if processor is None:
        say(f"{no_tokenizer_message(src)}; none was copied to {out}")
    return record


def score_folder(model_src: str, calibration: CalibrationConfig, strategies=("angular", "greedy-loss"),
                 json_path: Path | None = None, overwrite: bool = False, progress=None) -> dict:
    """Score every layer of both stacks of `model_src` on `calibration` rows, pruning nothing; the
    scores (as asymprune.json holds them) also go to `json_path` when given."""
    calibration.validate()
    if json_path is not None:
        check_writable_out(json_path, overwrite, file=True, flag="--json", inputs=[model_src, calibration.spec])
    model, processor = load_model(model_src, presets=True), load_processor(model_src, presets=True)
    scores = score_layers(model, processor, calibration, strategies, progress=progress)
    if json_path is not None:
        write_json(json_path, {"model": model_src, **scores})
    return scores
