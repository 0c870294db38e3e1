"""Chord deviations along the linear path and the LMC barrier bounds (docs/theory.md §7, [NI] §5).

Along the path ``W̃(λ) = (1−λ)W̃⁽⁰⁾ + λW̃⁽¹⁾`` (eq. 29) the per-neuron *chord deviation* (eq. 30) is

    Δ_i(λ) = E_x [σ(w̃_i(λ)ᵀx) − (1−λ)σ(w̃_i⁽⁰⁾ᵀx) − λσ(w̃_i⁽¹⁾ᵀx)]²,

the mean squared distance between the neuron on the path and the chord between its endpoints.
This module computes it exactly for Gaussian inputs and ReLU (T-chord-exact), empirically on data,
by Monte Carlo (Numba, seeded), and evaluates the bounds T-5.1, eq. (31), T-D.1 and T-5.2.

Conventions
-----------
Weights ``w0, w1`` are the *effective* rows ``w̃_i = f_i + d_i ⊙ w_i`` of the two endpoints, arrays of
shape ``(n, d)`` (one row per neuron). ``cov`` is the input second-moment matrix ``Σ = E[xxᵀ]`` (inputs
centered Gaussian ``N(0, Σ)`` where a Gaussian is assumed), ``(d, d)`` symmetric PSD. ``‖w‖_Σ = √(wᵀΣw)``;
``θ_i ∈ [0, π]`` is the angle between ``w̃_i⁽⁰⁾`` and ``w̃_i⁽¹⁾`` in the ``Σ`` inner product (``θ_i = 0`` when
either has ``‖·‖_Σ = 0``). ``λ = 0`` is endpoint ``0``. A scalar ``lam`` gives arrays of shape ``(n,)``; a
1-D ``lam`` of length ``m`` gives ``(m, n)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from ._validation import (
    MAX_ABS,
    check_array,
    check_choice,
    check_int,
    check_lam,
    check_psd,
    check_scalar,
    check_seed,
)

__all__ = [
    "MonteCarloEstimate",
    "ACTIVATION_CURVATURE",
    "ACTIVATIONS",
    "relu_gaussian_moment",
    "gaussian_relu_chord_deviation",
    "chord_deviation",
    "chord_deviation_mc",
    "relu_chord_bound",
    "center_dominance",
    "center_dominated_chord_bound",
    "smooth_chord_bound",
    "center_dominated_smooth_chord_bound",
    "barrier_bound",
]

#: ``sup |σ''|`` of the smooth activations (docs/theory.md §7 T-D.1): GELU ``x·Φ(x)`` has
#: ``σ'' = φ(x)(2 − x²)``, maximal at 0: ``2/√(2π)``; tanh: ``|−2 tanh·sech²| ≤ 4/(3√3)`` (at
#: ``tanh = 1/√3``); softplus: ``sigmoid·(1 − sigmoid) ≤ 1/4``.
ACTIVATION_CURVATURE = {
    "gelu": 2.0 / math.sqrt(2.0 * math.pi),
    "tanh": 4.0 / (3.0 * math.sqrt(3.0)),
    "softplus": 0.25,
}

#: activations accepted by :func:`chord_deviation` and :func:`chord_deviation_mc`
ACTIVATIONS = ("relu", "gelu", "tanh", "identity")
COS_CLIP_TOL = 1e-9  # rounding slack of a correlation before it is clipped to [-1, 1]

#: Monte Carlo chunk size (samples per seeded chunk; fixed so results do not depend on threads)
MC_CHUNK = 16384


@dataclass(frozen=True)
class MonteCarloEstimate:
    """A Monte Carlo estimate with its standard error (docs/theory.md §12).

    Attributes
    ----------
    mean : float or ndarray
        The sample mean.
    stderr : float or ndarray
        Standard error of the mean, ``std / √n_samples``.
    std : float or ndarray
        Sample standard deviation (``ddof=1``) of the per-sample quantity.
    n_samples : int
        Number of samples (per entry).
    """

    mean: object
    stderr: object
    std: object
    n_samples: int


# ----- helpers ---------------------------------------------------------------------------------


def _series(x, coef_fn, terms=12):
    """``Σ_{k≥1} coef_fn(k)·x^{2k+1}`` (Horner-free, fine for |x| ≤ 1)."""
    out = np.zeros_like(x)
    x2 = x * x
    p = x.copy()
    for k in range(1, terms + 1):
        p = p * x2
        out = out + coef_fn(k) * p
    return out


def _x_minus_sin(x):
    """``x − sin x`` without cancellation for small ``x`` (series below 1)."""
    x = np.asarray(x, dtype=np.float64)
    small = np.abs(x) < 1.0
    series = _series(np.where(small, x, 0.0), lambda k: (-1.0) ** (k + 1) / math.factorial(2 * k + 1))
    return np.where(small, series, x - np.sin(x))


def _sin_minus_theta_cos(t):
    """``g(θ) = sin θ − θ cos θ = Σ_{k≥1} (−1)^{k+1} 2k θ^{2k+1}/(2k+1)!`` (series below 1)."""
    t = np.asarray(t, dtype=np.float64)
    small = np.abs(t) < 1.0
    series = _series(np.where(small, t, 0.0), lambda k: (-1.0) ** (k + 1) * 2 * k / math.factorial(2 * k + 1))
    return np.where(small, series, np.sin(t) - t * np.cos(t))


def _check_endpoint_weights(w0, w1, d=None):
    W0 = check_array(w0, "w0", ndim=2, max_abs=MAX_ABS)
    W1 = check_array(w1, "w1", ndim=2, max_abs=MAX_ABS)
    if W1.shape != W0.shape:
        raise ValueError(f"w1 must have the same shape as w0 {W0.shape} (n, d), got {W1.shape}")
    if d is not None and W0.shape[1] != d:
        raise ValueError(f"w0 and w1 must have d = {d} columns to match the input, got shape {W0.shape}")
    return W0, W1


def sigma_geometry(W0, W1, S):
    """``s0, s1`` (Σ-norms) and the Σ-angle ``θ`` per row, ``θ = 2·atan2(‖û−v̂‖_Σ, ‖û+v̂‖_Σ)``.

    The half-angle form keeps ``θ`` accurate to rounding for nearly parallel rows (``arccos`` of
    the cosine loses half the digits there). Internal API (also used by :mod:`lmctheory.bench.montecarlo`):
    ``W0, W1`` of shape ``(n, d)`` and ``S`` of shape ``(d, d)`` are already validated.
    """
    s0 = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", W0, S, W0), 0.0))
    s1 = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", W1, S, W1), 0.0))
    ok = (s0 > 0.0) & (s1 > 0.0)
    U = W0 / np.where(ok, s0, 1.0)[:, None]
    V = W1 / np.where(ok, s1, 1.0)[:, None]
    dm, dp = U - V, U + V
    nm = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", dm, S, dm), 0.0))
    npl = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", dp, S, dp), 0.0))
    theta = np.where(ok, 2.0 * np.arctan2(nm, npl), 0.0)
    return s0, s1, theta


def _lam_grid(lam):
    lam = check_lam(lam)
    scalar = np.ndim(lam) == 0
    return np.atleast_1d(np.asarray(lam, dtype=np.float64)), scalar


def _act(name):
    if name == "relu":
        return lambda z: np.maximum(z, 0.0)
    if name == "gelu":
        return lambda z: 0.5 * z * (1.0 + erf(z / math.sqrt(2.0)))
    if name == "tanh":
        return np.tanh
    return lambda z: z


# ----- Gaussian ReLU moments and the exact chord deviation ------------------------------------


def relu_gaussian_moment(s_x, s_y, cos_theta):
    """Second cross-moment of ReLU under a centered bivariate Gaussian (arc-cosine kernel).

    ``E[relu(X) relu(Y)] = (s_X s_Y / 2π)(sin θ + (π − θ) cos θ)``, ``θ = arccos(cos_theta)`` with
    ``cos_theta`` clipped to ``[−1, 1]`` (docs/theory.md §7, eq. (198) of [NI]). Special cases:
    ``θ = 0`` gives ``s_X s_Y / 2`` (``E[relu(X)²] = s_X²/2``), ``θ = π`` gives 0.

    Parameters
    ----------
    s_x, s_y : array_like, broadcastable
        Standard deviations of ``X`` and ``Y`` (``≥ 0``).
    cos_theta : array_like, broadcastable
        Correlation of ``X`` and ``Y`` in ``[−1, 1]``; values within ``COS_CLIP_TOL = 1e-9`` outside
        are clipped (rounding), others raise ``ValueError``.

    Returns
    -------
    float or ndarray
        The moment, broadcast shape of the inputs (a float for scalar inputs).

    References
    ----------
    [NI] eq. (198); docs/theory.md#eq-198 (the arc-cosine kernel, Cho & Saul 2009; docs/references.md#ref-cho2009).

    Examples
    --------
    >>> import math
    >>> import lmctheory as lt
    >>> lt.relu_gaussian_moment(1.0, 1.0, 1.0)        # E[relu(X)²] = 1/2
    0.5
    >>> math.isclose(lt.relu_gaussian_moment(1.0, 1.0, 0.0), 1 / (2 * math.pi))   # independent: E[relu]²
    True
    """
    sx = check_array(s_x, "s_x")
    sy = check_array(s_y, "s_y")
    ct = check_array(cos_theta, "cos_theta")
    if np.any(sx < 0):
        raise ValueError("s_x must be >= 0 (a standard deviation)")
    if np.any(sy < 0):
        raise ValueError("s_y must be >= 0 (a standard deviation)")
    try:
        sx, sy, ct = np.broadcast_arrays(sx, sy, ct)
    except ValueError:
        raise ValueError(
            f"s_x, s_y and cos_theta must broadcast together, got shapes {sx.shape}, {sy.shape}, {ct.shape}"
        ) from None
    if np.any(np.abs(ct) > 1.0 + COS_CLIP_TOL):
        raise ValueError(f"cos_theta must lie in [-1, 1] (up to {COS_CLIP_TOL:g} of rounding), "
                         f"got values in [{ct.min()}, {ct.max()}]")
    out = arccos_kernel(sx * sy, np.clip(ct, -1.0, 1.0))
    return float(out) if out.ndim == 0 else out


def arccos_kernel(sxy, c):
    """``(s_X s_Y / 2π)(sin θ + (π − θ) cos θ)`` with ``sxy = s_X s_Y`` and ``c = cos θ ∈ [−1, 1]`` (already
    validated): the one implementation of the ReLU Gaussian moment (:func:`relu_gaussian_moment`,
    :func:`lmctheory.lewc.gaussian_weak_additivity_cosine`). Internal API: inputs are not checked."""
    return sxy / (2.0 * math.pi) * (np.sqrt(np.maximum(1.0 - c * c, 0.0)) + (math.pi - np.arccos(c)) * c)


def _chord_exact(s0, s1, theta, lam):
    """``Δ(λ) = (1/2π)[A²(2t − sin 2t) + B²(2u − sin 2u)]``, see :func:`gaussian_relu_chord_deviation`."""
    A = (1.0 - lam)[:, None] * s0[None, :]
    B = lam[:, None] * s1[None, :]
    st, ct = np.sin(theta)[None, :], np.cos(theta)[None, :]
    t = np.arctan2(B * st, A + B * ct)
    u = np.arctan2(A * st, B + A * ct)
    return (A * A * _x_minus_sin(2.0 * t) + B * B * _x_minus_sin(2.0 * u)) / (2.0 * math.pi)


def gaussian_relu_chord_deviation(w0, w1, cov, lam):
    """Exact per-neuron ReLU chord deviation for Gaussian inputs ``x ~ N(0, Σ)`` (T-chord-exact).

    With ``X = w̃_i⁽⁰⁾ᵀx``, ``Y = w̃_i⁽¹⁾ᵀx``, ``Z = (1−λ)X + λY``, the chord error
    ``h = relu(Z) − (1−λ)relu(X) − λ relu(Y)`` vanishes when ``X, Y`` have the same sign, and
    ``|h| = min((1−λ)|X|, λ|Y|)`` otherwise (docs/theory.md §7, proof of T-5.1). Writing ``(X, Y)`` in polar
    coordinates of a standard Gaussian, the radial integral gives ``E[r²] = 2`` and the angular integral
    over the wedge where the signs differ is elementary:

        Δ_i(λ) = (1/2π) [A² (2t − sin 2t) + B² (2u − sin 2u)],

    ``A = (1−λ)s_0``, ``B = λ s_1``, ``t = atan2(B sin θ, A + B cos θ)``, ``u = θ − t = atan2(A sin θ, B + A cos θ)``
    (``t`` is the angle in the wedge where ``A|sin| = B|sin(θ−·)|``). This equals the expansion
    ``E[(relu(Z) − (1−λ)relu(X) − λ relu(Y))²]`` into the six Gaussian ReLU moments of eq. (198) (tested), but
    is a sum of non-negative terms: no cancellation, full relative accuracy even when ``Δ`` is tiny.

    Parameters
    ----------
    w0, w1 : array_like, shape (n, d)
        Effective weights (rows ``w̃_i``) at ``λ = 0`` and ``λ = 1``.
    cov : array_like, shape (d, d)
        Input covariance ``Σ`` (symmetric PSD).
    lam : float or array_like of shape (m,)
        Path position(s) in ``[0, 1]``.

    Returns
    -------
    ndarray, shape (n,) or (m, n)
        ``Δ_i(λ) ≥ 0``; sum over neurons for ``Δ_φ``.

    References
    ----------
    docs/theory.md#t-chord-exact (closed form), [NI] eq. (30) and eq. (198); docs/theory.md#eq-30.

    Examples
    --------
    Two orthogonal unit neurons under ``x ~ N(0, I)``; the chord deviation vanishes at the endpoints and
    between identical neurons:

    >>> import numpy as np
    >>> import lmctheory as lt
    >>> w0, w1, cov = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), np.eye(2)
    >>> print(np.round(lt.gaussian_relu_chord_deviation(w0, w1, cov, 0.5), 4))
    [0.0454]
    >>> print(lt.gaussian_relu_chord_deviation(w0, w1, cov, [0.0, 1.0]))
    [[0.]
     [0.]]
    >>> print(lt.gaussian_relu_chord_deviation(w0, w0, cov, 0.5))
    [0.]
    """
    W0, W1 = _check_endpoint_weights(w0, w1)
    S = check_psd(cov, "cov", dim=W0.shape[1])
    lams, scalar = _lam_grid(lam)
    s0, s1, theta = sigma_geometry(W0, W1, S)
    out = _chord_exact(s0, s1, theta, lams)
    return out[0] if scalar else out


def chord_deviation(w0, w1, X, lam, activation: str = "relu"):
    """Empirical per-neuron chord deviation on data (eq. (30), docs/theory.md §7).

    ``Δ_i(λ) = (1/N) Σ_r [σ(w̃_i(λ)ᵀx_r) − (1−λ)σ(w̃_i⁽⁰⁾ᵀx_r) − λσ(w̃_i⁽¹⁾ᵀx_r)]²`` with
    ``w̃_i(λ) = (1−λ)w̃_i⁽⁰⁾ + λw̃_i⁽¹⁾``.

    Parameters
    ----------
    w0, w1 : array_like, shape (n, d)
        Effective weights at the two endpoints.
    X : array_like, shape (N, d)
        Inputs, one per row.
    lam : float or array_like of shape (m,)
        Path position(s) in ``[0, 1]``.
    activation : {"relu", "gelu", "tanh", "identity"}
        ``gelu`` is the exact form ``x·Φ(x) = x(1 + erf(x/√2))/2``.

    Returns
    -------
    ndarray, shape (n,) or (m, n)
        ``identity`` gives exactly 0; ``relu`` uses ``|h| = min((1−λ)|X|, λ|Y|)`` where the signs of
        ``X = w̃⁽⁰⁾ᵀx`` and ``Y = w̃⁽¹⁾ᵀx`` differ and ``h = 0`` elsewhere (exact zeros, full relative
        accuracy); ``gelu``/``tanh`` carry an absolute rounding floor ``≈ (ε·max|wᵀx|)²``. Means of
        squares are scaled, so any result within the float64 range is returned.

    Raises
    ------
    ValueError
        If the result itself exceeds the float64 range (e.g. ``|w̃ᵀx| ≈ 1e198`` from entries of 1e99).
    """
    W0, W1 = _check_endpoint_weights(w0, w1)
    Xa = check_array(X, "X", ndim=2, max_abs=MAX_ABS)
    if Xa.shape[1] != W0.shape[1]:
        raise ValueError(f"X must have shape (N, {W0.shape[1]}) to match w0, got {Xa.shape}")
    name = check_choice(activation, "activation", ACTIVATIONS)
    act = _act(name)
    lams, scalar = _lam_grid(lam)
    out = np.zeros((lams.size, W0.shape[0]))
    if name == "identity":  # a linear σ lies on its chord: Δ ≡ 0 exactly (no rounding noise)
        return out[0] if scalar else out
    P0, P1 = Xa @ W0.T, Xa @ W1.T
    A0, A1 = act(P0), act(P1)
    if name == "relu":
        # h = 0 where the signs agree, else |h| = min((1−λ)|X|, λ|Y|) (proof of T-5.1): exact zeros and
        # full relative accuracy, where the plain difference leaves rounding noise of order ε|X|
        differ = ((P0 > 0.0) & (P1 < 0.0)) | ((P0 < 0.0) & (P1 > 0.0))
        aP0, aP1 = np.abs(P0), np.abs(P1)
    for a, lm in enumerate(lams):
        if name == "relu":
            h = np.where(differ, np.minimum((1.0 - lm) * aP0, lm * aP1), 0.0)
        else:
            h = act((1.0 - lm) * P0 + lm * P1) - (1.0 - lm) * A0 - lm * A1
        out[a] = _mean_square(h)
    if not np.all(np.isfinite(out)):
        raise ValueError("the chord deviation exceeds the float64 range (max 1.8e308): |w̃ᵀx| reaches "
                         f"{max(float(np.max(np.abs(P0))), float(np.max(np.abs(P1)))):.3g}; rescale w0, w1 "
                         "or X (for relu Δ scales with the square of either)")
    return out[0] if scalar else out


def _mean_square(h):
    """Column means of ``h²`` without spurious over-/underflow: ``m² · mean((h/m)²)``, ``m = max|h|``."""
    m = np.max(np.abs(h), axis=0)
    safe = np.where(m > 0.0, m, 1.0)
    with np.errstate(over="ignore"):
        return np.where(m > 0.0, np.mean((h / safe) ** 2, axis=0) * safe * safe, 0.0)


def chord_deviation_mc(
    w0, w1, cov, lam, n_samples: int = 100_000, seed: int = 0, activation: str = "relu"
) -> MonteCarloEstimate:
    """Monte Carlo estimate of the per-neuron chord deviation for ``x ~ N(0, Σ)`` (T-chord-exact check).

    ``Δ_i(λ) = E[(σ(Z) − (1−λ)σ(X) − λσ(Y))²]``. The quantity depends on ``x`` only through the centered
    bivariate Gaussian ``(X, Y) = (w̃_i⁽⁰⁾ᵀx, w̃_i⁽¹⁾ᵀx)`` with covariance ``[[s_0², c], [c, s_1²]]``,
    ``c = w̃_i⁽⁰⁾ᵀΣw̃_i⁽¹⁾``; the Numba kernel samples that pair directly (``X = s_0ξ``,
    ``Y = s_1(cos θ·ξ + sin θ·η)``), ``n_samples`` pairs per neuron, the same pairs for every ``λ``
    (common random numbers). Parallel and seeded per fixed-size chunk: the same ``seed`` gives
    identical results for any number of threads.

    Parameters
    ----------
    w0, w1 : array_like, shape (n, d)
    cov : array_like, shape (d, d)
        Symmetric PSD.
    lam : float or array_like of shape (m,)
    n_samples : int, default 100_000
        Samples per neuron (``≥ 2``).
    seed : int, default 0
    activation : {"relu", "gelu", "tanh", "identity"}

    Returns
    -------
    MonteCarloEstimate
        ``mean`` and ``stderr`` (and ``std``) of shape ``(n,)`` or ``(m, n)``.
    """
    from ._montecarlo import run_chord_mc
    from .kernels.montecarlo import ACT_CODES

    W0, W1 = _check_endpoint_weights(w0, w1)
    S = check_psd(cov, "cov", dim=W0.shape[1])
    lams, scalar = _lam_grid(lam)
    n_samples = check_int(n_samples, "n_samples", low=2)
    seed = check_seed(seed)
    act = ACT_CODES[check_choice(activation, "activation", ACTIVATIONS)]
    s0, s1, theta = sigma_geometry(W0, W1, S)
    n_chunks = -(-n_samples // MC_CHUNK)
    # short Numba calls (Ctrl-C within ~0.1 s), bit-identical to one call
    mean, m2 = run_chord_mc(
        np.ascontiguousarray(s0),
        np.ascontiguousarray(s1 * np.cos(theta)),
        np.ascontiguousarray(s1 * np.sin(theta)),
        lams,
        act,
        n_samples,
        MC_CHUNK,
        seed,
        n_chunks,
    )
    # Chan et al. pooled mean/variance over chunks, in a fixed order
    counts = np.minimum(MC_CHUNK, n_samples - MC_CHUNK * np.arange(n_chunks)).astype(np.float64)
    cw = counts[:, None, None]
    mu = np.sum(cw * mean, axis=0) / n_samples
    ss = np.sum(m2, axis=0) + np.sum(cw * (mean - mu) ** 2, axis=0)
    std = np.sqrt(np.maximum(ss, 0.0) / (n_samples - 1))
    se = std / math.sqrt(n_samples)
    if scalar:
        mu, se, std = mu[0], se[0], std[0]
    return MonteCarloEstimate(mean=mu, stderr=se, std=std, n_samples=n_samples)


# ----- bounds ---------------------------------------------------------------------------------


def relu_chord_bound(w0, w1, cov, lam, form: str = "exact"):
    """Upper bound T-5.1 ([NI] Thm. 5.1) on the per-neuron ReLU chord deviation.

    ``form="exact"``: ``Δ_i(λ) ≤ λ(1−λ)(s_0 s_1/π)(sin θ_i − θ_i cos θ_i)``;
    ``form="cubic"``: the weaker ``λ(1−λ) s_0 s_1 θ_i³ / (3π)``.
    ``s_c = ‖w̃_i⁽ᶜ⁾‖_Σ``, ``θ_i`` the Σ-angle (docs/theory.md §7, T-5.1). Valid for ``x ~ N(0, Σ)``.

    Parameters
    ----------
    w0, w1 : array_like, shape (n, d)
    cov : array_like, shape (d, d)
        Symmetric PSD.
    lam : float or array_like of shape (m,)
    form : {"exact", "cubic"}

    Returns
    -------
    ndarray, shape (n,) or (m, n)

    References
    ----------
    [NI] Thm. 5.1; docs/theory.md#t-5-1.

    Examples
    --------
    For orthogonal weights (``θ = π/2``) the exact form is ``λ(1−λ)/π``, above the exact deviation ``0.0454``:

    >>> import numpy as np
    >>> import lmctheory as lt
    >>> w0, w1, cov = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), np.eye(2)
    >>> print(np.round(lt.relu_chord_bound(w0, w1, cov, 0.5), 4))
    [0.0796]
    >>> print(np.round(lt.relu_chord_bound(w0, w1, cov, 0.5, form="cubic"), 4))
    [0.1028]
    """
    W0, W1 = _check_endpoint_weights(w0, w1)
    S = check_psd(cov, "cov", dim=W0.shape[1])
    lams, scalar = _lam_grid(lam)
    form = check_choice(form, "form", ("exact", "cubic"))
    s0, s1, theta = sigma_geometry(W0, W1, S)
    g = _sin_minus_theta_cos(theta) / math.pi if form == "exact" else theta**3 / (3.0 * math.pi)
    out = (lams * (1.0 - lams))[:, None] * (s0 * s1 * g)[None, :]
    return out[0] if scalar else out


def center_dominance(w0, w1, fixed, cov):
    """Center dominance ``η_i = max_{c∈{0,1}} ‖w̃_i⁽ᶜ⁾ − f_i‖_Σ / ‖f_i‖_Σ`` (docs/theory.md §7, eq. (31)).

    Parameters
    ----------
    w0, w1 : array_like, shape (n, d)
        Effective weights of the two endpoints.
    fixed : array_like, shape (n, d)
        Fixed centers ``F`` (rows ``f_i``).
    cov : array_like, shape (d, d)
        Symmetric PSD.

    Returns
    -------
    ndarray, shape (n,)
        ``η_i ≥ 0``; ``+inf`` where ``‖f_i‖_Σ = 0`` and the trainable part is non-zero, ``0`` where both are zero.
    """
    W0, W1 = _check_endpoint_weights(w0, w1)
    F = check_array(fixed, "fixed", ndim=2, max_abs=MAX_ABS)
    if F.shape != W0.shape:
        raise ValueError(f"fixed must have the shape of w0 {W0.shape} (n, d), got {F.shape}")
    S = check_psd(cov, "cov", dim=W0.shape[1])

    def snorm(M):
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", M, S, M), 0.0))

    num = np.maximum(snorm(W0 - F), snorm(W1 - F))
    den = snorm(F)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num > 0, np.inf, 0.0))
    return eta


def _center_dominated_inputs(fixed, cov, eta):
    """Validated per-neuron ``η_i ∈ [0, 1)`` and ``‖f_i‖²_Σ`` of the center-dominated bounds."""
    F = check_array(fixed, "fixed", ndim=2, max_abs=MAX_ABS)
    S = check_psd(cov, "cov", dim=F.shape[1])
    if np.ndim(eta) == 0:
        e = np.full(F.shape[0], check_scalar(eta, "eta", low=0.0, high=1.0, high_inclusive=False))
    else:
        e = check_array(eta, "eta", shape=(F.shape[0],))
        if np.any(e < 0) or np.any(e >= 1):
            raise ValueError(f"eta must lie in [0, 1) (center-dominated regime), got values in [{e.min()}, {e.max()}]")
    return e, np.maximum(np.einsum("ij,jk,ik->i", F, S, F), 0.0)


def center_dominated_chord_bound(fixed, cov, eta) -> float:
    """Center-dominated bound eq. (31) ([NI] §5, docs/theory.md §7) on ``sup_λ Δ_φ(λ)`` (ReLU, ``x ~ N(0, Σ)``).

    ``sup_λ Δ_φ(λ) ≤ (1/4)(1+η)² · g(2 arcsin η)/π · Σ_i ‖f_i‖²_Σ``, ``g(θ) = sin θ − θ cos θ``,
    valid when ``‖w̃_i⁽ᶜ⁾ − f_i‖_Σ ≤ η‖f_i‖_Σ`` for ``c = 0, 1`` and ``η < 1``. A per-neuron ``eta`` of shape
    ``(n,)`` (e.g. from :func:`center_dominance`) gives the sum of the per-neuron bounds
    ``Σ_i (1/4)(1+η_i)² g(2 arcsin η_i)/π ‖f_i‖²_Σ`` (also valid: the sup of a sum is at most the sum of sups).

    Parameters
    ----------
    fixed : array_like, shape (n, d)
        Fixed centers ``F``.
    cov : array_like, shape (d, d)
        Symmetric PSD.
    eta : float or array_like of shape (n,)
        Center dominance in ``[0, 1)``.

    Returns
    -------
    float
    """
    e, fn2 = _center_dominated_inputs(fixed, cov, eta)
    per = 0.25 * (1.0 + e) ** 2 * _sin_minus_theta_cos(2.0 * np.arcsin(e)) / math.pi * fn2
    return float(np.sum(per))


def smooth_chord_bound(w0, w1, cov, lam, beta):
    """Chord bound for smooth activations T-D.1 ([NI] Thm. D.1), ``|σ''| ≤ β``, ``x ~ N(0, Σ)``.

    ``Δ_i(λ) ≤ (3β²/4) λ²(1−λ)² ‖w̃_i⁽¹⁾ − w̃_i⁽⁰⁾‖_Σ⁴`` (interpolation error ``≤ (λ(1−λ)/2)β(Y−X)²`` and
    ``E[G⁴] = 3s⁴`` for a centered Gaussian ``G``; docs/theory.md §7).

    Parameters
    ----------
    w0, w1 : array_like, shape (n, d)
    cov : array_like, shape (d, d)
        Symmetric PSD.
    lam : float or array_like of shape (m,)
    beta : float or str
        Curvature bound ``β ≥ 0``, or an activation name in :data:`ACTIVATION_CURVATURE`.

    Returns
    -------
    ndarray, shape (n,) or (m, n)

    References
    ----------
    [NI] Thm. D.1; docs/theory.md#t-d-1.

    Examples
    --------
    >>> import numpy as np
    >>> import lmctheory as lt
    >>> w0, w1, cov = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), np.eye(2)
    >>> print(np.round(lt.smooth_chord_bound(w0, w1, cov, 0.5, "gelu"), 4))     # β = 2/√(2π)
    [0.1194]
    """
    W0, W1 = _check_endpoint_weights(w0, w1)
    S = check_psd(cov, "cov", dim=W0.shape[1])
    lams, scalar = _lam_grid(lam)
    if isinstance(beta, str):
        beta = ACTIVATION_CURVATURE[check_choice(beta, "beta", tuple(ACTIVATION_CURVATURE))]
    beta = check_scalar(beta, "beta", low=0.0)
    D = W1 - W0
    s2 = np.maximum(np.einsum("ij,jk,ik->i", D, S, D), 0.0)
    out = (0.75 * beta**2 * (lams * (1.0 - lams)) ** 2)[:, None] * (s2 * s2)[None, :]
    return out[0] if scalar else out


def center_dominated_smooth_chord_bound(fixed, cov, eta, beta) -> np.ndarray:
    """Center-dominated corollary of T-D.1 ([NI] Thm. D.1, docs/theory.md §7), ``|σ''| ≤ β``, ``x ~ N(0, Σ)``.

    ``sup_λ Δ_i(λ) ≤ (3/4) β² η_i⁴ ‖f_i‖_Σ⁴`` when ``‖w̃_i⁽ᶜ⁾ − f_i‖_Σ ≤ η_i‖f_i‖_Σ`` for ``c = 0, 1``
    (then ``‖w̃_i⁽¹⁾ − w̃_i⁽⁰⁾‖_Σ ≤ 2η_i‖f_i‖_Σ`` and ``λ²(1−λ)² ≤ 1/16`` in :func:`smooth_chord_bound`).

    Parameters
    ----------
    fixed : array_like, shape (n, d)
        Fixed centers ``F``.
    cov : array_like, shape (d, d)
        Symmetric PSD.
    eta : float or array_like of shape (n,)
        Center dominance in ``[0, 1)`` (e.g. from :func:`center_dominance`).
    beta : float or str
        Curvature bound ``β ≥ 0``, or an activation name in :data:`ACTIVATION_CURVATURE`.

    Returns
    -------
    ndarray, shape (n,)
        Per-neuron bounds on ``sup_λ Δ_i(λ)``; their sum bounds ``sup_λ Δ_φ(λ)``.
    """
    e, fn2 = _center_dominated_inputs(fixed, cov, eta)
    if isinstance(beta, str):
        beta = ACTIVATION_CURVATURE[check_choice(beta, "beta", tuple(ACTIVATION_CURVATURE))]
    beta = check_scalar(beta, "beta", low=0.0)
    return 0.75 * beta**2 * e**4 * fn2**2


def barrier_bound(output_chord, lipschitz: float = math.sqrt(2.0)) -> float:
    """Loss-barrier bound T-5.2 ([NI] Prop. 5.2): ``B ≤ L · sup_λ √Δ_out(λ)``.

    For a loss convex and ``L``-Lipschitz (ℓ₂) in the network output, with ``Δ_out(λ)`` the chord
    deviation of the *outputs* (docs/theory.md §7). Cross-entropy on logits: ``L = √2`` (default). The sup
    is taken over the supplied grid of ``λ`` (a grid bound, not the continuous sup).

    Parameters
    ----------
    output_chord : array_like, shape (m,)
        ``Δ_out`` at ``m`` path positions (``≥ 0``; a scalar is one position).
    lipschitz : float, default √2
        ``L ≥ 0``.

    Returns
    -------
    float

    References
    ----------
    [NI] Prop. 5.2; docs/theory.md#t-5-2.

    Examples
    --------
    >>> import lmctheory as lt
    >>> round(lt.barrier_bound([0.0, 0.04, 0.0]), 6)       # √2 · √0.04
    0.282843
    """
    D = check_array(output_chord, "output_chord", ndim=(0, 1))
    if np.any(D < 0):
        raise ValueError(f"output_chord must be >= 0 (a mean squared deviation), got min {D.min()}")
    L = check_scalar(lipschitz, "lipschitz", low=0.0)
    return float(L * math.sqrt(float(np.max(D))))
