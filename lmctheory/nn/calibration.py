"""Softmax temperature calibration and calibrated barriers of permutation-free merges ([LEWC], docs/theory.md §9).

Under LEWC the merged logits at ``λ = 1/2`` are ``≈ 2^{−L}(f_a + f_b)``: an ensemble scaled down by a
constant. The scale changes the cross-entropy but not the argmax, so the *loss* barrier of an
unaligned merge can be large while its accuracy is intact. [LEWC] removes the scale by an inverse
temperature ``τ > 0`` fitted per model on a held-out split (20% of the test set) and reports the
barrier of ``softmax(τ·logits)`` on the rest.

- :func:`softmax_nll`, :func:`fit_temperature` — ``τ* = argmin_τ NLL(τ·logits)``;
- :func:`calibration_split` — the 20% / 80% split of the test set;
- :func:`calibrated_barriers` — loss/accuracy along ``θ_λ = (1−λ)θ_a + λθ_b`` before and after
  calibration, with the endpoint ensembles (logit and probability averages) for comparison.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from .._validation import check_array, check_lam, check_scalar, check_seed
from ._checks import check_labels, check_X
from ._inputs import eval_mode
from .biasfree import check_width_pair, check_width_X, recompute_batchnorm
from .merging import merge_models
from .training import barriers

__all__ = [
    "TAU_BOUNDS",
    "softmax_nll",
    "fit_temperature",
    "calibration_split",
    "CalibratedBarriers",
    "calibrated_barriers",
]

#: search range of the inverse temperature (contains τ = 1; a merged 4-layer net needs τ ≈ 2^{L−1} = 8)
TAU_BOUNDS = (1e-3, 1e3)


def _check_logits_labels(logits, y, y_name: str = "y"):
    Z = check_array(logits, "logits", ndim=2)
    yy = check_labels(y, y_name, n_rows=Z.shape[0], n_classes=Z.shape[1], integral_float=True, as_numpy=True)
    return Z, yy


def _nll(Z: np.ndarray, y: np.ndarray, tau: float) -> float:
    from scipy.special import logsumexp

    S = tau * Z
    return float(np.mean(logsumexp(S, axis=1) - S[np.arange(len(y)), y]))


def softmax_nll(logits, y, tau: float = 1.0) -> float:
    """Mean negative log-likelihood ``(1/N) Σ_n [logsumexp(τ z_n) − τ z_{n, y_n}]`` of ``softmax(τ·logits)``.

    Parameters
    ----------
    logits : array_like or torch.Tensor, shape (N, C)
    y : array_like or torch.Tensor of int, shape (N,)
    tau : float > 0
        Inverse temperature.
    """
    Z, yy = _check_logits_labels(logits, y)
    tau = check_scalar(tau, "tau", low=0.0, low_inclusive=False)
    return _nll(Z, yy, tau)


def fit_temperature(logits, y, *, bounds: tuple = TAU_BOUNDS, xatol: float = 1e-6) -> float:
    """Inverse temperature ``τ* = argmin_{τ ∈ bounds} NLL(softmax(τ·logits), y)`` (docs/theory.md §9, [LEWC]).

    ``NLL(τ)`` is convex in ``τ`` (log-sum-exp of functions linear in ``τ`` minus a linear term), hence
    unimodal in ``log τ``: a bounded scalar search on ``log τ`` (``scipy.optimize.minimize_scalar``,
    method ``"bounded"``) finds it. ``τ = 1`` lies in the range and is kept whenever the search result is
    not strictly better, so calibration never increases the NLL on the split it was fitted on.

    Parameters
    ----------
    logits : array_like or torch.Tensor, shape (N, C)
    y : integer labels, shape (N,)
    bounds : (float, float)
        ``0 < τ_lo ≤ 1 ≤ τ_hi``.
    xatol : float
        Absolute tolerance on ``log τ``.

    Returns
    -------
    float
        ``τ*``; at a bound when the NLL is monotone in ``τ`` (e.g. separable data: ``τ_hi``).
    """
    from scipy.optimize import minimize_scalar

    Z, yy = _check_logits_labels(logits, y)
    if not (isinstance(bounds, (tuple, list)) and len(bounds) == 2):
        raise TypeError(f"bounds must be a pair (tau_lo, tau_hi), got {bounds!r}")
    lo = check_scalar(bounds[0], "bounds[0]", low=0.0, high=1.0, low_inclusive=False)
    hi = check_scalar(bounds[1], "bounds[1]", low=1.0)
    xatol = check_scalar(xatol, "xatol", low=0.0, low_inclusive=False)
    if lo == hi:
        return 1.0
    res = minimize_scalar(lambda s: _nll(Z, yy, float(np.exp(s))), bounds=(np.log(lo), np.log(hi)),
                          method="bounded", options={"xatol": xatol})
    tau = float(np.exp(res.x))
    cands = [(1.0, _nll(Z, yy, 1.0)), (tau, _nll(Z, yy, tau)), (lo, _nll(Z, yy, lo)), (hi, _nll(Z, yy, hi))]
    # keep τ = 1 on ties; the bound candidates catch a flat-end stop of the bounded search
    best = min(cands, key=lambda t: t[1])
    return 1.0 if best[1] >= cands[0][1] else float(best[0])


def calibration_split(X, y, *, fraction: float = 0.2, seed: int = 0):
    """Random split of a test set into a calibration part (``fraction``; [LEWC]: 20%) and the rest.

    Returns ``(X_cal, y_cal, X_eval, y_eval)`` (torch tensors; the calibration part has
    ``max(1, round(fraction·N))`` rows and the evaluation part at least one).

    ``X``: tensor or array_like ``(N, d)``, real numeric and finite (a tensor keeps its dtype, an array
    becomes float32). ``y``: ``N`` non-negative integer class labels, shape ``(N,)`` (integer dtype, or
    floats with integral values as accepted by :func:`calibrated_barriers`); returned in its own dtype.
    ``fraction`` and ``seed`` are keyword-only (docs/calling_convention.md).

    References
    ----------
    docs/theory.md §9 "Temperature calibration" ([LEWC]: 20% of the test set).

    Examples
    --------
    >>> import torch
    >>> X, y = torch.randn(40, 6), torch.arange(40) % 3
    >>> Xc, yc, Xe, ye = calibration_split(X, y, fraction=0.25, seed=0)
    >>> Xc.shape[0], Xe.shape[0]
    (10, 30)
    """
    if isinstance(X, torch.Tensor):
        check_X(X, "X")  # validation only: the split keeps the tensor's dtype
    else:
        X = check_X(X, "X", dtype=torch.float32)
    if not isinstance(y, torch.Tensor):
        check_labels(y, "y", n_rows=X.shape[0], integral_float=True)
        y = torch.as_tensor(np.asarray(y))
    else:
        check_labels(y, "y", n_rows=X.shape[0], integral_float=True)
    fraction = check_scalar(fraction, "fraction", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    N = X.shape[0]
    if N < 2:
        raise ValueError(f"need at least 2 rows to split, got {N}")
    n_cal = min(N - 1, max(1, int(round(fraction * N))))
    perm = torch.as_tensor(np.random.default_rng(check_seed(seed)).permutation(N))
    cal, ev = perm[:n_cal], perm[n_cal:]
    return X[cal], y[cal], X[ev], y[ev]


@dataclass(frozen=True)
class CalibratedBarriers:
    """Loss and accuracy along ``θ_λ = (1−λ)θ_a + λθ_b`` before/after temperature calibration ([LEWC]).

    ``λ = 0``: model a, ``λ = 1``: model b (:mod:`lmctheory.nn.merging`). Losses are mean cross-entropy on
    the evaluation split; ``τ`` is fitted per model of the path on the calibration split. Barriers follow
    :func:`lmctheory.nn.training.barriers` (chord between the endpoints; docs/theory.md §10); accuracy in
    fractions, accuracy barriers in percentage points.

    Attributes
    ----------
    lams, loss, acc, loss_calibrated, taus : ndarray (K,)
    nll_cal, nll_cal_calibrated : ndarray (K,)
        NLL on the calibration split at ``τ = 1`` and at ``τ*`` (the latter never larger).
    barrier_lin, barrier_lin_calibrated, barrier_max, barrier_max_calibrated : float
    acc_barrier_lin, acc_barrier_max : float
        Calibration (``τ > 0``) does not change the argmax, so these hold before and after.
    midpoint_loss_barrier, midpoint_loss_barrier_calibrated : float
        ``𝓛(1/2) − (𝓛(0) + 𝓛(1))/2``.
    midpoint_acc_drop : float
        ``100·((A(0) + A(1))/2 − A(1/2))``.
    ensemble_logit_loss, ensemble_logit_acc, ensemble_logit_loss_calibrated : ndarray (K,)
        Logit ensemble ``(1−λ) f_a + λ f_b`` (calibrated on the same split).
    ensemble_prob_loss, ensemble_prob_acc : ndarray (K,)
        Probability ensemble ``(1−λ) softmax(f_a) + λ softmax(f_b)``.
    """

    lams: np.ndarray
    loss: np.ndarray
    acc: np.ndarray
    loss_calibrated: np.ndarray
    taus: np.ndarray
    nll_cal: np.ndarray
    nll_cal_calibrated: np.ndarray
    barrier_lin: float
    barrier_lin_calibrated: float
    barrier_max: float
    barrier_max_calibrated: float
    acc_barrier_lin: float
    acc_barrier_max: float
    midpoint_loss_barrier: float
    midpoint_loss_barrier_calibrated: float
    midpoint_acc_drop: float
    ensemble_logit_loss: np.ndarray
    ensemble_logit_acc: np.ndarray
    ensemble_logit_loss_calibrated: np.ndarray
    ensemble_prob_loss: np.ndarray
    ensemble_prob_acc: np.ndarray

    def to_dict(self) -> dict:
        """JSON-able dict (arrays as lists)."""
        return {k: (v.tolist() if isinstance(v, np.ndarray) else float(v)) for k, v in asdict(self).items()}

    def at(self, lam: float) -> dict:
        """The per-λ entries at grid point ``lam`` (nearest)."""
        i = int(np.argmin(np.abs(self.lams - lam)))
        return {k: float(v[i]) for k, v in asdict(self).items() if isinstance(v, np.ndarray)}


@torch.no_grad()
def _logits(model, X) -> np.ndarray:
    with eval_mode(model):
        out = model(X)
    return out.double().cpu().numpy()


def _acc(Z, y) -> float:
    return float(np.mean(np.argmax(Z, axis=1) == y))


def calibrated_barriers(
    model_a,
    model_b,
    X_cal,
    y_cal,
    X_eval,
    y_eval,
    *,
    lams=None,
    reset_bn=None,
    tau_bounds: tuple = TAU_BOUNDS,
) -> CalibratedBarriers:
    """Barriers of the permutation-free merge path before and after softmax temperature calibration.

    For each ``λ`` in ``lams`` the merged model ``θ_λ = (1−λ)θ_a + λθ_b``
    (:func:`lmctheory.nn.merging.merge_models`; BatchNorm statistics recomputed on ``reset_bn``) gets its own
    ``τ_λ = fit_temperature(logits_cal, y_cal)``; the evaluation loss is ``NLL(τ_λ·logits_eval)``
    (docs/theory.md §9 "Temperature calibration"; [LEWC]: calibration on 20% of the test set, see
    :func:`calibration_split`). The endpoint ensembles are reported at the same ``λ``.

    Parameters
    ----------
    model_a, model_b : WidthMLP
        Same architecture.
    X_cal, y_cal : torch.Tensor
        Calibration split: inputs ``(N, d)`` (tensor or array_like, finite, converted to the models' dtype,
        float32) and labels ``(N,)`` in ``[0, n_classes − 1]`` (int64, or integral floats).
    X_eval, y_eval : torch.Tensor
        Evaluation split.
    lams : array_like, optional
        Grid in [0, 1] containing 0 and 1 (default 11 points); ``1/2`` is added when missing. Real numeric
        (complex, string and object input raise ``TypeError``).
    reset_bn : torch.Tensor, optional
        BatchNorm data (the name every function of :mod:`lmctheory.nn` uses): inputs for :func:`~lmctheory.nn.biasfree.recompute_batchnorm` (required for models with BatchNorm;
        [LEWC] uses the training set).
    tau_bounds : (float, float)
        Search range of :func:`fit_temperature`.

    References
    ----------
    docs/theory.md §9 "Temperature calibration", §10 (barriers); [LEWC].

    Examples
    --------
    >>> import torch
    >>> from lmctheory.nn import make_width_mlp
    >>> a, b = (make_width_mlp(6, 3, base_width=8, n_hidden=2, seed=s) for s in (0, 1))
    >>> X = torch.randn(40, 6, generator=torch.Generator().manual_seed(0))
    >>> Xc, yc, Xe, ye = calibration_split(X, torch.arange(40) % 3, fraction=0.25, seed=0)
    >>> r = calibrated_barriers(a, b, Xc, yc, Xe, ye, lams=[0.0, 1.0])
    >>> r.lams.tolist(), bool((r.nll_cal_calibrated <= r.nll_cal).all())
    ([0.0, 0.5, 1.0], True)
    """
    check_width_pair(model_a, model_b)
    X_cal = check_width_X(X_cal, model_a, "X_cal")
    X_eval = check_width_X(X_eval, model_a, "X_eval")
    n_cls = model_a.dims[-1]
    yc = check_labels(y_cal, "y_cal", n_rows=X_cal.shape[0], n_classes=n_cls, integral_float=True, as_numpy=True)
    ye = check_labels(y_eval, "y_eval", n_rows=X_eval.shape[0], n_classes=n_cls, integral_float=True, as_numpy=True)
    if model_a.batchnorm:
        if reset_bn is None:
            raise ValueError("models with BatchNorm need reset_bn (inputs, e.g. the training inputs) to recompute "
                             "the statistics of each merged model")
        reset_bn = check_width_X(reset_bn, model_a, "reset_bn")
    lams = np.linspace(0.0, 1.0, 11) if lams is None else np.atleast_1d(check_lam(lams, "lams"))
    lams = np.unique(np.concatenate([lams, [0.5]]))
    if lams[0] != 0.0 or lams[-1] != 1.0:
        raise ValueError("lams must contain the endpoints 0 and 1")
    fa_c, fb_c = _logits(model_a, X_cal), _logits(model_b, X_cal)
    fa_e, fb_e = _logits(model_a, X_eval), _logits(model_b, X_eval)
    from scipy.special import softmax

    pa, pb = softmax(fa_e, axis=1), softmax(fb_e, axis=1)
    rows = {k: [] for k in ("loss", "acc", "loss_cal", "tau", "nll_c", "nll_c_cal", "el", "ea", "elc", "pl", "pa")}
    for lam in lams:
        merged = merge_models(model_a, model_b, float(lam))
        if model_a.batchnorm:
            recompute_batchnorm(merged, reset_bn)
        zc, ze = _logits(merged, X_cal), _logits(merged, X_eval)
        tau = fit_temperature(zc, yc, bounds=tau_bounds)
        rows["loss"].append(_nll(ze, ye, 1.0))
        rows["acc"].append(_acc(ze, ye))
        rows["loss_cal"].append(_nll(ze, ye, tau))
        rows["tau"].append(tau)
        rows["nll_c"].append(_nll(zc, yc, 1.0))
        rows["nll_c_cal"].append(_nll(zc, yc, tau))
        ens_c = (1 - lam) * fa_c + lam * fb_c
        ens_e = (1 - lam) * fa_e + lam * fb_e
        rows["el"].append(_nll(ens_e, ye, 1.0))
        rows["ea"].append(_acc(ens_e, ye))
        rows["elc"].append(_nll(ens_e, ye, fit_temperature(ens_c, yc, bounds=tau_bounds)))
        pe = (1 - lam) * pa + lam * pb
        rows["pl"].append(float(-np.mean(np.log(np.maximum(pe[np.arange(len(ye)), ye], np.finfo(float).tiny)))))
        rows["pa"].append(_acc(pe, ye))
    r = {k: np.asarray(v, float) for k, v in rows.items()}
    b = barriers(lams, r["loss"], r["acc"])
    bc = barriers(lams, r["loss_cal"])
    mid = int(np.flatnonzero(lams == 0.5)[0])
    return CalibratedBarriers(
        lams=lams, loss=r["loss"], acc=r["acc"], loss_calibrated=r["loss_cal"], taus=r["tau"],
        nll_cal=r["nll_c"], nll_cal_calibrated=r["nll_c_cal"],
        barrier_lin=b["barrier_lin"], barrier_lin_calibrated=bc["barrier_lin"],
        barrier_max=b["barrier_max"], barrier_max_calibrated=bc["barrier_max"],
        acc_barrier_lin=b["acc_barrier_lin"], acc_barrier_max=b["acc_barrier_max"],
        midpoint_loss_barrier=float(r["loss"][mid] - 0.5 * (r["loss"][0] + r["loss"][-1])),
        midpoint_loss_barrier_calibrated=float(r["loss_cal"][mid] - 0.5 * (r["loss_cal"][0] + r["loss_cal"][-1])),
        midpoint_acc_drop=float(100 * (0.5 * (r["acc"][0] + r["acc"][-1]) - r["acc"][mid])),
        ensemble_logit_loss=r["el"], ensemble_logit_acc=r["ea"], ensemble_logit_loss_calibrated=r["elc"],
        ensemble_prob_loss=r["pl"], ensemble_prob_acc=r["pa"],
    )
