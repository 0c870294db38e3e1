"""Torch bridge: asymmetric layers and MLPs, data, training/interpolation, activation matching
and realization-cost estimates on trained networks ([NI], docs/theory.md §1–2, §8, §10).

Importing this subpackage imports torch (the top-level :mod:`lmctheory` never does). Submodules:

``layers``    :class:`AsymmetricLinear`, :class:`AsymmetricConv2d` (``W̃ = F + D ⊙ W``)
``models``    :func:`make_mlp` (standard / wmlp / syre / sparse), :func:`make_resnet` ([NI] F.2 ResNets)
``data``      :func:`gaussian_mixture`, :func:`teacher_student`, :func:`digits` (also as images)
``training``  :func:`train`, :func:`evaluate`, :func:`interpolate`
``matching``  :func:`activation_match`, :func:`weight_match` (one :class:`GroupMatching` result),
              :func:`permute_model`, :func:`to_standard`, :func:`collect_activations` (any traceable model)
``symmetry``  the symmetry engine: :func:`permutation_groups` (symmetry groups of any model ``torch.export``
              captures: torchvision, timm, Hugging Face), :func:`attention_sites`, :func:`random_permutation`,
              :func:`apply_permutation`, :func:`check_permutation_invariance`, :func:`register_handler`
``estimate``  :func:`estimate_realization_costs`, :func:`estimate_all_layers`, :func:`ridge_realization_cost`
``biasfree``  [LEWC] bias-free ReLU MLPs: :func:`make_width_mlp`, :func:`train_width_model`,
              :func:`recompute_batchnorm`, :func:`hidden_outputs`
``merging``   permutation-free merge and per-layer LEWC measurements: :func:`merge_models`,
              :func:`layer_measurements`
``width_alignment`` :func:`permute_width_model`, :func:`procrustes_align`, :func:`cka_matrix`
``predict``   :func:`predict_lmc` (unaligned barrier predicted at initialization)
``calibration`` temperature scaling: :func:`fit_temperature`, :func:`calibrated_barriers`
``curves``    mode-connecting curves for any model: :func:`fit_curve` (Bézier / polychain), :func:`line_path`,
              :class:`Curve` (``evaluate``, ``model_at``, ``ensemble``)
``batchnorm`` :func:`reset_batchnorm` for any model
``vit``       :func:`make_vit` (small standard / W-asymmetric / syre ViTs, LayerNorm or gainless RMSNorm)
``orthogonal`` [GLMC] residual-stream rotation: :func:`orthogonal_align`, :func:`apply_orthogonal`,
              :func:`fold_norm_gains`
``hierarchy`` the whole [GLMC] hierarchy (FF units, heads, per-head QK/OV circuit maps, orthogonal stream):
              :func:`align` with weight / activation / learned matching, :func:`transformer_structure`

Interpolation convention everywhere: ``θ(λ) = (1−λ)θ_A + λθ_B`` (``λ = 0`` is model A;
:mod:`lmctheory.nn.training`).
"""

from __future__ import annotations

import importlib

from .layers import ASYM_MODES, AsymmetricConv2d, AsymmetricLinear, linear_arrays
from .models import MLP, MLP_KINDS, RESNET_KINDS, ResNet, linear_layers, make_mlp, make_resnet
from .training import InterpolationResult, evaluate, interpolate, interpolate_state_dicts, train

_LAZY = {
    "data": ("Dataset", "gaussian_mixture", "teacher_student", "digits"),
    "matching": ("collect_activations", "activation_match", "weight_match", "permute_model", "to_standard",
                 "GroupMatching"),
    "symmetry": ("UnsupportedOperationError", "SymmetryCheckError", "Member", "Tap", "PermutationGroup",
                 "GroupElement", "Projection", "AttentionSite", "SymmetryAnalysis", "CapturedGraph", "capture",
                 "analyze", "permutation_groups", "attention_sites", "random_permutation", "normalize_perms",
                 "apply_permutation", "check_permutation_invariance", "is_asymmetric_module", "register_handler"),
    "estimate": ("RealizationEstimate", "RidgeCost", "estimate_realization_costs", "record_layer_inputs",
                 "estimate_all_layers", "ridge_realization_cost", "conv_patches", "layer_samples",
                 "LayerInputs", "LayerEstimates"),
    "biasfree": ("WEIGHT_DECAY", "WidthMLP", "make_width_mlp", "to_weight_list", "from_weight_list",
                 "train_width_model", "recompute_batchnorm", "hidden_outputs"),
    "merging": ("merge_models", "LayerMeasurements", "layer_measurements"),
    "width_alignment": ("permute_width_model", "ProcrustesResult", "procrustes_align",
                        "cka_matrix"),
    "predict": ("Quantity", "LayerPrediction", "LMCPrediction", "predict_lmc"),
    "calibration": ("softmax_nll", "fit_temperature", "calibration_split", "CalibratedBarriers",
                    "calibrated_barriers"),
    "curves": ("CURVE_KINDS", "Curve", "CurveEnsemble", "fit_curve", "line_path"),
    "batchnorm": ("batchnorm_layers", "reset_batchnorm"),
    "orthogonal": ("orthogonal_align", "apply_orthogonal", "OrthogonalAlignment", "fold_norm_gains",
                   "residual_stream_group", "check_stream_rotatable", "has_norm_affine", "stream_rotation_constraint"),
    "hierarchy": ("align", "transformer_structure", "weight_match_hierarchy", "learned_match_hierarchy",
                  "apply_transform", "HierarchyTransform", "AlignmentReport", "TransformerStructure"),
    "vit": ("make_vit", "ViT", "RMSNorm", "VIT_KINDS"),
}

__all__ = [
    "ASYM_MODES", "AsymmetricLinear", "AsymmetricConv2d", "linear_arrays", "MLP", "MLP_KINDS", "linear_layers",
    "make_mlp", "ResNet", "RESNET_KINDS", "make_resnet",
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
