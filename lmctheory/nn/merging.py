"""Permutation-free merging of bias-free ReLU MLPs and its per-layer [LEWC] measurements (docs/theory.md §9).

``θ(λ) = (1−λ)θ_a + λθ_b`` — the package's one interpolation convention (λ = 0 is model ``a``; see
:mod:`lmctheory.nn.training` and :mod:`lmctheory.lewc`). [LEWC] writes the same path with ``λ`` on model
``a``; the two differ only by ``λ ↔ 1 − λ``.

- :func:`merge_models` — the merge, without permutation;
- :func:`layer_measurements` — per-layer weak additivity (Def. 5.1), reciprocal orthogonality
  (Def. 5.2), LEWC cosine and the T-5.3 error recursion on a dataset, by :mod:`lmctheory.lewc`.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np

from .._validation import check_scalar
from ..lewc import lewc_cosine, lewc_error_recursion, mlp_forward, reciprocal_orthogonality, weak_additivity_cosine
from .biasfree import WidthMLP, check_width_pair, check_width_X, to_weight_list
from .training import interpolate_state_dicts

__all__ = ["merge_models", "LayerMeasurements", "layer_measurements"]


def merge_models(model_a: WidthMLP, model_b: WidthMLP, lam: float = 0.5) -> WidthMLP:
    """``θ(λ) = (1−λ)θ_a + λθ_b`` without permutation (docs/theory.md §9; ``λ = 0`` is ``model_a``).

    Every floating-point parameter and buffer is mixed (BatchNorm running statistics too; recompute
    them with :func:`~lmctheory.nn.biasfree.recompute_batchnorm`, as [LEWC] does). Returns a new model
    in eval mode.

    Examples
    --------
    >>> from lmctheory.nn.biasfree import make_width_mlp
    >>> a, b = make_width_mlp(4, 3, base_width=8, seed=0), make_width_mlp(4, 3, base_width=8, seed=1)
    >>> bool((merge_models(a, b, 0.0).layers[0].weight == a.layers[0].weight).all())
    True
    """
    check_width_pair(model_a, model_b)
    lam = check_scalar(lam, "lam", low=0.0, high=1.0)
    sd_a, sd_b = model_a.state_dict(), dict(model_b.state_dict())
    for k in sd_b:  # BatchNorm step counters are bookkeeping, not weights: take model a's
        if k.endswith("num_batches_tracked"):
            sd_b[k] = sd_a[k]
    sd = interpolate_state_dicts(sd_a, sd_b, lam)
    out = copy.deepcopy(model_a)
    out.load_state_dict(sd)
    return out.eval()


# ---------------------------------------------------------------------------------------------
# per-layer measurements (docs/theory.md §9)
@dataclass(frozen=True)
class LayerMeasurements:
    """Per-layer [LEWC] quantities of a pair of bias-free ReLU MLPs on a dataset (docs/theory.md §9).

    Layers are indexed ``ℓ = 1…L`` (array index ``ℓ − 1``); ``L`` includes the logit layer.

    Attributes
    ----------
    lam : float
        Position on the merge path ``(1−λ)θ_a + λθ_b`` (0: model ``a``).
    widths : list of int
        ``(n_1, …, n_L)``.
    wa_cosine : ndarray (L−1,)
        Mean over inputs of the weak-additivity cosine ``WA(p_ℓ, q_ℓ) = cos(σ(p+q), σ(p)+σ(q))`` of the
        actual preactivations ``p_ℓ = (1−λ)^ℓ W_ℓ^a z_{ℓ−1}^a``, ``q_ℓ = λ^ℓ W_ℓ^b z_{ℓ−1}^b`` (Def. 5.1; the
        first term of T-5.3), hidden layers only.
    wa_cosine_std : ndarray (L−1,)
        Standard deviation over inputs.
    ro_ab, ro_ba : ndarray (L,)
        Reciprocal orthogonality ``E‖W_ℓ^a z_{ℓ−1}^b‖ / E‖W_ℓ^a z_{ℓ−1}^a‖`` and the same with ``a ↔ b`` (Def. 5.2).
    lewc_cosine : ndarray (L,)
        Cosine between ``z_ℓ(θ_λ)`` and ``(1−λ)^ℓ z_ℓ^a + λ^ℓ z_ℓ^b`` (LEWC, from :func:`lmctheory.lewc.lewc_cosine`).
    error_measured, error_bound : ndarray (N, L)
        ``‖e_ℓ‖`` per input and its fully recursive T-5.3 bound ``B_ℓ = wa_ℓ + ‖c_ℓ‖ + ‖W_ℓ^λ‖₂ B_{ℓ−1}``
        (``ℓ = 1`` exact).
    error_bound_one_step : ndarray (N, L)
        The same with the measured ``‖e_{ℓ−1}‖`` in place of ``B_{ℓ−1}``.
    violations, violations_one_step : int
        Number of (input, layer) entries with measured > bound (tolerance
        :data:`lmctheory.lewc.LEWC_RTOL`), for either bound.
    max_ratio, max_ratio_one_step : float
        ``max ‖e_ℓ‖ / bound`` over layers ``ℓ ≥ 2`` and entries with a positive bound (layer 1 is an
        equality, ratio 1, and is left out so the number shows how tight the recursion is).
    logit_identity_residual : float
        ``max_x ‖e_L − (c_L + W_L^λ e_{L−1})‖`` (exact identity: rounding only).
    """

    lam: float
    widths: list
    wa_cosine: np.ndarray
    wa_cosine_std: np.ndarray
    ro_ab: np.ndarray
    ro_ba: np.ndarray
    lewc_cosine: np.ndarray
    error_measured: np.ndarray
    error_bound: np.ndarray
    error_bound_one_step: np.ndarray
    violations: int
    violations_one_step: int
    max_ratio: float
    max_ratio_one_step: float
    logit_identity_residual: float

    def to_dict(self, per_input: bool = False) -> dict:
        """JSON-able dict; the ``(N, L)`` recursion arrays are summarized by their means unless ``per_input``."""
        d = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}
        if not per_input:
            d.pop("error_measured")
            d.pop("error_bound")
            d.pop("error_bound_one_step")
            d["error_measured_mean"] = self.error_measured.mean(axis=0).tolist()
            d["error_bound_mean"] = self.error_bound.mean(axis=0).tolist()
        return d


def layer_measurements(model_a: WidthMLP, model_b: WidthMLP, X, lam: float = 0.5) -> LayerMeasurements:
    """Weak additivity, reciprocal orthogonality, LEWC cosine and the T-5.3 recursion per layer.

    Thin layer over :mod:`lmctheory.lewc` (docs/theory.md §9: Def. 5.1, Def. 5.2, LEWC, T-5.3) applied to the
    weights of two bias-free :class:`WidthMLP` models (no BatchNorm) on inputs ``X`` of shape ``(N, d)``.

    Parameters
    ----------
    model_a, model_b : WidthMLP
        Same architecture, no BatchNorm.
    X : torch.Tensor or array_like, shape (N, d)
    lam : float in [0, 1]
        Position on the merge path ``(1−λ)θ_a + λθ_b`` (0: ``model_a``).
    """
    check_width_pair(model_a, model_b)
    lam = check_scalar(lam, "lam", low=0.0, high=1.0)
    X = check_width_X(X, model_a)
    Xn = X.detach().cpu().double().numpy()
    Wa, Wb = to_weight_list(model_a), to_weight_list(model_b)
    L = len(Wa)
    za, zb = mlp_forward(Wa, Xn), mlp_forward(Wb, Xn)  # [z_0 = x, z_1, …, z_L]
    wa_mean, wa_std = [], []
    for ell in range(1, L):  # hidden layers
        p = (1.0 - lam) ** ell * (za[ell - 1] @ Wa[ell - 1].T)
        q = lam ** ell * (zb[ell - 1] @ Wb[ell - 1].T)
        c = np.atleast_1d(np.asarray(weak_additivity_cosine(p, q), dtype=float))
        c = c[np.isfinite(c)]  # NaN where a side is the zero vector (undefined cosine)
        wa_mean.append(float(c.mean()) if c.size else float("nan"))
        wa_std.append(float(c.std()) if c.size else float("nan"))
    ro_ab = np.asarray(reciprocal_orthogonality(Wa, Wb, Xn), dtype=float)
    ro_ba = np.asarray(reciprocal_orthogonality(Wb, Wa, Xn), dtype=float)
    lewc = np.asarray(lewc_cosine(Wa, Wb, Xn, lam), dtype=float)
    rec = lewc_error_recursion(Wa, Wb, Xn, lam)
    measured = np.asarray(rec.error, dtype=float).T
    bound = np.asarray(rec.bound, dtype=float).T
    one = np.asarray(rec.bound_one_step, dtype=float).T
    return LayerMeasurements(
        lam=lam,
        widths=[int(w.shape[0]) for w in Wa],
        wa_cosine=np.array(wa_mean),
        wa_cosine_std=np.array(wa_std),
        ro_ab=ro_ab,
        ro_ba=ro_ba,
        lewc_cosine=lewc,
        error_measured=measured,
        error_bound=bound,
        error_bound_one_step=one,
        violations=int(rec.n_violations),
        violations_one_step=int(rec.n_violations_one_step),
        max_ratio=_max_ratio(measured[:, 1:], bound[:, 1:]),
        max_ratio_one_step=_max_ratio(measured[:, 1:], one[:, 1:]),
        logit_identity_residual=float(np.max(rec.logit_identity_residual)),
    )


def _max_ratio(measured, bound) -> float:
    pos = bound > 0
    return float(np.max(measured[pos] / bound[pos])) if pos.any() else 0.0
