"""Seeded generators of the synthetic instances the theory talks about (docs/theory.md §1, Table 1).

Used by the benchmarks, the hypothesis strategies in ``validation/strategies.py`` and the
figures. Every generator takes an explicit ``seed`` and is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_choice, check_int, check_scalar, check_seed

__all__ = [
    "random_basis",
    "coherent_basis",
    "AsymmetricLayer",
    "asymmetric_layer",
    "LAYER_MODES",
]

LAYER_MODES = ("standard", "wasym", "syre", "sparse", "residual")


def random_basis(d: int, k: int, seed: int = 0) -> np.ndarray:
    """Haar-random orthonormal ``U ∈ R^{d×k}`` (QR of a Gaussian matrix, signs fixed).

    Its coherence ``ν(U)`` (eq. 11) concentrates near ``k/d`` up to log factors: an incoherent support.
    """
    d = check_int(d, "d", low=1)
    k = check_int(k, "k", low=1, high=d)
    rng = np.random.default_rng(check_seed(seed))
    q, r = np.linalg.qr(rng.standard_normal((d, k)))
    return q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))


def coherent_basis(d: int, k: int, mix: float, seed: int = 0) -> np.ndarray:
    """Orthonormal basis interpolating between coordinate-aligned (``mix=0``, ``ν = 1``) and
    Haar-random (``mix=1``, ``ν ≈ k/d``): orthonormalize ``(1−mix)·[I_k; 0] + mix·G/√d``.
    """
    d = check_int(d, "d", low=1)
    k = check_int(k, "k", low=1, high=d)
    mix = check_scalar(mix, "mix", low=0.0, high=1.0)
    rng = np.random.default_rng(check_seed(seed))
    coord = np.zeros((d, k))
    cols = rng.permutation(d)[:k]
    coord[cols, np.arange(k)] = 1.0
    A = (1.0 - mix) * coord + mix * rng.standard_normal((d, k)) / np.sqrt(max(d, 1))
    q, r = np.linalg.qr(A)
    s = np.sign(np.diag(r))
    s[s == 0] = 1.0
    return q * s


@dataclass(frozen=True)
class AsymmetricLayer:
    """One layer ``W̃ = F + D ⊙ W`` (eq. 2–3) as arrays of shape ``(n, d)``."""

    effective: np.ndarray
    fixed: np.ndarray
    diag: np.ndarray
    trainable: np.ndarray


def asymmetric_layer(
    n: int,
    d: int,
    mode: str = "wasym",
    *,
    sigma_f: float = 1.0,
    fixed_per_row: int | None = None,
    keep_prob: float | None = None,
    weight_scale: float = 1.0,
    seed: int = 0,
) -> AsymmetricLayer:
    """Random layer of one architecture of Table 1 (docs/theory.md §1).

    Parameters
    ----------
    n, d : int
        Neurons (rows) and inputs (columns).
    mode : {"standard", "wasym", "syre", "sparse", "residual"}
        ``wasym``: ``D`` a binary mask with exactly ``fixed_per_row`` zeros per row (default
        ``max(1, round(0.08·d))``), ``F = σ_F·Z`` on the fixed entries. ``sparse``: binary mask
        with i.i.d. keep probability ``keep_prob`` (default 0.5), ``F = 0``. ``syre``: ``D = 1``,
        ``F = σ_F·Z`` everywhere. ``residual``: ``D = 1``, ``F = I`` (needs ``n = d``).
    sigma_f : float
        Fixed weight scale ``σ_F``.
    weight_scale : float
        Trainable part ``W`` has i.i.d. ``N(0, weight_scale²/d)`` entries (zero where fixed).
    seed : int
    """
    n = check_int(n, "n", low=1)
    d = check_int(d, "d", low=1)
    mode = check_choice(mode, "mode", LAYER_MODES)
    sigma_f = check_scalar(sigma_f, "sigma_f", low=0.0)
    weight_scale = check_scalar(weight_scale, "weight_scale", low=0.0)
    rng = np.random.default_rng(check_seed(seed))
    W = rng.standard_normal((n, d)) * (weight_scale / np.sqrt(d))
    if mode == "standard":
        D = np.ones((n, d))
        F = np.zeros((n, d))
    elif mode == "wasym":
        m = max(1, int(round(0.08 * d))) if fixed_per_row is None else check_int(
            fixed_per_row, "fixed_per_row", low=0, high=d
        )
        D = np.ones((n, d))
        for i in range(n):
            D[i, rng.choice(d, size=m, replace=False)] = 0.0
        F = sigma_f * rng.standard_normal((n, d)) * (1.0 - D)
    elif mode == "sparse":
        p = 0.5 if keep_prob is None else check_scalar(keep_prob, "keep_prob", low=0.0, high=1.0)
        D = (rng.random((n, d)) < p).astype(np.float64)
        F = np.zeros((n, d))
    elif mode == "syre":
        D = np.ones((n, d))
        F = sigma_f * rng.standard_normal((n, d))
    else:  # residual
        if n != d:
            raise ValueError(f"mode='residual' needs n == d, got n={n}, d={d}")
        D = np.ones((n, d))
        F = np.eye(d)
    W = W * D  # fixed entries carry no trainable weight
    return AsymmetricLayer(effective=F + D * W, fixed=F, diag=D, trainable=W)
