"""Torch bridge: asymmetric layers and MLPs, data, training/interpolation, activation matching
and realization-cost estimates on trained networks ([NI], THEORY.md §1–2, §8, §10).

Importing this subpackage imports torch (the top-level :mod:`lmctheory` never does). Submodules:

``layers``    :class:`AsymmetricLinear` (``W̃ = F + D ⊙ W``)
``models``    :func:`make_mlp` (standard / wmlp / syre / sparse)
``data``      :func:`gaussian_mixture`, :func:`teacher_student`, :func:`digits`
``training``  :func:`train`, :func:`evaluate`, :func:`interpolate`
``matching``  :func:`collect_activations`, :func:`activation_match`, :func:`permute_model`
``estimate``  :func:`estimate_realization_costs`, :func:`estimate_all_layers`, :func:`ridge_realization_cost`
``width``     [LEWC] bias-free MLPs: :func:`make_width_mlp`, :func:`train_width_model`, :func:`merge_models`,
              :func:`layer_measurements`, :func:`weight_match_models`, :func:`procrustes_align`, :func:`cka_matrix`
``predict``   :func:`predict_lmc` (unaligned barrier predicted at initialization)
``calibration`` temperature scaling: :func:`fit_temperature`, :func:`calibrated_barriers`
"""

from __future__ import annotations

import importlib

from .layers import ASYM_MODES, AsymmetricLinear, linear_arrays
from .models import MLP, MLP_KINDS, linear_layers, make_mlp
from .training import InterpolationResult, evaluate, interpolate, interpolate_state_dicts, train

_LAZY = {
    "data": ("Dataset", "gaussian_mixture", "teacher_student", "digits"),
    "matching": ("collect_activations", "activation_match", "permute_model", "to_standard"),
    "estimate": ("RealizationEstimate", "RidgeCost", "estimate_realization_costs", "record_layer_inputs",
                 "estimate_all_layers", "ridge_realization_cost"),
    "width": ("WidthMLP", "make_width_mlp", "to_weight_list", "from_weight_list", "train_width_model",
              "merge_models", "recompute_batchnorm", "hidden_outputs", "LayerMeasurements", "layer_measurements",
              "weight_match_models", "permute_width_model", "ProcrustesResult", "procrustes_align", "cka_matrix"),
    "predict": ("Quantity", "LayerPrediction", "LMCPrediction", "predict_lmc"),
    "calibration": ("softmax_nll", "fit_temperature", "calibration_split", "CalibratedBarriers",
                    "calibrated_barriers"),
}

__all__ = [
    "ASYM_MODES", "AsymmetricLinear", "linear_arrays", "MLP", "MLP_KINDS", "linear_layers", "make_mlp",
    "InterpolationResult", "evaluate", "interpolate", "interpolate_state_dicts", "train",
    *[n for names in _LAZY.values() for n in names],
]


def __getattr__(name: str):
    for mod, names in _LAZY.items():
        if name in names:
            value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
            globals()[name] = value
            return value
    raise AttributeError(f"module 'lmctheory.nn' has no attribute {name!r}")
