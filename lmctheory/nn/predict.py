"""Predict the unaligned linear-mode-connectivity barrier of an architecture before training
(docs/theory.md §1–7; derivation in ``docs/predict.md``).

:func:`predict_lmc` reads an *untrained* model and a sample of its inputs, computes per hidden layer
the identifiability quantities of [NI] at initialization — support basis and coherence (eq. 11),
Gram concentration (T-4.4), projected-center gaps (T-4.6, T-C.5), center and metric-mismatch parts
of the swap costs (T-16, T-4.5), center dominance (T-5.1 eq. 31) — turns them into a predicted
midpoint chord deviation per layer (T-5.1) and sums them, scaled by the width fluctuation
``1/√n`` of [LEWC] (T-WA, T-5.3), into a score. Two calibration constants (``kappa``: how far training
moves the trainable part relative to its initialization, per fan-in coordinate; ``scale``: score →
nats) and a band (log-residual quantiles) were fitted on the fit set of
:mod:`lmctheory.experiments.lmc_prediction` (paper_checks P1) and are only valid for that training recipe (see :data:`CALIBRATION`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from .._validation import check_int, check_scalar, check_seed
from ._checks import check_module, check_X, describe
from .estimate import layer_arrays, record_layer_inputs
from .layers import AsymmetricLinear

__all__ = ["Quantity", "LayerPrediction", "LMCPrediction", "predict_lmc", "CALIBRATION", "layer_statistics",
           "combine", "format_prediction", "main"]

#: Calibration fitted by :func:`lmctheory.experiments.lmc_prediction.fit_calibration` (fit set only; recipe: 3-layer LayerNorm/GELU
#: MLPs, AdamW lr 1e-3, wd 1e-2, batch 128, 20 epochs). ``kappa``: trained/initial trainable energy
#: ``τ² = 1 + kappa·fan_in``; ``scale``: nats per unit score; ``band_lo``/``band_hi``: 10%/90% quantiles of
#: ``log(B + floor) − log(B̂ + floor)`` on the fit set; ``floor`` fixed a priori (not fitted).
CALIBRATION = {"kappa": 0.0, "scale": 13.97, "band_lo": -0.436, "band_hi": 1.435, "floor": 0.02,
               "fitted_on": "paper_checks P1 fit set (28 configurations, seed 0)"}

# modules with parameters that the predictor understands: linear maps it analyses, per-unit norms that
# commute with neuron permutations (docs/theory.md T-S1)
_SUPPORTED = (nn.Linear, AsymmetricLinear, nn.LayerNorm, nn.BatchNorm1d)


@dataclass(frozen=True)
class Quantity:
    """One theory quantity of a layer: its ``value``, the docs/theory.md ID it comes from and what it is."""

    theory_id: str
    value: float
    meaning: str


@dataclass(frozen=True)
class LayerPrediction:
    """Per-layer result of :func:`predict_lmc`.

    Attributes
    ----------
    name : str
        Module name in the model.
    n, d, k : int
        Neurons (out features), fan-in, support dimension used.
    quantities : dict[str, Quantity]
        The theory quantities (see :func:`predict_lmc` for the list), each with its docs/theory.md ID.
    chord : float
        Predicted mean relative midpoint chord deviation of the layer (T-5.1), in ``[0, 1/2]``.
    contribution : float
        ``chord/√n``: this layer's term of the score.
    """

    name: str
    n: int
    d: int
    k: int
    quantities: dict
    chord: float
    contribution: float


@dataclass(frozen=True)
class LMCPrediction:
    """Result of :func:`predict_lmc`.

    Attributes
    ----------
    score : float
        ``Σ_ℓ χ_ℓ/√n_ℓ`` over hidden layers; higher means a larger predicted unaligned barrier.
    barrier : float
        Predicted unaligned midpoint test loss barrier (nats) under :attr:`calibration`.
    band : (float, float)
        Predicted range (10%–90% of the fit residuals).
    layers : list[LayerPrediction]
        Hidden layers, forward order.
    calibration : dict
        Constants used.
    seconds : float
        Wall time.
    """

    score: float
    barrier: float
    band: tuple
    layers: list
    calibration: dict
    seconds: float = field(default=float("nan"))

    def to_dict(self) -> dict:
        """JSON-able dict (quantities as ``{name: {"theory_id", "value", "meaning"}}``)."""
        d = asdict(self)
        d["band"] = list(self.band)
        return d


def _g(theta):
    """``g(θ) = sin θ − θ cos θ`` (T-5.1)."""
    return np.sin(theta) - theta * np.cos(theta)


def _check_supported(model: nn.Module) -> list[str]:
    bad = []
    for nm, mod in model.named_modules():
        own = [p for p in mod.parameters(recurse=False)]
        if own and not isinstance(mod, _SUPPORTED):
            bad.append(f"{nm or '<root>'} ({type(mod).__name__})")
    if bad:
        raise TypeError("predict_lmc understands nn.Linear/AsymmetricLinear layers with LayerNorm/BatchNorm1d "
                        f"between them; unsupported parametrized module(s): {', '.join(bad)}")
    return bad


def layer_statistics(E, F, D, H, *, explained_variance=0.9, max_rank=64) -> dict:
    """Calibration-free statistics of one layer at initialization (the expensive part of :func:`predict_lmc`).

    Parameters
    ----------
    E, F, D : ndarray (n, d)
        Effective weights, fixed centers, diagonal operators (``W̃ = F + D ⊙ W``).
    H : ndarray (N, d)
        The layer's input activations.
    explained_variance : float
        PCA target of the support basis ``U`` (docs/theory.md §2).
    max_rank : int
        At most this many leading PCA directions are kept (approximate support, T-E.1; the tail energy
        is reported).

    Returns
    -------
    dict
        Arrays ``delta_center`` (n, n) (T-16 center term), ``delta_mismatch`` (n, n) (T-16 metric
        mismatch), both with the relaxed metric ``(S_i + γΣ_z⁻¹)⁻¹`` of T-E.4 (``γ = μ·λ_k``, the
        smallest kept PCA variance: hard costs of eq. (10) would call every masked coordinate of a
        full-rank input an infinite cost), ``self_cost`` (n,), ``energy_center``/``energy_train`` (n,) (``‖f_i‖²_Σ``,
        ``‖d_i ⊙ w_i‖²_Σ``) and the scalar quantities.
    """
    from .. import gram as _gram
    from .. import subspace as _sub

    n, d = E.shape
    U, ratio = _sub.subspace_basis(H, explained_variance)
    if U.shape[1] > max_rank:
        U = U[:, :max_rank]
        Hc = H - H.mean(0)
        ratio = float(np.sum((Hc @ U) ** 2) / np.sum(Hc ** 2))
    k = U.shape[1]
    R = E - F  # trainable part d_i ⊙ w_i
    mu = float(np.mean(D * D))
    has_f = bool(np.any(F != 0))
    sym_d = bool(np.all(D == D[:1]))  # identical rows: every S_i equal, no metric mismatch
    Z = (H - H.mean(0)) @ U
    var_z = np.maximum(np.mean(Z * Z, axis=0), 1e-300)  # Σ_z of the PCA basis is diagonal
    # relaxed costs (T-E.4): metric (S_i + γΣ_z⁻¹)⁻¹ with γ = μ·(smallest kept variance), fixed a priori,
    # so a direction identifies a neuron only as far as the data carries variance along it (App. E)
    gamma = max(mu, 1e-12) * float(var_z.min())
    if sym_d:
        spec = np.broadcast_to(np.linalg.eigvalsh((U.T * (D[0] ** 2)) @ U), (n, k))
        A = (U.T * (D[0] ** 2)) @ U + np.diag(gamma / var_z)
        Q = np.broadcast_to(np.linalg.inv(A), (n, k, k))
    else:
        S = np.asarray(_gram.gram_matrices(D, U))
        spec = np.linalg.eigvalsh(S)
        Q = np.linalg.inv(S + np.diag(gamma / var_z)[None])
    Qf = np.ascontiguousarray(Q).reshape(n, k * k)
    v = U.T @ F.T if has_f else None  # (k, n) projected centers
    r = U.T @ R.T
    # T-16 metric-mismatch part: swap costs of the trainable parts alone, C[i, j] = r_jᵀ Q_i r_j
    if sym_d:
        CR = np.broadcast_to(np.einsum("kn,kl,ln->n", r, Q[0], r), (n, n)).copy()
        dm = np.zeros((n, n))
    else:
        CR = Qf @ np.einsum("kn,ln->nkl", r, r).reshape(n, k * k).T
        dm = CR + CR.T - np.diag(CR)[:, None] - np.diag(CR)[None, :]
    self_cost = np.diag(CR).copy()
    # T-16 center term ‖v_j − v_i‖²_{Q_i} + ‖v_i − v_j‖²_{Q_j}
    if has_f:
        Qv = np.einsum("nkl,ln->nk", Q, v)  # Q_i v_i
        vQv = np.einsum("nk,kn->n", Qv, v)
        CF = Qf @ np.einsum("kn,ln->nkl", v, v).reshape(n, k * k).T - 2 * Qv @ v + vQv[:, None]
        dc = np.maximum(CF + CF.T, 0.0)
        np.fill_diagonal(dc, 0.0)
    else:
        dc = np.zeros((n, n))
    lam_max = np.maximum(spec[:, -1], 1e-300)
    eps = np.max(np.abs(spec - mu), axis=1) / mu if mu > 0 else np.full(n, np.inf)
    deficient = spec[:, 0] <= 1e-10 * lam_max
    pre_f = H @ F.T  # center preactivations
    pre_r = H @ R.T  # trainable-part preactivations
    e_f = np.mean(pre_f ** 2, axis=0)
    e_r = np.mean(pre_r ** 2, axis=0)
    V = np.asarray(_sub.projected_centers(F, U)) if has_f else np.zeros((n, k))
    dmin = float(_sub.min_center_gap(V)) if has_f else 0.0
    med_self = float(np.median(self_cost))
    return dict(
        n=n, d=d, k=k, ratio=float(ratio), coherence=float(_sub.subspace_coherence(U)), mu=mu,
        gram_deviation=float(np.median(eps)), rank_deficient=float(np.mean(deficient)), delta_min=dmin,
        cheapest_center_swap=float(2 * dmin ** 2 / mu / med_self) if (mu > 0 and med_self > 0) else float("inf"),
        center_energy_ratio=float(np.median(e_f / np.maximum(e_r, 1e-300))),
        delta_center=dc, delta_mismatch=dm, self_cost=self_cost, energy_center=e_f, energy_train=e_r,
    )


def combine(stats: dict, kappa: float) -> dict:
    """Per-neuron identifiability → angle → midpoint chord (T-4.5/T-16 → T-5.1) for one layer.

    With ``τ² = 1 + kappa·d`` (trained trainable energy over initial), the relative cost of the cheapest
    reassignment of neuron ``i`` after training is
    ``ρ_i = min_{j≠i} [Δᶜ_ij/τ² + Δᵐ_ij] / (C_ii + C_jj)`` (center term fixed, mismatch and self costs
    scale with ``τ²``; the cross term has mean zero over initializations and is dropped), the pinned fraction
    ``p_i = ρ_i/(1 + ρ_i)``, the angle between the two runs' effective rows in the input metric
    ``cos θ_i = (‖f_i‖²_Σ + p_i τ²‖r_i‖²_Σ)/(‖f_i‖²_Σ + τ²‖r_i‖²_Σ)``, and the relative midpoint chord bound
    ``g(θ_i)/(2π)`` (T-5.1; ``g(θ) = sin θ − θ cos θ``).
    """
    d = stats["d"]
    tau2 = 1.0 + kappa * d
    c = stats["self_cost"]
    denom = c[:, None] + c[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (stats["delta_center"] / tau2 + stats["delta_mismatch"]) / np.where(denom > 0, denom, np.nan)
    rho = np.where(np.isnan(rho), np.inf, rho)  # zero-cost neurons (no trainable signal): nothing to swap
    np.fill_diagonal(rho, np.inf)
    rho_i = np.clip(np.min(rho, axis=1), 0.0, np.inf)
    pinned = np.where(np.isinf(rho_i), 1.0, rho_i / (1.0 + np.where(np.isinf(rho_i), 0.0, rho_i)))
    ef, er = stats["energy_center"], tau2 * stats["energy_train"]
    tot = ef + er
    cos = np.where(tot > 0, (ef + pinned * er) / np.where(tot > 0, tot, 1.0), 1.0)
    theta = np.arccos(np.clip(cos, -1.0, 1.0))
    chord = _g(theta) / (2 * math.pi)
    return dict(pinned=float(np.mean(pinned)), swap_ratio=float(np.median(rho_i)), chord=float(np.mean(chord)),
                angle=float(np.mean(theta)), tau2=tau2)


def _quantities(st: dict, comb: dict) -> dict:
    Q = Quantity
    return {
        "support_dim": Q("§2 basis", float(st["k"]), "PCA dimension k of the layer inputs (capped by max_rank)"),
        "explained_variance": Q("T-E.1", st["ratio"], "variance fraction captured by the basis (1 − tail energy)"),
        "coherence": Q("T-4.4", st["coherence"], "ν(U) = max_j ‖Uᵀe_j‖² of the input support (eq. 11)"),
        "mask_mean": Q("T-4.4", st["mu"], "μ = mean d_ij²"),
        "gram_deviation": Q("T-4.4", st["gram_deviation"], "median_i ‖S_i − μI‖₂/μ (Gram concentration)"),
        "rank_deficient": Q("T-4.2", st["rank_deficient"], "fraction of neurons with singular S_i"),
        "delta_min": Q("T-4.6", st["delta_min"], "minimum projected center gap δ_min"),
        "cheapest_center_swap": Q("T-C.5", st["cheapest_center_swap"],
                                  "2δ_min²/μ over the median self cost C_ii (init)"),
        "center_energy_ratio": Q("T-5.1", st["center_energy_ratio"],
                                 "median ‖f_i‖²_Σ/‖d_i⊙w_i‖²_Σ at init (1/η² of eq. 31)"),
        "swap_ratio": Q("T-16", comb["swap_ratio"],
                        "median over neurons of the cheapest relative swap cost after training (model)"),
        "pinned": Q("T-4.5", comb["pinned"], "mean pinned fraction ρ/(1+ρ)"),
        "angle": Q("T-5.1", comb["angle"], "mean predicted angle θ_i between the two runs' rows (rad)"),
        "chord": Q("T-5.1", comb["chord"], "mean relative midpoint chord bound g(θ_i)/(2π)"),
    }


def predict_lmc(model: nn.Module, X, *, explained_variance: float = 0.9, max_rank: int = 64,
                max_samples: int = 2048, seed: int = 0, calibration: dict | None = None) -> LMCPrediction:
    """Predict the unaligned midpoint barrier of two independently trained copies of ``model``'s
    architecture, from the untrained ``model`` and input data only.

    For every hidden linear layer ``ℓ`` (every recorded linear layer except the last, the readout) with
    inputs ``x`` recorded on ``X`` at initialization:

    1. support basis ``U`` (PCA, ``explained_variance``, at most ``max_rank`` directions), coherence ``ν``
       (eq. 11), Gram spectra and ``‖S_i − μI‖/μ`` (T-4.4), projected centers ``v_i = Uᵀf_i`` and ``δ_min``
       (T-4.6, T-C.5);
    2. the two parts of the swap cost of eq. (16) (T-16) that do not average out over initializations:
       the center term ``Δᶜ_ij`` and the metric mismatch ``Δᵐ_ij`` (from the initial trainable part);
    3. after training the trainable part has energy ``τ² = 1 + kappa·d`` times its initial one (Adam moves
       every coordinate by about the same amount, so the relative growth is linear in fan-in ``d``), so the
       cheapest reassignment of neuron ``i`` costs ``ρ_i = min_j (Δᶜ_ij/τ² + Δᵐ_ij)/(C_ii + C_jj)`` of the
       neurons' own cost (T-4.5: ``≈ ‖Δ^π‖²/μ`` in the center-dominated regime); the neuron keeps its
       identity across runs with weight ``p_i = ρ_i/(1 + ρ_i)`` (``p_i = 1`` if unrealizable, T-4.2);
    4. the two runs' effective rows then make the angle
       ``cos θ_i = (‖f_i‖²_Σ + p_i τ²‖r_i‖²_Σ)/(‖f_i‖²_Σ + τ²‖r_i‖²_Σ)`` and the midpoint chord deviation is at
       most ``g(θ_i)/(2π)`` of the neuron's energy (T-5.1, ``g(θ) = sin θ − θ cos θ``; eq. 31 is the case
       ``p_i = 0``, ``η² = τ²‖r_i‖²/‖f_i‖²``). ``χ_ℓ`` = mean over neurons.

    The score is ``Σ_ℓ χ_ℓ/√n_ℓ``: the output error of unrelated neurons averages out like ``1/√n``
    (weak additivity and reciprocal orthogonality fluctuations, T-WA, T-5.3). The loss barrier is bounded by
    ``√2·√Δ_out`` (T-5.2) but the constant from chord to nats depends on training; the predicted barrier is
    ``scale·score`` and the band ``(B̂ + floor)·exp(band) − floor``.

    Parameters
    ----------
    model : torch.nn.Module
        Untrained model whose parametrized modules are ``nn.Linear``/:class:`AsymmetricLinear` (analysed)
        and ``nn.LayerNorm``/``nn.BatchNorm1d``; anything else raises ``TypeError``. At least two linear
        layers (one hidden layer).
    X : torch.Tensor or array_like, shape (N, in_features)
        Input sample (``N ≥ 3``; at most ``max_samples`` rows are used, chosen with ``seed``).
    explained_variance : float in (0, 1]
    max_rank : int ≥ 1
    max_samples : int ≥ 3
    seed : int
        Row subsampling seed (only used when ``N > max_samples``).
    calibration : dict, optional
        Overrides :data:`CALIBRATION` keys (``kappa``, ``scale``, ``band_lo``, ``band_hi``, ``floor``).

    Returns
    -------
    LMCPrediction

    Raises
    ------
    TypeError
        ``model`` not a module, an unsupported parametrized module, or no linear layer.
    ValueError
        Bad ``X`` shape/values, fewer than two linear layers, bad ranges of the options.

    References
    ----------
    [NI] eq. (5)–(11), (16)–(20), Thm. 4.4–4.6, Cor. C.5, Thm. 5.1 (docs/theory.md T-4.2, T-4.4, T-4.5, T-4.6, T-16,
    T-C.5, T-5.1, T-5.2); [LEWC] Def. 5.1, Thm. 5.3 (T-WA, T-5.3). Derivation: ``docs/predict.md``.

    Examples
    --------
    >>> import torch
    >>> from lmctheory.nn import make_mlp, predict_lmc
    >>> X = torch.randn(256, 16, generator=torch.Generator().manual_seed(0))
    >>> std = predict_lmc(make_mlp(16, 32, 3, n_layers=3, kind="standard", seed=1), X)
    >>> syre = predict_lmc(make_mlp(16, 32, 3, n_layers=3, kind="syre", sigma_f=2.0, seed=1), X)
    >>> bool(std.score > syre.score)
    True
    >>> sorted(std.layers[0].quantities)[:3]
    ['angle', 'center_energy_ratio', 'cheapest_center_swap']
    """
    import time

    t0 = time.perf_counter()
    check_module(model, "model")
    explained_variance = check_scalar(explained_variance, "explained_variance", low=0.0, high=1.0,
                                      low_inclusive=False)
    max_rank = check_int(max_rank, "max_rank", low=1)
    max_samples = check_int(max_samples, "max_samples", low=3)
    seed = check_seed(seed)
    cal = dict(CALIBRATION)
    if calibration is not None:
        if not isinstance(calibration, dict):
            raise TypeError(f"calibration must be a dict, got {type(calibration).__name__}")
        unknown = set(calibration) - set(CALIBRATION)
        if unknown:
            raise ValueError(f"calibration has unknown keys {sorted(unknown)}; expected some of {sorted(CALIBRATION)}")
        cal.update(calibration)
    for key in ("kappa", "scale", "floor"):
        cal[key] = check_scalar(cal[key], f"calibration['{key}']", low=0.0)
    _check_supported(model)
    X = check_X(X, "X", model=model, min_rows=3)
    if X.shape[0] > max_samples:
        idx = np.sort(np.random.default_rng(seed).choice(X.shape[0], max_samples, replace=False))
        X = X[torch.as_tensor(idx)]
    inputs = record_layer_inputs(model, X)
    if len(inputs) < 2:
        raise ValueError(f"model must have at least two linear layers (one hidden layer), found {len(inputs)}")
    mods = dict(model.named_modules())
    layers = []
    for nm in list(inputs)[:-1]:
        E, F, D = layer_arrays(mods[nm])
        if E.shape[0] < 2:
            raise ValueError(f"layer {nm!r} has {E.shape[0]} neuron(s); swap costs need at least 2")
        st = layer_statistics(E, F, D, inputs[nm], explained_variance=explained_variance, max_rank=max_rank)
        cb = combine(st, cal["kappa"])
        layers.append(LayerPrediction(name=nm, n=st["n"], d=st["d"], k=st["k"], quantities=_quantities(st, cb),
                                      chord=cb["chord"], contribution=cb["chord"] / math.sqrt(st["n"])))
    score = float(sum(lp.contribution for lp in layers))
    barrier = cal["scale"] * score
    fl = cal["floor"]
    band = ((barrier + fl) * math.exp(cal["band_lo"]) - fl, (barrier + fl) * math.exp(cal["band_hi"]) - fl)
    return LMCPrediction(score=score, barrier=float(barrier), band=(float(band[0]), float(band[1])), layers=layers,
                         calibration=cal, seconds=time.perf_counter() - t0)


def _load_model(path: str) -> nn.Module:
    """The whole model saved at ``path`` with ``torch.save(model, path)``; :class:`~lmctheory._cli.CLIError` otherwise."""
    from pathlib import Path

    from .._cli import CLIError

    if not Path(path).is_file():
        raise CLIError(f"MODEL {path}: no such file")
    try:
        obj = torch.load(path, weights_only=False, map_location="cpu")
    except Exception as exc:  # garbage, truncated or foreign files raise many different errors
        raise CLIError(f"MODEL {path}: cannot be read as a saved torch model ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, nn.Module):
        hint = " (a state dict: save the whole model with torch.save(model, path))" if isinstance(obj, dict) else ""
        raise CLIError(f"MODEL {path}: holds a {type(obj).__name__}, expected a torch.nn.Module{hint}")
    return obj


def _load_data(path: str):
    """Inputs ``(N, d)`` from ``.npy``, ``.npz`` (array ``X`` or the first one) or ``.pt`` (a tensor); real numeric
    only; :class:`~lmctheory._cli.CLIError` otherwise."""
    from pathlib import Path

    from .._cli import CLIError

    p = Path(path)
    if not p.is_file():
        raise CLIError(f"DATA {path}: no such file")
    if p.suffix not in (".npy", ".npz", ".pt", ".pth"):
        raise CLIError(f"DATA {path}: expected .npy, .npz (array 'X' or the first one) or .pt (a tensor)")
    try:
        if p.suffix == ".npy":
            data = np.load(p, allow_pickle=False)
        elif p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                key = "X" if "X" in z.files else (z.files[0] if z.files else None)
                if key is None:
                    raise CLIError(f"DATA {path}: holds no array")
                data = z[key]
        else:
            data = torch.load(p, weights_only=True, map_location="cpu")
    except CLIError:
        raise
    except Exception as exc:  # pickled objects, garbage, truncated files
        raise CLIError(f"DATA {path}: cannot be read as numeric data ({type(exc).__name__}: {exc})") from None
    if isinstance(data, torch.Tensor):
        ok = not (data.is_complex() or data.dtype == torch.bool)
    elif isinstance(data, np.ndarray):
        ok = np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)
    else:
        raise CLIError(f"DATA {path}: holds a {type(data).__name__}, expected one array or tensor of inputs (N, d)")
    if not ok:
        raise CLIError(f"DATA {path}: holds non-numeric data ({describe(data)}); expected real numbers")
    return data


def format_prediction(res: LMCPrediction) -> str:
    """Plain-text summary: score, barrier with band, and one line per hidden layer."""
    lines = [f"score {res.score:.4g}   predicted unaligned midpoint barrier {res.barrier:.3g} nats "
             f"(band {res.band[0]:.3g} … {res.band[1]:.3g}; calibration: {res.calibration.get('fitted_on', '?')})",
             f"{'layer':16s} {'n':>5s} {'k':>4s} {'ν':>6s} {'‖S−μI‖/μ':>9s} {'δ_min':>8s} {'pinned':>7s} "
             f"{'chord':>7s}"]
    for lp in res.layers:
        q = lp.quantities
        lines.append(f"{lp.name:16s} {lp.n:5d} {lp.k:4d} {q['coherence'].value:6.3f} "
                     f"{q['gram_deviation'].value:9.3g} {q['delta_min'].value:8.3g} {q['pinned'].value:7.3f} "
                     f"{lp.chord:7.4f}")
    lines.append(f"({res.seconds:.2f} s)")
    return "\n".join(lines)


def main(argv=None) -> int:
    """``python -m lmctheory.nn.predict MODEL DATA [--json PATH] [...]``.

    ``MODEL``: a whole untrained model saved with ``torch.save(model, path)`` (unpickled with
    ``weights_only=False``: only load files you trust). ``DATA``: inputs ``(N, d)`` as ``.npy``, ``.npz``
    (array ``X`` or the first one) or ``.pt`` (a tensor). Exit status (:mod:`lmctheory._cli`): 0 the prediction
    was computed (and written); 1 it was computed but the ``--json`` file could not be written; 2 nothing was
    computed: bad command line, an unreadable or unsuitable ``MODEL``/``DATA``, or a ``--json`` path that is an
    input, a folder, unwritable, or in a folder that does not exist (checked before anything is computed). Every
    problem is one line on stderr.
    """
    import argparse
    import json

    from .._cli import EXIT_FAILED, EXIT_OK, CLIError, check_output_file, usage_error, write_text_atomic

    ap = argparse.ArgumentParser(
        prog="python -m lmctheory.nn.predict",
        description="Predict the unaligned LMC barrier of an untrained model.",
        epilog="exit status: 0 computed (and written); 1 computed but --json could not be written; 2 nothing "
               "computed (bad command line, unreadable MODEL/DATA, --json that is an input or cannot be written).")
    ap.add_argument("model", help="torch.save(model) file of the untrained model (trusted files only)")
    ap.add_argument("data", help="inputs (N, d): .npy, .npz or .pt")
    ap.add_argument("--explained-variance", type=float, default=0.9)
    ap.add_argument("--max-rank", type=int, default=64)
    ap.add_argument("--max-samples", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", metavar="PATH", help="also write the full result as JSON (the folder must exist)")
    args = ap.parse_args(argv)
    try:
        if args.json:
            check_output_file(args.json, "--json", create_dir=False, inputs={"MODEL": args.model, "DATA": args.data})
        model = _load_model(args.model)
        X = _load_data(args.data)
        res = predict_lmc(model, X, explained_variance=args.explained_variance, max_rank=args.max_rank,
                          max_samples=args.max_samples, seed=args.seed)
    except CLIError as exc:
        return usage_error(exc)
    except (ValueError, TypeError, RuntimeError) as exc:  # the model or the data do not suit the predictor
        return usage_error(f"{type(exc).__name__}: {exc}")
    print(format_prediction(res))
    if args.json:
        try:
            write_text_atomic(args.json, json.dumps(res.to_dict(), indent=2, default=float))
        except OSError as exc:
            import sys

            print(f"error: --json {args.json}: cannot write ({exc.strerror or exc})", file=sys.stderr)
            return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
