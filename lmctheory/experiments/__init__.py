"""Trained experiments shared by the figures and ``paper_checks``: default configurations, jobs, aggregation.

Each module holds one experiment: ``config(quick)`` (the default sizes; JSON-able, it keys the cache), the
sweep job(s) (module-level, so :func:`lmctheory.sweep.run_jobs` can run them in worker processes or on a
cluster and cache each result) and ``collect(ctx, cfg)`` (run or load every job, return JSON-able data).
:mod:`lmctheory.figures` draws what ``collect`` returns; ``paper_checks`` judges it against published claims.
The library never imports ``paper_checks``.

``mlp_pairs``        standard / W-MLP / syre pairs on digits: interpolation (figure 9, C1), matching (figure 8, C2)
``wmlp_swap_costs``  swap costs of trained W-MLPs vs σ_F and k (figure 6, C3)
``mask_coherence``   teacher–student students with masks vs subspace coherence (figure 7, C4)
``lewc_width``       the [LEWC] width sweep of bias-free ReLU MLPs (figure 10, L1–L5)
``mode_curves``      Bézier curves vs the straight line, unaligned and aligned, MLP and ResNet (figure 11, M1)
``lmc_prediction``   the fit / held-out sweep that calibrates and validates ``predict_lmc`` (figure 12, P1)
``resnet_pairs``     [NI] F.2 ResNets on digits images: interpolation and matching objective (figure 13, C9, C10)
``vit_pairs``        small ViTs: [NI] G.4 variants and [GLMC] orthogonal alignment (figure 14, C11, G1)

Importing this package does not import torch (the jobs do).
"""

from __future__ import annotations

from ._common import Context, cached_collect, experiment_cache, jsonable, mean_std, run_single_threaded, spearman

__all__ = ["Context", "cached_collect", "experiment_cache", "jsonable", "mean_std", "run_single_threaded", "spearman"]
