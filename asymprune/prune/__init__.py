"""Structured layer pruning: which layers to keep, removing the others exactly, a model folder end to end.

    select.py      strategies (paper, spread, first, last, ...), the paper's keep-maps, plan_pruning
    importance.py  data-driven layer scores; registers the angular and greedy-loss strategies
    apply.py       apply_pruning, prune_layers (in memory), save_pruned
    folder.py      prune_folder (a folder in, a pruned folder and its asymprune.json out), score_folder
"""

from .apply import apply_pruning, prune_layers, save_pruned
from .folder import prune_folder, score_folder
from .importance import CalibrationConfig, plan_calibrated, score_layers, scores_table
from .select import (CALIBRATED, PAPER_MAPS, STRATEGIES, Selection, check_indices, needs_calibration, parse_index_list,
                     plan_pruning, register_strategy, select_layers)

__all__ = [
    "apply_pruning", "prune_layers", "save_pruned", "prune_folder", "score_folder",
    "CalibrationConfig", "plan_calibrated", "score_layers", "scores_table",
    "CALIBRATED", "PAPER_MAPS", "STRATEGIES", "Selection", "check_indices", "needs_calibration", "parse_index_list",
    "plan_pruning", "register_strategy", "select_layers",
]
