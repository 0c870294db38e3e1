"""Probability bounds: Gram concentration (T-4.4), center gaps (T-4.6), reindexing (T-4.8b).

docs/theory.md §3–§5 ([NI] Thm. 4.4, Thm. 4.6, eq. (28)). All bounds are returned *raw*: a failure
probability bound may exceed 1 (then it is vacuous) and is never clipped, so that monotonicity and
closed forms can be checked exactly. Quantities that over/underflow (``t^k``, Gaussian densities
``(2πσ_F²)^{−k/2}`` for large ``k``) are combined in log space; a result that does not fit a float
is returned as ``inf`` or ``0.0``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln, logsumexp

from ._validation import (
    check_array,
    check_bool,
    check_basis,
    check_int,
    check_probability,
    check_scalar,
)

__all__ = [
    "mask_moments",
    "gram_concentration_bound",
    "fixed_count_gram_bound",
    "unit_ball_volume",
    "center_gap_probability_bound",
    "center_gap_lower_bound",
    "syre_center_densities",
    "wasym_center_densities",
    "syre_center_gap_lower_bound",
    "reindexing_failure_probability",
    "transposition_failure_probability",
]


def mask_moments(keep_prob):
    """Moments of ``s = d_ij²`` for an i.i.d. binary mask with keep probability ``p`` (T-4.4).

    ``μ = p``, ``σ_d² = p(1 − p)``, ``b = max(p, 1 − p)`` (``|s − μ| ≤ b``).

    Parameters
    ----------
    keep_prob : float in [0, 1]

    Returns
    -------
    (mu, var, dev) : tuple of float
    """
    p = check_scalar(keep_prob, "keep_prob", low=0.0, high=1.0)
    return p, p * (1.0 - p), max(p, 1.0 - p)


def gram_concentration_bound(coherence, k, delta, var, dev) -> float:
    """Matrix-Bernstein bound on ``‖S_i − μI_k‖₂`` (Thm. 4.4, T-4.4, explicit constants).

    With probability ``≥ 1 − δ`` (one fixed neuron; use ``δ/n`` for all ``n`` at once):

    ``‖S_i − μI‖₂ ≤ √(2σ_d² ν log(2k/δ)) + (2/3) b ν log(2k/δ)``.

    Parameters
    ----------
    coherence : float in (0, 1]
        ``ν(U)``.
    k : int ≥ 1
        Subspace dimension.
    delta : float in (0, 1)
    var : float ≥ 0
        ``σ_d²``, variance of ``d_ij²``.
    dev : float ≥ 0
        ``b`` with ``|d_ij² − μ| ≤ b`` a.s.

    Returns
    -------
    float

    References
    ----------
    [NI] Thm. 4.4 (with Tropp 2015, Thm. 1.4); docs/theory.md#t-4-4, docs/references.md#ref-tropp2015.

    Examples
    --------
    >>> import lmctheory as lt
    >>> mu, var, b = lt.mask_moments(0.5)        # Bernoulli(1/2) keep-mask
    >>> round(lt.gram_concentration_bound(0.1, 8, 0.01, var, b), 6)
    0.853287
    """
    nu = check_scalar(coherence, "coherence", low=0.0, high=1.0, low_inclusive=False)
    k = check_int(k, "k", low=1)
    delta = check_probability(delta, "delta")
    var = check_scalar(var, "var", low=0.0)
    dev = check_scalar(dev, "dev", low=0.0)
    L = math.log(2.0 * k / delta)
    return math.sqrt(2.0 * var * nu * L) + (2.0 / 3.0) * dev * nu * L


def fixed_count_gram_bound(coherence, k, delta, m, d) -> float:
    """Gram concentration for fixed-count masks (T-4.4, sampling without replacement).

    Exactly ``m`` of ``d`` entries per row fixed (``d_ij = 0``), positions uniform without
    replacement, ``μ = 1 − m/d``. With probability ``≥ 1 − δ``:

    ``‖S_i − μI‖₂ ≤ √(2 (m/d) ν log(2k/δ)) + (2/3) ν log(2k/δ)``.

    Parameters
    ----------
    coherence : float in (0, 1]
    k : int ≥ 1
    delta : float in (0, 1)
    m : int in [0, d]
        Fixed entries per row.
    d : int ≥ 1
        Input dimension (``d ≥ k``).

    Returns
    -------
    float

    References
    ----------
    [NI] Thm. 4.4, fixed-count form (Gross & Nesme 2010); docs/theory.md#t-4-4,
    docs/references.md#ref-gross2010.

    Examples
    --------
    >>> import lmctheory as lt
    >>> round(lt.fixed_count_gram_bound(0.1, 8, 0.01, 5, 64), 6)    # 5 of 64 entries fixed per row
    0.831376
    """
    nu = check_scalar(coherence, "coherence", low=0.0, high=1.0, low_inclusive=False)
    d = check_int(d, "d", low=1)
    k = check_int(k, "k", low=1, high=d)
    delta = check_probability(delta, "delta")
    m = check_int(m, "m", low=0, high=d)
    L = math.log(2.0 * k / delta)
    return math.sqrt(2.0 * (m / d) * nu * L) + (2.0 / 3.0) * nu * L


def unit_ball_volume(k, log=False) -> float:
    """Volume of the unit ball in ``R^k``: ``ω_k = π^{k/2} / Γ(k/2 + 1)`` (T-4.6).

    Parameters
    ----------
    k : int ≥ 1
    log : bool, default False
        Return ``log ω_k`` (``ω_k`` underflows to 0 for ``k ≳ 1e3``).

    Returns
    -------
    float
    """
    k = check_int(k, "k", low=1)
    log = check_bool(log, "log")
    lv = 0.5 * k * math.log(math.pi) - float(gammaln(0.5 * k + 1.0))
    return lv if log else math.exp(lv)


def _log_pair_min_sum(densities, log_densities):
    """``log Σ_{i<j} min(ρ_i, ρ_j)`` in O(n log n): sorted ascending, ``ρ_(m)`` is the min of ``n − m`` pairs."""
    log_densities = check_bool(log_densities, "log_densities")
    if log_densities:
        lr = check_array(densities, "densities", ndim=1, min_rows=2, allow_nonfinite=True, max_abs=None)
        if np.isnan(lr).any():
            raise ValueError("densities (log) contains NaN")
    else:
        r = check_array(densities, "densities", ndim=1, min_rows=2, allow_nonfinite=True, max_abs=None)
        if np.isnan(r).any() or (r == -np.inf).any():
            raise ValueError("densities contains NaN or -inf; density bounds must be in [0, inf]")
        if (r < 0).any():
            raise ValueError("densities must be non-negative")
        with np.errstate(divide="ignore"):
            lr = np.log(r)
    lr = np.sort(lr)
    n = lr.size
    w = np.arange(n - 1, -1, -1, dtype=np.float64)  # n − m for m = 1..n
    lr, w = lr[:-1], w[:-1]  # the largest is no pair's minimum
    if np.isneginf(lr).all():
        return -np.inf
    return float(logsumexp(lr, b=w))


def center_gap_probability_bound(t, k, densities, *, log_densities=False) -> float:
    """Union bound on ``P(δ_min < t)`` for independent centers with bounded densities (Thm. 4.6, T-4.6).

    ``P(δ_min < t) ≤ Σ_{i<j} min(ρ_i, ρ_j) · ω_k t^k``, ``ω_k = π^{k/2}/Γ(k/2+1)``. The pair sum is
    computed in ``O(n log n)`` by sorting, and the product in log space.

    Parameters
    ----------
    t : float ≥ 0
    k : int ≥ 1
        Dimension of the centers.
    densities : array_like, shape (n,), n ≥ 2
        Density bounds ``ρ_i ∈ [0, ∞]`` (``inf`` for a center without a bounded density).
    log_densities : bool, default False
        ``densities`` holds ``log ρ_i`` instead (use for large ``k``).

    Returns
    -------
    float
        The *raw* bound (may exceed 1, may be ``inf``); ``0.0`` for ``t = 0``.
    """
    t = check_scalar(t, "t", low=0.0)
    k = check_int(k, "k", low=1)
    ls = _log_pair_min_sum(densities, log_densities)
    if t == 0.0 or ls == -np.inf:
        return 0.0
    if ls == np.inf:
        return float("inf")
    val = ls + unit_ball_volume(k, log=True) + k * math.log(t)
    return math.exp(val) if val < 709.0 else float("inf")


def center_gap_lower_bound(delta, k, densities, *, log_densities=False) -> float:
    """Gap level ``t*`` with ``P(δ_min ≥ t*) ≥ 1 − δ'`` (Thm. 4.6, T-4.6).

    ``t* = (δ' / (Σ_{i<j} min(ρ_i, ρ_j) ω_k))^{1/k}``, evaluated in log space.

    Parameters
    ----------
    delta : float in (0, 1)
        Failure probability ``δ'``.
    k : int ≥ 1
    densities : array_like, shape (n,), n ≥ 2
    log_densities : bool, default False

    Returns
    -------
    float
        ``0.0`` if the pair sum is infinite, ``inf`` if it is zero.

    References
    ----------
    [NI] Thm. 4.6; docs/theory.md#t-4-6.

    Examples
    --------
    For 100 syre centers in ``k = 8`` dimensions the generic bound agrees with the closed form, and ``t*``
    is exactly the level at which the union bound equals ``δ'``:

    >>> import lmctheory as lt
    >>> rho = lt.syre_center_densities(100, 8, 1.0)
    >>> t = lt.center_gap_lower_bound(0.1, 8, rho)
    >>> round(t, 6), round(lt.syre_center_gap_lower_bound(100, 8, 1.0, 0.1), 6)
    (0.544773, 0.544773)
    >>> round(lt.center_gap_probability_bound(t, 8, rho), 12)
    0.1
    """
    delta = check_probability(delta, "delta")
    k = check_int(k, "k", low=1)
    ls = _log_pair_min_sum(densities, log_densities)
    if ls == np.inf:
        return 0.0
    if ls == -np.inf:
        return float("inf")
    return math.exp((math.log(delta) - ls - unit_ball_volume(k, log=True)) / k)


def syre_center_densities(n, k, sigma_f, *, log=False):
    """Density bounds of syre/noise centers ``v_i ~ N(0, σ_F² I_k)``: ``ρ = (2πσ_F²)^{−k/2}`` (T-4.6).

    Parameters
    ----------
    n : int ≥ 1
    k : int ≥ 1
    sigma_f : float > 0
    log : bool, default False
        Return ``log ρ`` (``ρ`` overflows for large ``k`` and small ``σ_F``).

    Returns
    -------
    ndarray, shape (n,)
    """
    n = check_int(n, "n", low=1)
    k = check_int(k, "k", low=1)
    s = check_scalar(sigma_f, "sigma_f", low=0.0, low_inclusive=False)
    log = check_bool(log, "log")
    lr = -0.5 * k * math.log(2.0 * math.pi * s * s)
    out = np.full(n, lr)
    if log:
        return out
    with np.errstate(over="ignore"):
        return np.exp(out)


def wasym_center_densities(diag, basis, sigma_f, *, log=False):
    """Density bounds of W-asymmetric centers conditioned on the mask (T-4.6).

    ``v_i ~ N(0, σ_F² T_i)``, ``T_i = Uᵀ diag(1 − d_i) U``, ``ρ_i = (2πσ_F²)^{−k/2} det(T_i)^{−1/2}``.
    ``T_i`` is singular when the fixed entries of row ``i`` do not see all of the support
    (e.g. fewer than ``k`` fixed entries); then ``v_i`` has no bounded density and ``ρ_i = +inf``
    (``log`` form: ``+inf``). Singular means ``λ_min(T_i) ≤ 10·k·ε₆₄·max(λ_max, 1)``. Infinite
    ``ρ_i`` are accepted by :func:`center_gap_probability_bound` (only pairs whose *smaller*
    density is infinite make the bound infinite).

    Parameters
    ----------
    diag : array_like, shape (n, d)
        Binary mask ``D`` (entries 0 = fixed, 1 = trainable).
    basis : array_like, shape (d, k)
    sigma_f : float > 0
    log : bool, default False

    Returns
    -------
    ndarray, shape (n,)
    """
    U = check_basis(basis)
    D = check_array(diag, "diag", ndim=2)
    if D.shape[1] != U.shape[0]:
        raise ValueError(f"diag must have shape (n, {U.shape[0]}) to match basis {U.shape}, got {D.shape}")
    if not np.all((D == 0.0) | (D == 1.0)):
        raise ValueError("diag must be a binary mask (entries 0 or 1) for W-asymmetric centers")
    s = check_scalar(sigma_f, "sigma_f", low=0.0, low_inclusive=False)
    log = check_bool(log, "log")
    k = U.shape[1]
    fixed = 1.0 - D
    T = np.einsum("jp,ij,jq->ipq", U, fixed, U)
    lam = np.linalg.eigvalsh(T)
    tol = 10.0 * k * np.finfo(np.float64).eps * np.maximum(lam[:, -1], 1.0)
    sing = lam[:, 0] <= tol
    with np.errstate(divide="ignore", invalid="ignore"):
        logdet = np.where(sing, -np.inf, np.sum(np.log(np.where(sing[:, None], 1.0, lam)), axis=1))
    lr = -0.5 * k * math.log(2.0 * math.pi * s * s) - 0.5 * logdet
    if log:
        return lr
    with np.errstate(over="ignore"):
        return np.exp(lr)


def syre_center_gap_lower_bound(n, k, sigma_f, delta) -> float:
    """Closed-form ``t*`` for syre/noise centers (Thm. 4.6, T-4.6).

    ``t* = σ_F √(2π) (2δ' / (n(n−1) ω_k))^{1/k}`` (≈ ``σ_F √(k/e) (2δ'/n²)^{1/k}`` by Stirling):
    with probability ``≥ 1 − δ'``, ``δ_min ≥ t*``.

    Parameters
    ----------
    n : int ≥ 2
    k : int ≥ 1
    sigma_f : float > 0
    delta : float in (0, 1)

    Returns
    -------
    float
    """
    n = check_int(n, "n", low=2)
    k = check_int(k, "k", low=1)
    s = check_scalar(sigma_f, "sigma_f", low=0.0, low_inclusive=False)
    delta = check_probability(delta, "delta")
    lt = (math.log(2.0 * delta) - math.log(n) - math.log(n - 1) - unit_ball_volume(k, log=True)) / k
    return s * math.sqrt(2.0 * math.pi) * math.exp(lt)


def transposition_failure_probability(n) -> float:
    """``P(‖F_{:,p} − F_{:,q}‖² < nσ_F²) ≤ e^{−n/16}`` for one coordinate pair (eq. (28), T-4.8b).

    Parameters
    ----------
    n : int ≥ 1
        Number of neurons (rows of ``F``).

    Returns
    -------
    float
    """
    n = check_int(n, "n", low=1)
    return math.exp(-n / 16.0)


def reindexing_failure_probability(n, d) -> float:
    """Union bound over all coordinate transpositions (eq. (28), T-4.8b).

    With probability ``≥ 1 − (d(d−1)/2) e^{−n/16}``, ``‖Δ^τ‖_F² ≥ nσ_F²‖u_p − u_q‖²`` for every
    ``τ = (p q)``. Returns the raw ``(d(d−1)/2) e^{−n/16}`` (may exceed 1).

    Parameters
    ----------
    n : int ≥ 1
    d : int ≥ 1

    Returns
    -------
    float

    References
    ----------
    [NI] eq. (28) (Laurent–Massart χ² tail); docs/theory.md#t-4-8b, docs/references.md#ref-laurent2000.

    Examples
    --------
    >>> import lmctheory as lt
    >>> p = lt.reindexing_failure_probability(256, 16)     # 120 pairs · e^{−16}
    >>> f"{p:.4e}"
    '1.3504e-05'
    """
    n = check_int(n, "n", low=1)
    d = check_int(d, "d", low=1)
    if d == 1:
        return 0.0
    return math.exp(math.log(d) + math.log(d - 1) - math.log(2.0) - n / 16.0)
