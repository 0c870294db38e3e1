"""Weak additivity, reciprocal orthogonality and layerwise exponentially weighted connectivity (LEWC) (docs/theory.md §9, [LEWC]).

Bias-free ReLU MLP with weights ``[W_1, …, W_L]`` (each ``(out, in)``): ``z_0 = x``,
``z_ℓ = relu(W_ℓ z_{ℓ−1})`` for ``ℓ < L``, logits ``z_L = W_L z_{L−1}``. Inputs are the rows of ``X``
``(N, d_0)``; activations are returned row-wise, ``(N, n_ℓ)``. Merge without permutation:
``θ_λ = (1−λ)θ_a + λθ_b`` — the package's one interpolation convention (``λ = 0`` is model a, as in
:mod:`lmctheory.chord` and :mod:`lmctheory.nn.training`; [LEWC] puts ``λ`` on model a, i.e. its ``λ`` is our
``1 − λ``). Below ``α = 1 − λ`` and ``β = λ`` are the weights of models a and b.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._validation import MAX_ABS, check_array, check_int, check_lam, check_scalar, check_seed, check_weight_list, check_weight_list_pair
from .chord import MonteCarloEstimate, arccos_kernel

__all__ = [
    "weak_additivity_cosine",
    "gaussian_weak_additivity_cosine",
    "weak_additivity_cosine_mc",
    "mlp_forward",
    "merge_weights",
    "reciprocal_orthogonality",
    "lewc_cosine",
    "LEWCRecursion",
    "lewc_error_recursion",
    "LEWC_RTOL",
]

#: relative tolerance of the T-5.3 violation count: ``‖e_ℓ‖ > bound + LEWC_RTOL·(bound + scale)``
#: with ``scale = ‖z_ℓ(θ_λ)‖ + α^ℓ‖z_ℓ^a‖ + β^ℓ‖z_ℓ^b‖`` (rounding of the forward passes)
LEWC_RTOL = 1e-9

#: vectors (of a given dimension) per seeded Monte Carlo block: about 2¹⁶ coordinate pairs per block
_WA_BLOCK_PAIRS = 1 << 16


def _relu(z):
    return np.maximum(z, 0.0)


def _cosine_rows(P, Q):
    """Row-wise cosine; NaN where either row is the zero vector."""
    num = np.sum(P * Q, axis=-1)
    den = np.linalg.norm(P, axis=-1) * np.linalg.norm(Q, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore", under="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        # rows whose products under- or overflowed: redo with each row scaled by its max |entry|
        # (the cosine is invariant to it); rows of ordinary magnitude keep the plain result
        mp, mq = np.max(np.abs(P), axis=-1), np.max(np.abs(Q), axis=-1)
        redo = (mp > 0) & (mq > 0) & ~((den > 1e-250) & np.isfinite(den))
        if np.any(redo):
            Ps = P / np.where(mp > 0, mp, 1.0)[..., None]
            Qs = Q / np.where(mq > 0, mq, 1.0)[..., None]
            ns = np.sum(Ps * Qs, axis=-1) / (np.linalg.norm(Ps, axis=-1) * np.linalg.norm(Qs, axis=-1))
            out = np.where(redo, ns, out)
    return out


def _relu_moment(va, vb, cab):
    """``E[relu(A)relu(B)]`` from variances and covariance (eq. 198 of [NI]; the arc-cosine kernel of
    :mod:`lmctheory.chord`); 0 if a variance is 0."""
    if va <= 0.0 or vb <= 0.0:
        return 0.0
    s = math.sqrt(va * vb)
    return float(arccos_kernel(s, min(1.0, max(-1.0, cab / s))))


# ----- weak additivity ------------------------------------------------------------------------


def weak_additivity_cosine(u, v):
    """Weak additivity ``WA(u, v) = cos(relu(u+v), relu(u)+relu(v))`` ([LEWC] Def. 5.1, docs/theory.md §9).

    Parameters
    ----------
    u, v : array_like, shape (dim,) or (m, dim)
        Pre-activations; 2-D input is treated row by row.

    Returns
    -------
    float or ndarray of shape (m,)
        In ``[0, 1]`` (both sides are non-negative vectors). **NaN** where a side is the zero
        vector (``u + v ≤ 0`` everywhere, or ``u, v ≤ 0`` everywhere): the cosine is undefined there.

    References
    ----------
    [LEWC] Def. 5.1; docs/theory.md#def-5-1.

    Examples
    --------
    >>> import lmctheory as lt
    >>> round(lt.weak_additivity_cosine([1.0, -1.0], [1.0, 2.0]), 6)    # cos((2, 1), (2, 2))
    0.948683
    """
    U = check_array(u, "u", ndim=(1, 2), max_abs=MAX_ABS)
    V = check_array(v, "v", ndim=(1, 2), max_abs=MAX_ABS)
    if U.shape != V.shape:
        raise ValueError(f"v must have the same shape as u {U.shape}, got {V.shape}")
    out = _cosine_rows(_relu(U + V), _relu(U) + _relu(V))
    return float(out) if out.ndim == 0 else out


def _wa_params(var_u, var_v, corr):
    vu = check_scalar(var_u, "var_u", low=0.0, low_inclusive=False)
    vv = check_scalar(var_v, "var_v", low=0.0, low_inclusive=False)
    rho = check_scalar(corr, "corr", low=-1.0, high=1.0)
    return vu, vv, rho


def gaussian_weak_additivity_cosine(var_u: float = 1.0, var_v: float = 1.0, corr: float = 0.0) -> float:
    """Large-dimension limit of the weak-additivity cosine for Gaussian coordinates (T-WA, docs/theory.md §9).

    For i.i.d. centered Gaussian pairs ``(U, V)`` with variances ``s_u², s_v²`` and correlation ``ρ``:

        WA → E[σ(U+V)(σ(U)+σ(V))] / √(E[σ(U+V)²] · E[(σ(U)+σ(V))²]),

    each moment from the Gaussian ReLU kernel (eq. 198 of [NI]). Independent, equal variances give
    ``(3/4 + 1/π)/√(1 + 1/π) = 0.930441…`` (the "≈ 0.93" of [LEWC]).

    Parameters
    ----------
    var_u, var_v : float, default 1.0
        Variances ``> 0``.
    corr : float, default 0.0
        Correlation in ``[−1, 1]``.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``U + V ≡ 0`` (``corr = −1`` with equal variances): the cosine is 0/0.

    References
    ----------
    [LEWC] Def. 5.1 and §5 ("≈ 0.93"); docs/theory.md#t-wa (arc-cosine kernel: docs/theory.md#eq-198).

    Examples
    --------
    >>> import math
    >>> import lmctheory as lt
    >>> round(lt.gaussian_weak_additivity_cosine(), 6)
    0.93044
    >>> math.isclose(lt.gaussian_weak_additivity_cosine(), (0.75 + 1 / math.pi) / math.sqrt(1 + 1 / math.pi))
    True
    """
    vu, vv, rho = _wa_params(var_u, var_v, corr)
    m = max(vu, vv)  # WA is scale-invariant: normalize so that extreme variances neither under- nor overflow
    vu, vv = vu / m, vv / m
    c = rho * math.sqrt(vu * vv)
    # var(U+V), cov(U+V, U), cov(U+V, V) in forms without cancellation near corr = −1, var_u = var_v
    su, sv, g = math.sqrt(vu), math.sqrt(vv), (1.0 + rho) * math.sqrt(vu * vv)
    vs = (su - sv) ** 2 + 2.0 * g
    if vs <= 0.0:
        raise ValueError("var_u, var_v, corr give U + V = 0 almost surely (corr = -1, equal variances): WA is 0/0")
    num = _relu_moment(vs, vu, su * (su - sv) + g) + _relu_moment(vs, vv, sv * (sv - su) + g)
    rhs = 0.5 * vu + 0.5 * vv + 2.0 * _relu_moment(vu, vv, c)
    return float(num / math.sqrt(0.5 * vs * rhs))


def weak_additivity_cosine_mc(
    dim: int, n_vectors: int = 1000, var_u: float = 1.0, var_v: float = 1.0, corr: float = 0.0, seed: int = 0
) -> MonteCarloEstimate:
    """Monte Carlo of the weak-additivity cosine of random Gaussian vectors (T-WA, docs/theory.md §9).

    Draws ``n_vectors`` pairs ``(u, v) ∈ R^dim × R^dim`` with i.i.d. coordinate pairs (variances
    ``var_u, var_v``, correlation ``corr``) and computes ``WA(u, v)`` for each (Numba, parallel; seeded per
    fixed block of vectors, so the result does not depend on the thread count). The mean approaches
    :func:`gaussian_weak_additivity_cosine` with an ``O(1/dim)`` bias and per-vector fluctuations
    ``O(1/√dim)``. Vectors where the cosine is undefined (a zero side, possible for tiny ``dim``) are
    left out of the statistics; ``n_samples`` counts the vectors used.

    Parameters
    ----------
    dim : int
        Dimension (``≥ 1``).
    n_vectors : int, default 1000
        Number of vector pairs (``≥ 2``).
    var_u, var_v : float
        Variances ``> 0``.
    corr : float
        Correlation in ``[−1, 1]``.
    seed : int, default 0

    Returns
    -------
    MonteCarloEstimate
        ``mean``, ``std`` (``ddof=1``) and ``stderr`` of the per-vector cosine (floats).
    """
    from ._montecarlo import run_wa_cosine

    dim = check_int(dim, "dim", low=1)
    n_vectors = check_int(n_vectors, "n_vectors", low=2)
    vu, vv, rho = _wa_params(var_u, var_v, corr)
    seed = check_seed(seed)
    a = math.sqrt(vu)
    b = rho * math.sqrt(vv)
    c = math.sqrt(max(1.0 - rho * rho, 0.0)) * math.sqrt(vv)
    block = max(1, _WA_BLOCK_PAIRS // dim)
    out = run_wa_cosine(dim, a, b, c, block, seed, n_vectors)  # short calls: Ctrl-C works; same bits
    ok = out[np.isfinite(out)]
    if ok.size < 2:
        raise ValueError(f"fewer than 2 of the {n_vectors} vectors have a defined cosine; increase dim or n_vectors")
    std = float(np.std(ok, ddof=1))
    return MonteCarloEstimate(mean=float(np.mean(ok)), stderr=std / math.sqrt(ok.size), std=std, n_samples=int(ok.size))


# ----- MLPs, merging, reciprocal orthogonality, LEWC -----------------------------------------


def _check_X(X, weights):
    Xa = check_array(X, "X", ndim=2, max_abs=MAX_ABS)
    if Xa.shape[1] != weights[0].shape[1]:
        raise ValueError(f"X must have shape (N, {weights[0].shape[1]}) to match weights[0], got {Xa.shape}")
    return Xa


def _forward(W, X):
    zs = [X]
    for ell, Wl in enumerate(W):
        p = zs[-1] @ Wl.T
        zs.append(p if ell == len(W) - 1 else _relu(p))
    return zs


def mlp_forward(weights, X):
    """Forward pass of a bias-free ReLU MLP, all layers (docs/theory.md §9).

    ``z_0 = x``, ``z_ℓ = relu(W_ℓ z_{ℓ−1})`` for ``1 ≤ ℓ < L``, logits ``z_L = W_L z_{L−1}`` (linear).

    Parameters
    ----------
    weights : list of L arrays, shapes (n_ℓ, n_{ℓ−1})
    X : array_like, shape (N, n_0)
        Inputs, one per row.

    Returns
    -------
    list of L+1 ndarrays
        ``[z_0, …, z_L]``, ``z_ℓ`` of shape ``(N, n_ℓ)``.
    """
    W = check_weight_list(weights, "weights")
    return _forward(W, _check_X(X, W))


def merge_weights(weights_a, weights_b, lam):
    """Linear merge without permutation ``θ_λ = (1−λ)θ_a + λθ_b`` (``λ = 0``: model a; docs/theory.md §9).

    Parameters
    ----------
    weights_a, weights_b : list of L arrays, same shapes
    lam : float in [0, 1]

    Returns
    -------
    list of L ndarrays
    """
    Wa, Wb = check_weight_list_pair(weights_a, weights_b)
    lam = check_scalar(lam, "lam", low=0.0, high=1.0)
    return [(1.0 - lam) * a + lam * b for a, b in zip(Wa, Wb)]


def reciprocal_orthogonality(weights_a, weights_b, X):
    """Reciprocal orthogonality ``RO_ℓ = E‖W_ℓ^a z_{ℓ−1}^b‖ / E‖W_ℓ^a z_{ℓ−1}^a‖`` ([LEWC] Def. 5.2, Fig. 7).

    Expectations are means over the rows of ``X`` (docs/theory.md §9). Small ``RO_ℓ`` means model b's
    representations lie near the null space of model a's weights. ``RO_1 = 1`` (both models see the same
    input). The other direction: swap the arguments.

    Parameters
    ----------
    weights_a, weights_b : list of L arrays, same shapes
    X : array_like, shape (N, n_0)

    Returns
    -------
    ndarray, shape (L,)
        NaN where the denominator is 0 (model a's layer output vanishes on every input).

    References
    ----------
    [LEWC] Def. 5.2, Fig. 7; docs/theory.md#def-5-2.

    Examples
    --------
    The first layer always gives 1 (both models see the same input); a model against itself gives 1 everywhere:

    >>> import numpy as np
    >>> import lmctheory as lt
    >>> rng = np.random.default_rng(0)
    >>> shapes = [(8, 4), (8, 8), (2, 8)]
    >>> Wa = [rng.standard_normal(s) for s in shapes]
    >>> Wb = [rng.standard_normal(s) for s in shapes]
    >>> X = rng.standard_normal((20, 4))
    >>> print(lt.reciprocal_orthogonality(Wa, Wa, X))
    [1. 1. 1.]
    >>> ro = lt.reciprocal_orthogonality(Wa, Wb, X)
    >>> float(ro[0]), ro.shape
    (1.0, (3,))
    """
    Wa, Wb = check_weight_list_pair(weights_a, weights_b)
    Xa = _check_X(X, Wa)
    za, zb = _forward(Wa, Xa), _forward(Wb, Xa)
    out = np.empty(len(Wa))
    for ell, W in enumerate(Wa):
        num = np.mean(np.linalg.norm(zb[ell] @ W.T, axis=1))
        den = np.mean(np.linalg.norm(za[ell] @ W.T, axis=1))
        out[ell] = num / den if den > 0 else np.nan
    return out


def _lam_merge_scalar(lam):
    lam = check_lam(lam)
    if np.ndim(lam) != 0:
        raise ValueError("lam must be a scalar in [0, 1]")
    return float(lam)


def _endpoint_and_merged_forwards(weights_a, weights_b, X, lam):
    """Validated inputs and the layer outputs of θ_a, θ_b and the merge θ_λ = (1−λ)θ_a + λθ_b on X."""
    Wa, Wb = check_weight_list_pair(weights_a, weights_b)
    Xa = _check_X(X, Wa)
    lam = _lam_merge_scalar(lam)
    Wl = [(1.0 - lam) * a + lam * b for a, b in zip(Wa, Wb)]
    return Wa, Wb, Wl, lam, _forward(Wa, Xa), _forward(Wb, Xa), _forward(Wl, Xa)


def lewc_cosine(weights_a, weights_b, X, lam: float = 0.5):
    """LEWC cosine per layer ([LEWC], docs/theory.md §9).

    ``LEWC_ℓ = mean_x cos(z_ℓ(θ_λ; x), (1−λ)^ℓ z_ℓ^a(x) + λ^ℓ z_ℓ^b(x))`` for ``ℓ = 1, …, L`` (the last is the
    logits), ``θ_λ = (1−λ)θ_a + λθ_b``. This is the **mean of per-input cosines**, not the cosine of
    stacked vectors. Inputs where either side is the zero vector (cosine undefined) are left out.

    Parameters
    ----------
    weights_a, weights_b : list of L arrays, same shapes
    X : array_like, shape (N, n_0)
    lam : float in [0, 1], default 0.5

    Returns
    -------
    ndarray, shape (L,)
        NaN for a layer where no input has a defined cosine.

    References
    ----------
    [LEWC] (definition of LEWC, Fig. 5–6); docs/theory.md#def-lewc.

    Examples
    --------
    Merging a model with itself is exactly LEWC (cosine 1 at every layer):

    >>> import numpy as np
    >>> import lmctheory as lt
    >>> rng = np.random.default_rng(0)
    >>> Wa = [rng.standard_normal(s) for s in [(8, 4), (8, 8), (2, 8)]]
    >>> X = rng.standard_normal((20, 4))
    >>> print(lt.lewc_cosine(Wa, Wa, X, lam=0.5))
    [1. 1. 1.]
    """
    Wa, Wb, _, lam, za, zb, zm = _endpoint_and_merged_forwards(weights_a, weights_b, X, lam)
    out = np.empty(len(Wa))
    for ell in range(1, len(Wa) + 1):
        c = _cosine_rows(zm[ell], (1.0 - lam) ** ell * za[ell] + lam**ell * zb[ell])
        out[ell - 1] = np.mean(c[np.isfinite(c)]) if np.any(np.isfinite(c)) else np.nan
    return out


@dataclass(frozen=True)
class LEWCRecursion:
    """Result of :func:`lewc_error_recursion` (T-5.3); arrays of shape ``(L, N)``, row ``ℓ−1`` is layer ``ℓ``.

    Attributes
    ----------
    error : ndarray (L, N)
        Measured ``‖e_ℓ‖``, ``e_ℓ = z_ℓ(θ_λ) − α^ℓ z_ℓ^a − β^ℓ z_ℓ^b`` (``α = 1−λ``, ``β = λ``).
    bound : ndarray (L, N)
        Recursive bound ``B_1 = ‖σ(p+q) − σ(p) − σ(q)‖`` (exact), ``B_ℓ = wa_ℓ + ‖c_ℓ‖ + ‖W_ℓ^λ‖₂ B_{ℓ−1}``
        (``2 ≤ ℓ < L``), ``B_L = ‖c_L‖ + ‖W_L^λ‖₂ B_{L−1}``.
    bound_one_step : ndarray (L, N)
        Same with the measured ``‖e_{ℓ−1}‖`` in place of ``B_{ℓ−1}``.
    wa_term : ndarray (L, N)
        ``‖σ(p+q) − σ(p) − σ(q)‖`` (0 at the logits).
    cross_term : ndarray (L, N)
        ``‖c_ℓ‖`` (0 at ``ℓ = 1``).
    op_norm : ndarray (L,)
        ``‖W_ℓ^λ‖₂`` (spectral norm).
    logit_identity_residual : ndarray (N,)
        ``‖e_L − (c_L + W_L^λ e_{L−1})‖`` (exact identity: rounding only; ``‖e_1‖`` when ``L = 1``).
    n_violations, n_violations_one_step : int
        Number of ``(ℓ, x)`` with ``error > bound + rtol·(bound + scale)`` (see :data:`LEWC_RTOL`).
    rtol : float
    """

    error: np.ndarray
    bound: np.ndarray
    bound_one_step: np.ndarray
    wa_term: np.ndarray
    cross_term: np.ndarray
    op_norm: np.ndarray
    logit_identity_residual: np.ndarray
    n_violations: int
    n_violations_one_step: int
    rtol: float


def lewc_error_recursion(weights_a, weights_b, X, lam: float = 0.5) -> LEWCRecursion:
    """The LEWC error recursion T-5.3 ([LEWC] Thm. 5.3, explicit form of docs/theory.md §9), per input.

    With ``α = 1 − λ``, ``β = λ`` (``θ_λ = αθ_a + βθ_b``): ``e_ℓ = z_ℓ(θ_λ) − α^ℓ z_ℓ^a − β^ℓ z_ℓ^b``. For
    ``ℓ = 1``: ``e_1 = σ(p+q) − σ(p) − σ(q)``, ``p = αW_1^a x``, ``q = βW_1^b x`` (exact). For ``2 ≤ ℓ < L``,
    with ``p = α^ℓ W_ℓ^a z_{ℓ−1}^a``, ``q = β^ℓ W_ℓ^b z_{ℓ−1}^b``,
    ``c_ℓ = αβ^{ℓ−1} W_ℓ^a z_{ℓ−1}^b + βα^{ℓ−1} W_ℓ^b z_{ℓ−1}^a``, ``W_ℓ^λ = αW_ℓ^a + βW_ℓ^b``:

        ‖e_ℓ‖ ≤ ‖σ(p+q) − σ(p) − σ(q)‖ + ‖c_ℓ‖ + ‖W_ℓ^λ‖₂ ‖e_{ℓ−1}‖,

    and at the logits ``e_L = c_L + W_L^λ e_{L−1}`` exactly (bounded by ``‖c_L‖ + ‖W_L^λ‖₂‖e_{L−1}‖``). The
    bound is reported both fully recursive (``B_{ℓ−1}`` in place of ``‖e_{ℓ−1}‖``) and one-step (measured
    ``‖e_{ℓ−1}‖``). For ``L = 1`` the network is linear and ``e_1 = 0``: bound 0.

    Parameters
    ----------
    weights_a, weights_b : list of L arrays, same shapes
    X : array_like, shape (N, n_0)
    lam : float in [0, 1], default 0.5

    Returns
    -------
    LEWCRecursion

    References
    ----------
    [LEWC] Thm. 5.3; docs/theory.md#t-5-3.

    Examples
    --------
    The recursion bounds the LEWC error on every input, for any pair of networks:

    >>> import numpy as np
    >>> import lmctheory as lt
    >>> rng = np.random.default_rng(0)
    >>> shapes = [(8, 4), (8, 8), (2, 8)]
    >>> Wa = [rng.standard_normal(s) for s in shapes]
    >>> Wb = [rng.standard_normal(s) for s in shapes]
    >>> rec = lt.lewc_error_recursion(Wa, Wb, rng.standard_normal((20, 4)))
    >>> rec.n_violations, rec.error.shape
    (0, (3, 20))
    """
    Wa, Wb, Wl, lam, za, zb, zm = _endpoint_and_merged_forwards(weights_a, weights_b, X, lam)
    al, be = 1.0 - lam, lam  # weights of models a and b
    L = len(Wa)
    Xa = za[0]  # z_0 = X
    N = Xa.shape[0]
    E = [None] + [zm[ell] - al**ell * za[ell] - be**ell * zb[ell] for ell in range(1, L + 1)]
    err = np.stack([np.linalg.norm(E[ell], axis=1) for ell in range(1, L + 1)])
    scale = np.stack(
        [
            np.linalg.norm(zm[ell], axis=1)
            + al**ell * np.linalg.norm(za[ell], axis=1)
            + be**ell * np.linalg.norm(zb[ell], axis=1)
            for ell in range(1, L + 1)
        ]
    )
    op = np.array([np.linalg.norm(W, 2) for W in Wl])
    wa = np.zeros((L, N))
    cross = np.zeros((L, N))
    bound = np.zeros((L, N))
    one = np.zeros((L, N))
    resid = err[0].copy()
    for ell in range(1, L + 1):
        k = ell - 1
        if ell == L and L == 1:
            break  # linear network: e_1 = 0, bound 0
        if ell == 1:
            p, q = al * (Xa @ Wa[0].T), be * (Xa @ Wb[0].T)
            wa[0] = np.linalg.norm(_relu(p + q) - _relu(p) - _relu(q), axis=1)
            bound[0] = one[0] = wa[0]
            continue
        c = al * be ** (ell - 1) * (zb[k] @ Wa[k].T) + be * al ** (ell - 1) * (za[k] @ Wb[k].T)
        cross[k] = np.linalg.norm(c, axis=1)
        if ell < L:
            p = al**ell * (za[k] @ Wa[k].T)
            q = be**ell * (zb[k] @ Wb[k].T)
            wa[k] = np.linalg.norm(_relu(p + q) - _relu(p) - _relu(q), axis=1)
        else:
            resid = np.linalg.norm(E[L] - (c + E[L - 1] @ Wl[k].T), axis=1)
        bound[k] = wa[k] + cross[k] + op[k] * bound[k - 1]
        one[k] = wa[k] + cross[k] + op[k] * err[k - 1]
    tol = LEWC_RTOL * scale
    n_viol = int(np.sum(err > bound + LEWC_RTOL * bound + tol))
    n_viol1 = int(np.sum(err > one + LEWC_RTOL * one + tol))
    return LEWCRecursion(
        error=err,
        bound=bound,
        bound_one_step=one,
        wa_term=wa,
        cross_term=cross,
        op_norm=op,
        logit_identity_residual=resid,
        n_violations=n_viol,
        n_violations_one_step=n_viol1,
        rtol=LEWC_RTOL,
    )
