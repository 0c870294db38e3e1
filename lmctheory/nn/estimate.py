"""Realization-cost estimates on trained layers ([NI] §6 Q3, F.7, G.3; THEORY.md §2, §8).

*Mahalanobis estimate* (:func:`estimate_realization_costs`, [NI] F.7): record the layer's input
activations, estimate the support basis ``U`` as the PCA subspace reaching ``explained_variance``
(:func:`lmctheory.subspace_basis`: centered SVD), then ``a_i = Uᵀw̃_i``, ``S_i`` and the costs
``C[i, j] = R_i(a_j)`` of eq. (10) (:func:`lmctheory.realization_costs`) and swap costs
``Δ_ij`` (eq. 14–15).

*Ridge estimate* (:func:`ridge_realization_cost`, Def. E.3):
``R_i^γ(g) = min_{w,b} (1/γ)·mean_n (σ((f_i + d_i ⊙ w)ᵀx_n + b) − g(x_n))² + ‖w‖²``
on the recorded inputs ``x_n`` (``b``: see ``bias``; the default ``bias=None`` is Def. E.3 as stated, with
no bias). For σ = identity this is a ridge regression solved in closed form; by Thm. E.4 it then
(with ``bias=None``) equals ``cᵀ(S_i + γΣ_z⁻¹)⁻¹c`` when the inputs lie
exactly on ``span(U)`` (and tends to the hard cost as ``γ → 0``, T-E.5). For GELU/ReLU/tanh the
objective is non-convex: it is minimized by L-BFGS (strong-Wolfe line search, float64) started
from the closed-form linear-surrogate solution, or from ``init`` ([NI] start from trained weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .._validation import check_array, check_choice, check_int, check_scalar
from ._checks import check_module, check_X
from .layers import AsymmetricLinear, linear_arrays

__all__ = [
    "RealizationEstimate", "RidgeCost", "layer_arrays", "estimate_realization_costs", "record_layer_inputs",
    "estimate_all_layers", "ridge_realization_cost", "ACTIVATIONS",
]

ACTIVATIONS = ("identity", "relu", "gelu", "tanh")


@dataclass(frozen=True)
class RealizationEstimate:
    """Mahalanobis realization-cost estimate of one layer (eq. 10 on a PCA basis).

    Attributes
    ----------
    costs : ndarray (n, n)
        ``C[i, j] = R_i(a_j)``; ``+inf`` where unrealizable.
    swap_costs : ndarray (n, n)
        ``Δ_ij = C[i,j] + C[j,i] − C[i,i] − C[j,j]``.
    basis : ndarray (d, k)
        Estimated (or given) orthonormal support basis ``U``.
    ratio : float
        Explained-variance ratio reached by ``basis`` (NaN when the basis was given).
    k : int
        ``basis.shape[1]``.
    coherence : float
        ``ν(U) = max_j ‖Uᵀe_j‖²`` (eq. 11; biased upward when ``N`` is not ≫ ``d``, THEORY.md §12).
    coefficients : ndarray (n, k)
        ``a_i = Uᵀw̃_i``.
    centers : ndarray (n, k)
        Projected centers ``v_i = Uᵀf_i``.
    center_gaps : ndarray (n, n)
        ``‖v_i − v_j‖₂``.
    min_center_gap : float
        ``δ_min``.
    gram_spectra : ndarray (n, k)
        Ascending eigenvalues of each ``S_i``.
    n_samples : int
        Number of input rows used.
    """

    costs: np.ndarray
    swap_costs: np.ndarray
    basis: np.ndarray
    ratio: float
    k: int
    coherence: float
    coefficients: np.ndarray
    centers: np.ndarray
    center_gaps: np.ndarray
    min_center_gap: float
    gram_spectra: np.ndarray
    n_samples: int


def layer_arrays(layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(effective, fixed, diag)`` float64 ``(n, d)`` arrays of an ``nn.Linear``
    (``F = 0, D = 1``), an :class:`AsymmetricLinear`, or an explicit 3-tuple of arrays."""
    if isinstance(layer, (nn.Linear, AsymmetricLinear)):
        return linear_arrays(layer)
    if isinstance(layer, tuple) and len(layer) == 3:
        E = check_array(layer[0], "effective", ndim=2)
        F = check_array(layer[1], "fixed", shape=E.shape)
        D = check_array(layer[2], "diag", shape=E.shape)
        return E, F, D
    raise TypeError("layer must be an nn.Linear, an AsymmetricLinear or an (effective, fixed, diag) tuple, "
                    f"got {type(layer).__name__}")


def _check_inputs(inputs, d, name="inputs"):
    X = check_array(inputs, name, ndim=2)
    if X.shape[1] != d:
        raise ValueError(f"{name} must have shape (N, {d}) to match the layer's in_features = {d}, got {X.shape}")
    return X


