"""Hypothesis strategies for the theorem checks (docs/theory.md §1–10).

Every random object is built from an integer seed that hypothesis draws (so shrinking works on the
size parameters and the seed) through the seeded generators of :mod:`lmctheory.synthetic`.

* :func:`bases` — orthonormal ``U ∈ R^{d×k}`` from Haar-random (incoherent, ``ν ≈ k/d``) to
  coordinate-aligned (``ν = 1``) via ``coherent_basis(mix)``.
* :func:`layers` — W-asymmetric / syre / sparse / standard / general-diagonal layers on a basis, with
  a fixed-weight scale ``σ_F`` and trainable scale that cover center-dominated and non-center-dominated
  regimes.
* :func:`keep_probs`, :func:`covariances`, :func:`permutations`, :func:`weight_pairs`, :func:`mlps`,
  :func:`two_layer_blocks`, :data:`lambdas`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from lmctheory.synthetic import asymmetric_layer, coherent_basis, random_basis

seeds = st.integers(min_value=0, max_value=2**31 - 1)

#: mixing values of ``coherent_basis``: 0 = coordinate-aligned (ν = 1), 1 = Haar-like (ν ≈ k/d)
MIXES = (0.0, 0.02, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class Layer:
    """One asymmetric layer on a support basis (docs/theory.md §1)."""

    effective: np.ndarray
    fixed: np.ndarray
    diag: np.ndarray
    trainable: np.ndarray
    basis: np.ndarray
    mode: str

    @property
    def centers(self):
        return self.fixed @ self.basis

    @property
    def coefficients(self):
        return self.effective @ self.basis

    def __repr__(self):  # hypothesis prints the falsifying example: keep it short and useful
        n, d = self.effective.shape
        return (f"Layer(mode={self.mode!r}, n={n}, d={d}, k={self.basis.shape[1]}, "
                f"nu={float(np.max(np.sum(self.basis**2, axis=1))):.3g})")


@st.composite
def bases(draw, d=st.integers(2, 12), k=None, mix=st.sampled_from(MIXES), haar=st.booleans()):
    """An orthonormal basis ``U`` (d×k): ``random_basis`` (Haar) or ``coherent_basis(d, k, mix)``."""
    dd = draw(d) if isinstance(d, st.SearchStrategy) else d
    kk = draw(k if k is not None else st.integers(1, dd)) if not isinstance(k, int) else k
    kk = min(kk, dd)
    seed = draw(seeds)
    if draw(haar):
        return random_basis(dd, kk, seed=seed)
    return coherent_basis(dd, kk, draw(mix) if isinstance(mix, st.SearchStrategy) else mix, seed=seed)


MODES = ("wasym", "syre", "sparse", "standard", "scaled")


def _general_diag(n, d, rng, low=0.3):
    """A non-binary diagonal operator: ``d_ij ~ U(low, 1)`` (exercises ``d_ij² ≠ d_ij``)."""
    return rng.uniform(low, 1.0, size=(n, d))


@st.composite
def layers(draw, modes=MODES, n=st.integers(2, 6), d=st.integers(2, 10), k=None, mix=st.sampled_from(MIXES),
           sigma_f=st.sampled_from([0.0, 0.3, 1.0, 3.0, 10.0]), weight_scale=st.sampled_from([0.0, 0.1, 1.0, 3.0]),
           keep_prob=st.sampled_from([0.2, 0.5, 0.8, 0.95]), fixed_per_row=None, basis=None, haar=st.booleans()):
    """A :class:`Layer` of one architecture of Table 1 (plus ``scaled``: ``D ~ U(0.3, 1)``, ``F = σ_F Z``)."""
    mode = draw(st.sampled_from(modes))
    nn_ = draw(n)
    dd = draw(d)
    U = draw(basis) if basis is not None else draw(bases(d=dd, k=k, mix=mix, haar=haar))
    dd = U.shape[0]
    sf = draw(sigma_f)
    ws = draw(weight_scale)
    seed = draw(seeds)
    if mode == "scaled":
        rng = np.random.default_rng(seed)
        D = _general_diag(nn_, dd, rng)
        F = sf * rng.standard_normal((nn_, dd))
        W = ws / np.sqrt(dd) * rng.standard_normal((nn_, dd))
        return Layer(F + D * W, F, D, W, U, mode)
    kw = {}
    if mode == "wasym":
        m = draw(fixed_per_row) if fixed_per_row is not None else draw(st.integers(0, dd))
        kw["fixed_per_row"] = m
    if mode == "sparse":
        kw["keep_prob"] = draw(keep_prob)
    lay = asymmetric_layer(nn_, dd, mode, sigma_f=sf, weight_scale=ws, seed=seed, **kw)
    return Layer(lay.effective, lay.fixed, lay.diag, lay.trainable, U, mode)


@st.composite
def invertible_layers(draw, cond_max=1e6, **kw):
    """Layers whose Gram matrices are all invertible with condition number ``≤ cond_max``."""
    lay = draw(layers(**kw))
    lam = np.linalg.eigvalsh(np.einsum("nj,ja,jb->nab", lay.diag**2, lay.basis, lay.basis))
    assume(np.all(lam[:, 0] > lam[:, -1] / cond_max))
    return lay


@st.composite
def near_isotropic_layers(draw, n=st.integers(2, 6), eps_max=0.9, center_dominated=None):
    """Layers with every ``‖S_i − μI‖ ≤ ε μ``, ``ε < eps_max`` (μ = mean of ``D⊙D``): incoherent bases
    with W-asymmetric masks of few fixed entries, or ``D = 1`` (``ε = 0``); ``center_dominated``
    ``True``/``False``/``None`` picks ``σ_F ≫`` / ``≲`` the trainable scale / either."""
    d = draw(st.integers(4, 14))
    k = draw(st.integers(1, max(1, d // 2)))
    if center_dominated is None:
        center_dominated = draw(st.booleans())
    sf = draw(st.sampled_from([3.0, 10.0, 30.0])) if center_dominated else draw(st.sampled_from([0.3, 1.0]))
    ws = draw(st.sampled_from([0.1, 0.5, 1.0])) if center_dominated else draw(st.sampled_from([1.0, 3.0]))
    mode = draw(st.sampled_from(["wasym", "syre", "scaled"]))
    m = draw(st.integers(1, max(1, d // 4)))
    lay = draw(layers(modes=(mode,), n=n, d=st.just(d), k=st.just(k), mix=st.just(1.0), haar=st.just(True),
                      sigma_f=st.just(sf), weight_scale=st.just(ws), fixed_per_row=st.just(m)))
    if mode == "scaled":  # make D close to constant so that ε < 1
        rng = np.random.default_rng(draw(seeds))
        D = rng.uniform(0.85, 1.0, size=lay.diag.shape)
        lay = Layer(lay.fixed + D * lay.trainable, lay.fixed, D, lay.trainable, lay.basis, "scaled")
    mu = float(np.mean(lay.diag**2))
    lam = np.linalg.eigvalsh(np.einsum("nj,ja,jb->nab", lay.diag**2, lay.basis, lay.basis))
    eps = float(np.max(np.maximum(np.abs(lam[:, -1] - mu), np.abs(lam[:, 0] - mu)))) / mu
    assume(eps < eps_max)
    return lay, mu


@st.composite
def shared_center_layers(draw):
    """Center-dominated layers whose neurons come in pairs sharing one fixed row (``f_{2m+1} = f_{2m}``), so
    ``a_j − v_i`` is tiny next to ``‖v_i‖`` for the pairs: the expanded (GEMM) form of the costs cancels
    catastrophically there (docs/theory.md §12). ``σ_F ∈ {1, 3, 10}``, trainable scale ``10⁻⁵ … 10⁻²``."""
    mode = draw(st.sampled_from(["syre", "wasym", "scaled"]))
    n = draw(st.integers(2, 6))
    d = draw(st.integers(6, 20))
    k = draw(st.integers(2, max(2, d // 3)))
    U = random_basis(d, k, seed=draw(seeds))
    sf = draw(st.sampled_from([1.0, 3.0, 10.0]))
    ws = draw(st.sampled_from([1e-5, 1e-4, 1e-3, 1e-2]))
    seed = draw(seeds)
    if mode == "scaled":
        rng = np.random.default_rng(seed)
        D = _general_diag(n, d, rng, low=0.5)
        F = sf * rng.standard_normal((n, d))
        W = ws * rng.standard_normal((n, d))
    else:
        kw = {"fixed_per_row": draw(st.integers(1, max(1, d // 3)))} if mode == "wasym" else {}
        lay = asymmetric_layer(n, d, mode, sigma_f=sf, weight_scale=ws, seed=seed, **kw)
        D, F, W = lay.diag, lay.fixed.copy(), lay.trainable
    F[1::2] = F[0::2][: n // 2]
    return Layer(F + D * W, F, D, W, U, mode)


def keep_probs(low=0.05, high=0.95):
    return st.floats(low, high, allow_nan=False)


@st.composite
def covariances(draw, dim, kind=st.sampled_from(["identity", "diag", "dense", "lowrank"])):
    """A positive semidefinite ``dim×dim`` covariance: identity, anisotropic diagonal, dense
    (``AAᵀ/dim`` + jitter) or low-rank + small jitter."""
    kd = draw(kind)
    rng = np.random.default_rng(draw(seeds))
    if kd == "identity":
        return np.eye(dim)
    if kd == "diag":
        return np.diag(rng.uniform(0.1, 3.0, dim))
    if kd == "dense":
        A = rng.standard_normal((dim, dim))
        return A @ A.T / dim + 0.05 * np.eye(dim)
    r = max(1, dim // 2)
    A = rng.standard_normal((dim, r))
    return A @ A.T / r + 1e-3 * np.eye(dim)


def permutations(n, non_identity=True):
    """Permutations of ``range(n)`` as int arrays (identity excluded by default)."""
    s = st.permutations(list(range(n))).map(np.array)
    if non_identity:
        s = s.filter(lambda p: np.any(p != np.arange(n)))
    return s


lambdas = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def weight_pairs(draw, d=st.integers(1, 8), n=st.integers(1, 4), angle=st.sampled_from(["any", "small", "tiny", "opposite"])):
    """Two effective weight matrices ``(w0, w1)`` of shape (n, d) with a controlled Σ-free angle:
    ``any`` (independent), ``small`` (``w1 = w0 + 0.2·noise``), ``tiny`` (``+ 0.01·noise``: small-angle
    regime where the T-5.1 cubic form is sharp), ``opposite`` (``w1 ≈ −w0``)."""
    dd, nn_ = draw(d), draw(n)
    rng = np.random.default_rng(draw(seeds))
    w0 = rng.standard_normal((nn_, dd))
    noise = rng.standard_normal((nn_, dd))
    kind = draw(angle)
    scale = draw(st.sampled_from([0.1, 1.0, 10.0]))
    if kind == "any":
        w1 = noise
    elif kind == "small":
        w1 = w0 + 0.2 * noise
    elif kind == "tiny":
        w1 = w0 + 0.01 * noise
    else:
        w1 = -w0 + 0.1 * noise
    return scale * w0, scale * w1


@st.composite
def mlps(draw, in_dim=st.integers(1, 6), depth=st.integers(2, 4), width=st.integers(1, 8), out_dim=st.integers(1, 4)):
    """A pair of bias-free ReLU MLPs ``(weights_a, weights_b)`` with equal shapes; ``weights`` are
    ``[W_1, …, W_L]`` (``W_ℓ`` of shape (out, in)); He-scaled Gaussian entries, model ``b`` either
    independent, correlated with ``a`` or equal to ``a``."""
    L = draw(depth)
    dims = [draw(in_dim)] + [draw(width) for _ in range(L - 1)] + [draw(out_dim)]
    rng = np.random.default_rng(draw(seeds))
    rel = draw(st.sampled_from(["independent", "correlated", "equal"]))
    wa, wb = [], []
    for a, b in zip(dims[:-1], dims[1:]):
        Wa = rng.standard_normal((b, a)) * np.sqrt(2.0 / a)
        Wn = rng.standard_normal((b, a)) * np.sqrt(2.0 / a)
        Wb = {"independent": Wn, "correlated": 0.8 * Wa + 0.6 * Wn, "equal": Wa.copy()}[rel]
        wa.append(Wa)
        wb.append(Wb)
    return wa, wb


@st.composite
def two_layer_blocks(draw, bias=st.booleans()):
    """``(W1, b1, W2, X)`` of a two-layer block ``x ↦ W2 σ(W1 x + b1)`` (``b1`` may be None) and 50 inputs."""
    d, h, o = draw(st.integers(1, 6)), draw(st.integers(1, 8)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(seeds))
    W1 = rng.standard_normal((h, d))
    b1 = rng.standard_normal(h) if draw(bias) else None
    W2 = rng.standard_normal((o, h))
    X = rng.standard_normal((50, d)) * 2
    return W1, b1, W2, X