def estimate_realization_costs(layer, inputs, explained_variance: float = 0.9, *, basis=None,
                               rtol: float = 1e-8) -> RealizationEstimate:
    """Mahalanobis realization costs of one layer from its input activations ([NI] F.7, eq. 10).

    Parameters
    ----------
    layer : nn.Linear, AsymmetricLinear or (effective, fixed, diag)
        Arrays of shape ``(n, d)``; ``nn.Linear`` means ``F = 0``, ``D = 1``.
    inputs : array_like or torch.Tensor, shape (N, d)
        The layer's input activations (e.g. from :func:`record_layer_inputs`).
    explained_variance : float in (0, 1]
        Target of the PCA basis (:func:`lmctheory.subspace_basis`).
    basis : array_like (d, k), optional
        Use this orthonormal basis instead of estimating one (e.g. the data's known ``U``).
    rtol : float
        Range-membership tolerance of :func:`lmctheory.realization_costs`.

    Raises
    ------
    ValueError
        Wrong input width; ``inputs`` with zero variance after centering (e.g. constant rows: no PCA
        subspace); too few samples for the requested explained variance (the PCA basis
        needs ``k ≤ N − 2``, else it merely spans the sample); fewer than 2 neurons.
    TypeError
        A layer type it cannot read.
    """
    from .. import costs as _costs
    from .. import gram as _gram
    from .. import subspace as _sub

    E, F, D = layer_arrays(layer)
    n, d = E.shape
    if n < 2:
        raise ValueError(f"the layer needs at least 2 neurons (rows) for swap costs, got {n}")
    X = _check_inputs(inputs, d)
    N = X.shape[0]
    if basis is None:
        explained_variance = check_scalar(explained_variance, "explained_variance", low=0.0, high=1.0,
                                          low_inclusive=False)
        if N < 3:
            raise ValueError(f"inputs has {N} rows: too few samples to estimate a PCA subspace (need at least 3)")
        try:
            U, ratio = _sub.subspace_basis(X, explained_variance)
        except ValueError as exc:  # subspace_basis names its argument X; here it is `inputs`
            msg = str(exc)
            raise ValueError("inputs " + msg[2:] if msg.startswith("X ") else f"inputs: {msg}") from None
        U = np.asarray(U, float)
        if U.shape[1] > N - 2:
            raise ValueError(
                f"too few samples for explained_variance={explained_variance:g}: the PCA basis needs "
                f"k={U.shape[1]} directions from N={N} inputs (need k <= N - 2, i.e. more samples)")
        ratio = float(ratio)
    else:
        from .._validation import check_basis

        U = check_basis(basis)
        if U.shape[0] != d:
            raise ValueError(f"basis must have shape ({d}, k), got {U.shape}")
        ratio = float("nan")
    C = _costs.realization_costs(E, F, D, U, rtol=rtol)
    centers = np.asarray(_sub.projected_centers(F, U))
    return RealizationEstimate(
        costs=C,
        swap_costs=_costs.swap_costs(C),
        basis=U,
        ratio=ratio,
        k=int(U.shape[1]),
        coherence=float(_sub.subspace_coherence(U)),
        coefficients=E @ U,
        centers=centers,
        center_gaps=np.asarray(_sub.pairwise_center_gaps(centers)),
        min_center_gap=float(_sub.min_center_gap(centers)),
        gram_spectra=np.asarray(_gram.gram_spectra(D, U)),
        n_samples=int(N),
    )


@torch.no_grad()
def record_layer_inputs(model: nn.Module, X) -> dict[str, np.ndarray]:
    """Input activations of every ``nn.Linear`` / :class:`AsymmetricLinear` of ``model`` on ``X``.

    Returns ``{module name: float64 array (N, in_features)}`` in forward order (forward hooks).
    ``X``: tensor or array_like ``(N, d)``, real numeric and finite, converted to the model's dtype
    (float32 for this package's models) as a C-contiguous tensor
    (:func:`lmctheory.nn._checks.check_X`; the width is checked where the architecture fixes it).
    """
    check_module(model, "model")
    X = check_X(X, "X", model=model)
    named = [(nm, m) for nm, m in model.named_modules() if isinstance(m, (nn.Linear, AsymmetricLinear))]
    if not named:
        raise TypeError(f"{type(model).__name__} has no nn.Linear or AsymmetricLinear layer to record")
    out: dict[str, np.ndarray] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, _o, nm=nm: out.__setitem__(nm, inp[0].detach().double().numpy()))
             for nm, m in named]
    was = model.training
    model.eval()
    try:
        model(X)
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return {nm: out[nm] for nm, _ in named if nm in out}


def estimate_all_layers(model: nn.Module, X, explained_variance: float = 0.9, *, rtol: float = 1e-8
                        ) -> dict[str, RealizationEstimate]:
    """:func:`estimate_realization_costs` for every linear layer of ``model`` (inputs recorded on ``X``)."""
    inputs = record_layer_inputs(model, X)
    mods = dict(model.named_modules())
    return {nm: estimate_realization_costs(mods[nm], H, explained_variance, rtol=rtol) for nm, H in inputs.items()}


@dataclass(frozen=True)
class RidgeCost:
    """Relaxed realization cost of Def. E.3 for one neuron class and one target.

    ``cost = fit/γ + norm`` with ``fit = mean (σ(·) − g)²`` and ``norm = ‖w‖²`` at the minimizer
    ``w`` (and bias ``bias``); ``method`` is ``"closed_form"`` or ``"lbfgs"``.
    """

    cost: float
    fit: float
    norm: float
    w: np.ndarray
    bias: float
    method: str


def _act(name):
    return {"identity": lambda t: t, "relu": torch.relu, "gelu": nn.functional.gelu, "tanh": torch.tanh}[name]


def ridge_realization_cost(layer_or_arrays, neuron: int, target_fn_values, inputs, gamma: float,
                           activation: str = "identity", *, bias=None, init=None, steps: int = 100
                           ) -> RidgeCost:
    """Relaxed realization cost ``R_i^γ(g)`` of neuron ``i``'s class (Def. E.3) by ridge regression.

    ``R_i^γ(g) = min_w (1/γ)·mean_n (σ((f_i + d_i ⊙ w)ᵀx_n + b) − g_n)² + ‖w‖²`` (trainable part
    ``w`` penalized; ``w`` acts only through ``d_i ⊙ w``).

    Parameters
    ----------
    layer_or_arrays : nn.Linear, AsymmetricLinear or (effective, fixed, diag)
    neuron : int
        Row ``i`` whose class (``f_i``, ``d_i``) realizes the target.
    target_fn_values : array_like (N,)
        ``g(x_n)`` — e.g. neuron ``j``'s output ``σ(w̃_jᵀx_n + b_j)``.
    inputs : array_like (N, d)
        The inputs ``x_n``.
    gamma : float > 0
        Relaxation ``γ``.
    activation : {"identity", "relu", "gelu", "tanh"}
        ``identity``: closed-form ridge (exact minimizer). Otherwise L-BFGS in float64.
    bias : None, float or "free", default None
        ``None``: no bias (Def. E.3 as stated; same as 0); a float: that fixed bias; ``"free"``: an
        unpenalized bias is optimized too (for ``identity`` by centering) — for layers trained with
        biases, where it gives a lower cost than Def. E.3 on uncentred inputs.
    init : array_like (d,), optional
        Starting ``w`` of the non-linear optimization (default: the linear-surrogate solution).
    steps : int
        Maximum L-BFGS iterations (non-linear case).

    Notes
    -----
    Non-linear activations give a non-convex objective: the result is an upper bound on
    ``R_i^γ`` (a local minimum), and it is the cost reported by ``RidgeCost.cost``.
    """
    E, F, D = layer_arrays(layer_or_arrays)
    n, d = E.shape
    i = check_int(neuron, "neuron", low=0, high=n - 1)
    X = _check_inputs(inputs, d)
    N = X.shape[0]
    g = check_array(target_fn_values, "target_fn_values", shape=(N,))
    gamma = check_scalar(gamma, "gamma", low=0.0, low_inclusive=False)
    activation = check_choice(activation, "activation", ACTIVATIONS)
    steps = check_int(steps, "steps", low=1)
    free = isinstance(bias, str)
    if free:
        check_choice(bias, "bias", ("free",))
        b0 = 0.0
    else:
        b0 = 0.0 if bias is None else check_scalar(bias, "bias")
    f, dg = F[i], D[i]
    Xd = X * dg[None, :]          # w enters as Xd @ w
    r = g - X @ f - b0            # residual the trainable part must explain (identity)
    if free:
        mx, mr = Xd.mean(0), r.mean()
        Xc, rc = Xd - mx, r - mr
    else:
        Xc, rc = Xd, r
    # normal equations of (1/(γN))‖Xc w − rc‖² + ‖w‖²
    A = Xc.T @ Xc / (gamma * N) + np.eye(d)
    w = np.linalg.solve(A, Xc.T @ rc / (gamma * N))
    b = (b0 + (mr - mx @ w)) if free else b0

    def objective_np(w, b):
        pre = X @ (f + dg * w) + b
        out = torch.as_tensor(pre)
        val = _act(activation)(out).numpy()
        fit = float(np.mean((val - g) ** 2))
        return fit, float(w @ w)

    if activation == "identity":
        fit, nrm = objective_np(w, b)
        return RidgeCost(cost=fit / gamma + nrm, fit=fit, norm=nrm, w=w, bias=float(b), method="closed_form")

    if init is not None:
        w = check_array(init, "init", shape=(d,))
    Xt, gt = torch.as_tensor(X), torch.as_tensor(g)
    ft, dt = torch.as_tensor(f), torch.as_tensor(dg)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(float(b), dtype=torch.float64, requires_grad=free)
    act = _act(activation)
    params = [wt, bt] if free else [wt]
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=steps, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-10, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = ((act(Xt @ (ft + dt * wt) + bt) - gt) ** 2).mean() / gamma + (wt * wt).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    w, b = wt.detach().numpy().copy(), float(bt.detach())
    fit, nrm = objective_np(w, b)
    return RidgeCost(cost=fit / gamma + nrm, fit=fit, norm=nrm, w=w, bias=b, method="lbfgs")
