"""Sensitivity of the realization cost to output and input permutations (docs/theory.md §4–5).

Conventions
-----------
*Output permutation* ``π`` (eq. 13–15): neuron ``i`` of the permuted layer must realize the
function previously at neuron ``π(i)``; ``perm[i] = π(i)``.

*Input permutation* ``ρ`` and its matrix ``P_ρ`` (§5): ``P_ρ e_j = e_{ρ(j)}``, i.e.
``(P_ρ)_{ab} = 1`` iff ``a = ρ(b)``. Then ``(P_ρᵀ f)_j = f_{ρ(j)}`` — in NumPy ``P_ρᵀ f = f[perm]``
with ``perm[j] = ρ(j)`` — and ``P_ρᵀ diag(d) P_ρ = diag(d[perm])``. Hence the reindexed centers
and Grams are ``v_i^ρ = Uᵀ f_i[perm]`` and ``S_i^ρ = Uᵀ diag(d_i[perm])² U``. A transposition
``τ = (p q)`` is its own inverse, so for T-4.8a the convention does not matter.

Shapes: ``centers`` ``(n, k)`` rows ``v_i``; ``coefficients`` ``(n, k)`` rows ``a_i``; ``grams``
``(n, k, k)`` rows ``S_i``; layer arrays ``(n, d)``; ``basis`` ``(d, k)`` orthonormal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import (
    MAX_ABS,
    check_array,
    check_fixed_basis,
    check_int,
    check_layer,
    check_permutation,
    check_scalar,
)

__all__ = [
    "SwapCostDecomposition",
    "SensitivityApproximation",
    "center_differences",
    "permutation_sensitivity",
    "swap_cost_decomposition",
    "permutation_sensitivity_approximation",
    "permutation_sensitivity_bounds",
    "min_reassignment_lower_bound",
    "input_center_differences",
    "input_sensitivity",
    "input_sensitivity_approximation",
    "coordinate_transposition_differences",
    "coordinate_transposition_fro_sq",
]


@dataclass(frozen=True)
class SwapCostDecomposition:
    """The three terms of the swap cost ``Δ_ij`` (eq. (16), T-16); ``total = center + cross + mismatch``."""

    center: float
    cross: float
    mismatch: float
    total: float


@dataclass(frozen=True)
class SensitivityApproximation:
    """Leading term and error radius of T-4.5 (output) or T-4.7 (input).

    Attributes
    ----------
    leading : float
        ``(1/μ)(‖Δ‖_F² ± 2⟨Δ, ·⟩)`` (``+`` with ``Π R_π`` for T-4.5, ``−`` with ``R`` for T-4.7).
    radius : float
        ``κ_ε Σ(…)``, so ``|Δ_out − leading| ≤ radius`` (resp. ``Δ_in``).
    delta_fro_sq : float
        ``‖Δ^π‖_F²`` (resp. ``‖Δ^ρ‖_F²``).
    inner : float
        ``⟨Δ^π, Π R_π⟩`` (resp. ``⟨Δ^ρ, R⟩``).
    residual_fro : float
        ``‖Π R‖_F`` (T-4.5, trainable parts of the moved rows) or ``‖R‖_F`` (T-4.7).
    eta : float
        ``residual_fro / √delta_fro_sq`` (``inf`` if ``Δ = 0`` and the residual is not, 0 if both are 0):
        the smallest ``η`` for which the η-form bounds of T-4.5 apply.
    kappa : float
        ``κ_ε = ε/((1−ε)μ)``.
    n_moved : int
        ``|moved(π)|`` (T-4.5) or the number of rows with ``Δ^ρ_i ≠ 0`` (T-4.7).
    """

    leading: float
    radius: float
    delta_fro_sq: float
    inner: float
    residual_fro: float
    eta: float
    kappa: float
    n_moved: int

    @property
    def lower(self) -> float:
        """``leading − radius``."""
        return self.leading - self.radius

    @property
    def upper(self) -> float:
        """``leading + radius``."""
        return self.leading + self.radius


def _mu_eps(mu, eps):
    mu = check_scalar(mu, "mu", low=0.0, low_inclusive=False)
    eps = check_scalar(eps, "eps", low=0.0, high=1.0, high_inclusive=False)
    return mu, eps


def _pair(centers, coefficients):
    V = check_array(centers, "centers", ndim=2, max_abs=MAX_ABS)
    A = check_array(coefficients, "coefficients", ndim=2, max_abs=MAX_ABS)
    if A.shape != V.shape:
        raise ValueError(f"coefficients must have the same shape as centers {V.shape}, got {A.shape}")
    return V, A


def center_differences(centers, perm):
    """Projected center differences ``Δ^π``, row ``i`` = ``v_{π(i)} − v_i`` (eq. (17), docs/theory.md §4).

    Parameters
    ----------
    centers : array_like, shape (n, k)
    perm : array_like of int, shape (n,)
        ``perm[i] = π(i)``.

    Returns
    -------
    ndarray, shape (n, k)
        Zero rows where ``π(i) = i``; for a transposition ``‖Δ^τ‖_F² = 2‖v_i − v_j‖²``.
    """
    V = check_array(centers, "centers", ndim=2, max_abs=MAX_ABS)
    p = check_permutation(perm, V.shape[0])
    return V[p] - V


def permutation_sensitivity(costs, perm) -> float:
    """Output-permutation sensitivity ``Δ_out(π) = Σ_i [C[i, π(i)] − C[i, i]]`` (eq. (14)–(15)).

    Only moved rows are summed (fixed rows cancel exactly).

    Parameters
    ----------
    costs : array_like, shape (n, n)
        Realization costs ``C[i, j] = R_i(a_j)`` (:func:`lmctheory.costs.realization_costs`);
        ``+inf`` allowed off the diagonal, NaN not.
    perm : array_like of int, shape (n,)
        ``perm[i] = π(i)``.

    Returns
    -------
    float
        ``+inf`` if some moved neuron cannot realize its new function.

    Raises
    ------
    ValueError
        If ``costs`` is not square, contains NaN or ``−inf``, or a moved row has an infinite diagonal.

    References
    ----------
    [NI] eq. (14)–(15); docs/theory.md#eq-14-15. Center-dominated approximation: [NI] Thm. 4.5,
    docs/theory.md#t-4-5.

    Examples
    --------
    >>> import numpy as np
    >>> import lmctheory as lt
    >>> C = np.array([[1.0, 4.0, 9.0], [2.0, 1.0, 3.0], [5.0, 6.0, 0.5]])
    >>> lt.permutation_sensitivity(C, [1, 0, 2])    # the swap (0 1): C01 + C10 − C00 − C11
    4.0
    >>> lt.permutation_sensitivity(C, [1, 2, 0])    # a 3-cycle
    9.5
    """
    C = check_array(costs, "costs", ndim=2, allow_nonfinite=True, max_abs=None)
    n = C.shape[0]
    if C.shape != (n, n):
        raise ValueError(f"costs must be square (n, n), got shape {C.shape}")
    if np.isnan(C).any() or (C == -np.inf).any():
        raise ValueError("costs contains NaN or -inf; entries must be finite or +inf")
    p = check_permutation(perm, n)
    moved = np.flatnonzero(p != np.arange(n))
    if moved.size == 0:
        return 0.0
    dg = C[moved, moved]
    if not np.all(np.isfinite(dg)):
        raise ValueError("costs has +inf on the diagonal of a moved row; Δ_out(π) is undefined")
    new = C[moved, p[moved]]
    if not np.all(np.isfinite(new)):
        return float("inf")
    return float(np.sum(new - dg))


def _inv_spd(S, name):
    lam, Q = np.linalg.eigh(0.5 * (S + S.T))
    k = S.shape[0]
    if not lam[0] > 10.0 * k * np.finfo(np.float64).eps * max(abs(lam[-1]), np.finfo(np.float64).tiny):
        raise ValueError(f"{name} must be symmetric positive definite (invertible), smallest eigenvalue {lam[0]:.3g}")
    return (Q / lam) @ Q.T


def swap_cost_decomposition(centers, coefficients, grams, i, j) -> SwapCostDecomposition:
    """Exact three-term decomposition of the swap cost ``Δ_ij`` (eq. (16), T-16).

    With ``r_i = a_i − v_i`` and ``‖x‖²_A = xᵀAx``, for invertible ``S_i, S_j``:

    ``Δ_ij = C[i,j] + C[j,i] − C[i,i] − C[j,j]``
    ``= [‖v_j − v_i‖²_{S_i⁻¹} + ‖v_i − v_j‖²_{S_j⁻¹}]`` (center)
    ``+ 2[(v_j − v_i)ᵀS_i⁻¹ r_j + (v_i − v_j)ᵀS_j⁻¹ r_i]`` (cross)
    ``+ [‖r_j‖²_{S_i⁻¹} − ‖r_j‖²_{S_j⁻¹} + ‖r_i‖²_{S_j⁻¹} − ‖r_i‖²_{S_i⁻¹}]`` (metric mismatch).

    Parameters
    ----------
    centers, coefficients : array_like, shape (n, k)
        ``v`` and ``a``.
    grams : array_like, shape (n, k, k)
        ``S`` (:func:`lmctheory.gram.gram_matrices`); ``S_i`` and ``S_j`` must be positive definite.
    i, j : int
        Distinct neuron indices in ``[0, n)``.

    Returns
    -------
    SwapCostDecomposition

    References
    ----------
    [NI] eq. (16); docs/theory.md#t-16.

    Examples
    --------
    The three terms add up to the swap cost of :func:`lmctheory.costs.swap_costs`:

    >>> import numpy as np
    >>> import lmctheory as lt
    >>> from lmctheory.synthetic import asymmetric_layer, random_basis
    >>> layer = asymmetric_layer(5, 12, mode="syre", sigma_f=1.0, seed=0)
    >>> U = random_basis(12, 3, seed=1)
    >>> V = lt.projected_centers(layer.fixed, U)
    >>> A = lt.induced_coefficients(layer.effective, U)
    >>> S = lt.gram_matrices(layer.diag, U)
    >>> parts = lt.swap_cost_decomposition(V, A, S, 0, 1)
    >>> C = lt.realization_costs(layer.effective, layer.fixed, layer.diag, U)
    >>> bool(np.isclose(parts.total, lt.swap_costs(C)[0, 1]))
    True
    """
    V, A = _pair(centers, coefficients)
    n, k = V.shape
    G = check_array(grams, "grams", shape=(n, k, k), max_abs=MAX_ABS)
    i = check_int(i, "i", low=0, high=n - 1)
    j = check_int(j, "j", low=0, high=n - 1)
    if i == j:
        raise ValueError(f"i and j must be distinct, got i = j = {i}")
    Si = _inv_spd(G[i], f"grams[{i}]")
    Sj = _inv_spd(G[j], f"grams[{j}]")
    ri, rj = A[i] - V[i], A[j] - V[j]
    dv = V[j] - V[i]
    center = dv @ Si @ dv + dv @ Sj @ dv
    cross = 2.0 * (dv @ Si @ rj - dv @ Sj @ ri)
    mismatch = rj @ Si @ rj - rj @ Sj @ rj + ri @ Sj @ ri - ri @ Si @ ri
    return SwapCostDecomposition(float(center), float(cross), float(mismatch),
                                 float(center + cross + mismatch))


def _eta(resid_fro, dfs):
    if dfs > 0:
        return float(resid_fro / np.sqrt(dfs))
    return 0.0 if resid_fro == 0 else float("inf")


def permutation_sensitivity_approximation(centers, coefficients, perm, mu, eps) -> SensitivityApproximation:
    """Center-dominated approximation of ``Δ_out(π)`` (Thm. 4.5, T-4.5).

    If every ``S_i`` is invertible with ``‖S_i − μI‖₂ ≤ εμ`` (eq. 18), ``ε < 1``, then with
    ``κ_ε = ε/((1−ε)μ)``, ``r_i = a_i − v_i``, ``moved = {i : π(i) ≠ i}``:

    ``|Δ_out(π) − (1/μ)(‖Δ^π‖_F² + 2⟨Δ^π, Π R_π⟩)| ≤ κ_ε Σ_{i∈moved}(‖Δ^π_i + r_{π(i)}‖² + ‖r_i‖²)``,

    where ``Δ^π_i + r_{π(i)} = a_{π(i)} − v_i``. This function evaluates both sides' ingredients;
    it does not check the hypothesis (use :func:`lmctheory.gram.gram_deviation_norms`).

    Parameters
    ----------
    centers, coefficients : array_like, shape (n, k)
    perm : array_like of int, shape (n,)
    mu : float > 0
    eps : float in [0, 1)

    Returns
    -------
    SensitivityApproximation
        ``leading``, ``radius``; ``residual_fro = ‖Π R‖_F`` and ``eta = ‖Π R‖_F/‖Δ^π‖_F`` for the
        η-form (:func:`permutation_sensitivity_bounds`).
    """
    V, A = _pair(centers, coefficients)
    p = check_permutation(perm, V.shape[0])
    mu, eps = _mu_eps(mu, eps)
    kappa = eps / ((1.0 - eps) * mu)
    moved = np.flatnonzero(p != np.arange(V.shape[0]))
    if moved.size == 0:
        return SensitivityApproximation(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, kappa, 0)
    pm = p[moved]
    Dm = V[pm] - V[moved]
    Rpm = A[pm] - V[pm]
    Rm = A[moved] - V[moved]
    dfs = float(np.sum(Dm * Dm))
    inner = float(np.sum(Dm * Rpm))
    leading = (dfs + 2.0 * inner) / mu
    X = A[pm] - V[moved]
    radius = kappa * float(np.sum(X * X) + np.sum(Rm * Rm))
    res = float(np.sqrt(np.sum(Rm * Rm)))
    return SensitivityApproximation(leading, radius, dfs, inner, res, _eta(res, dfs), kappa,
                                    int(moved.size))


def _eta_factor(eps, eta):
    return 2.0 * eta + (eps / (1.0 - eps)) * ((1.0 + eta) ** 2 + eta**2)


def permutation_sensitivity_bounds(delta_fro_sq, mu, eps, eta):
    """Two-sided η-form bounds on ``Δ_out(π)`` (Thm. 4.5, T-4.5).

    Under eq. (18) and ``‖Π R‖_F ≤ η ‖Δ^π‖_F``, with ``c = 2η + (ε/(1−ε))((1+η)² + η²)``:

    ``(‖Δ^π‖_F²/μ)(1 − c) ≤ Δ_out(π) ≤ (‖Δ^π‖_F²/μ)(1 + c)``.

    Parameters
    ----------
    delta_fro_sq : float ≥ 0
        ``‖Δ^π‖_F²``.
    mu : float > 0
    eps : float in [0, 1)
    eta : float ≥ 0

    Returns
    -------
    (lower, upper) : tuple of float
        ``lower`` may be negative, which is still informative: ``Δ_out`` itself can be negative.

    References
    ----------
    [NI] Thm. 4.5; docs/theory.md#t-4-5.

    Examples
    --------
    With exactly isotropic Grams (``ε = 0``) and no trainable part (``η = 0``) the bounds pinch to
    ``‖Δ^π‖_F²/μ``:

    >>> import lmctheory as lt
    >>> lt.permutation_sensitivity_bounds(2.0, 1.0, 0.0, 0.0)
    (2.0, 2.0)
    """
    dfs = check_scalar(delta_fro_sq, "delta_fro_sq", low=0.0)
    mu, eps = _mu_eps(mu, eps)
    eta = check_scalar(eta, "eta", low=0.0)
    c = _eta_factor(eps, eta)
    base = dfs / mu
    return base * (1.0 - c), base * (1.0 + c)


def min_reassignment_lower_bound(delta_min, mu, eps, eta) -> float:
    """Lower bound on the cheapest reassignment (Cor. C.5, eq. (20)/(90), T-C.5).

    ``min_{π≠id} Δ_out(π) ≥ (2δ_min²/μ)[1 − 2η − (ε/(1−ε))((1+η)² + η²)]``, using
    ``‖Δ^π‖_F² ≥ |moved(π)| δ_min² ≥ 2δ_min²``.

    Parameters
    ----------
    delta_min : float ≥ 0
        Minimum projected center gap (:func:`lmctheory.subspace.min_center_gap`).
    mu : float > 0
    eps : float in [0, 1)
    eta : float ≥ 0

    Returns
    -------
    float
        ``−inf`` when the bracket ``1 − 2η − …`` is negative: the step ``‖Δ^π‖_F² ≥ 2δ_min²`` only
        lowers ``(‖Δ^π‖_F²/μ)·bracket`` when the bracket is ``≥ 0``; with a negative bracket the
        formula value is *not* a lower bound (a counterexample is in ``tests/test_sensitivity.py``),
        and no finite bound follows from T-4.5.

    References
    ----------
    [NI] Cor. C.5, eq. (20)/(90); docs/theory.md#t-c-5, including the correction: the corollary needs a
    positive bracket (docs/theory.md#corrections).

    Examples
    --------
    >>> import lmctheory as lt
    >>> lt.min_reassignment_lower_bound(1.0, 1.0, 0.0, 0.0)     # 2δ_min²/μ
    2.0
    >>> round(lt.min_reassignment_lower_bound(1.0, 1.0, 0.1, 0.2), 6)
    0.871111
    >>> lt.min_reassignment_lower_bound(1.0, 1.0, 0.0, 0.6)     # bracket 1 − 2η < 0: no bound
    -inf
    """
    dm = check_scalar(delta_min, "delta_min", low=0.0)
    mu, eps = _mu_eps(mu, eps)
    eta = check_scalar(eta, "eta", low=0.0)
    bracket = 1.0 - _eta_factor(eps, eta)
    if bracket < 0.0:
        return float("-inf")
    return (2.0 * dm * dm / mu) * bracket


def input_center_differences(fixed, basis, perm):
    """Input-reindexing center differences ``Δ^ρ``, rows ``v_i^ρ − v_i = Uᵀ(P_ρᵀ − I) f_i``.

    docs/theory.md §5 ([NI] §4.4); the matrix in T-4.7 and, for a transposition, T-4.8a (eq. (27)).

    With the module convention ``P_ρᵀ f = f[perm]``, row ``i`` is ``Uᵀ(f_i[perm] − f_i)``
    (formed from the difference, without cancellation).

    Parameters
    ----------
    fixed : array_like, shape (n, d)
    basis : array_like, shape (d, k)
    perm : array_like of int, shape (d,)
        ``perm[j] = ρ(j)``.

    Returns
    -------
    ndarray, shape (n, k)
    """
    F, U = check_fixed_basis(fixed, basis)
    p = check_permutation(perm, U.shape[0])
    return (F[:, p] - F) @ U


def input_sensitivity(effective, fixed, diag, basis, perm) -> float:
    """Input-permutation sensitivity ``Δ_in(ρ)`` (docs/theory.md §5; [NI] §4.4; the quantity of T-4.7).

    ``Δ_in(ρ) = Σ_i [‖a_i − v_i^ρ‖²_{(S_i^ρ)†} − ‖a_i − v_i‖²_{S_i†}]`` with ``a_i = Uᵀw̃_i`` kept,
    ``v_i^ρ = Uᵀ f_i[perm]``, ``S_i^ρ = Uᵀ diag(d_i[perm])² U`` (module convention). Each term is a
    self cost (:func:`lmctheory.costs.self_costs`) of the reindexed layer, with the same range
    tolerance ``rtol = 1e-8``.

    Parameters
    ----------
    effective, fixed, diag : array_like, shape (n, d)
    basis : array_like, shape (d, k)
    perm : array_like of int, shape (d,)

    Returns
    -------
    float
        ``+inf`` if some ``a_i − v_i^ρ`` leaves ``range(S_i^ρ)``.

    Raises
    ------
    ValueError
        Also if the original layer has an infinite self cost (``effective`` inconsistent with
        ``fixed``/``diag``), where ``Δ_in`` is undefined.
    """
    from .costs import self_costs

    E, F, D, U = check_layer(effective, fixed, diag, basis)
    p = check_permutation(perm, U.shape[0])
    c0 = self_costs(E, F, D, U)
    if not np.all(np.isfinite(c0)):
        raise ValueError("the original layer has an infinite self cost; Δ_in(ρ) is undefined")
    c1 = self_costs(E, np.ascontiguousarray(F[:, p]), np.ascontiguousarray(D[:, p]), U)
    if not np.all(np.isfinite(c1)):
        return float("inf")
    return float(np.sum(c1 - c0))


def input_sensitivity_approximation(effective, fixed, diag, basis, perm, mu, eps) -> SensitivityApproximation:
    """Center-dominated approximation of ``Δ_in(ρ)`` (Thm. 4.7, T-4.7).

    If all ``S_i`` and ``S_i^ρ`` satisfy ``‖· − μI‖₂ ≤ εμ``, then with ``r_i = a_i − v_i``,
    ``x_i = r_i − Δ^ρ_i`` (``= a_i − v_i^ρ``) and ``κ_ε = ε/((1−ε)μ)``:

    ``|Δ_in(ρ) − (1/μ)(‖Δ^ρ‖_F² − 2⟨Δ^ρ, R⟩)| ≤ κ_ε Σ_i (‖x_i‖² + ‖r_i‖²)`` (sum over all ``i``).

    Parameters
    ----------
    effective, fixed, diag : array_like, shape (n, d)
    basis : array_like, shape (d, k)
    perm : array_like of int, shape (d,)
    mu : float > 0
    eps : float in [0, 1)

    Returns
    -------
    SensitivityApproximation
        ``inner = ⟨Δ^ρ, R⟩``, ``residual_fro = ‖R‖_F``; ``n_moved`` counts rows with ``Δ^ρ_i ≠ 0``.
        ``diag`` enters only through the hypothesis (not checked here).
    """
    E, F, D, U = check_layer(effective, fixed, diag, basis)
    p = check_permutation(perm, U.shape[0])
    mu, eps = _mu_eps(mu, eps)
    kappa = eps / ((1.0 - eps) * mu)
    Dr = (F[:, p] - F) @ U
    R = (E - F) @ U  # r_i = Uᵀ(w̃_i − f_i): no cancellation between a_i and v_i
    X = R - Dr
    dfs = float(np.sum(Dr * Dr))
    inner = float(np.sum(Dr * R))
    leading = (dfs - 2.0 * inner) / mu
    rr = float(np.sum(R * R))
    radius = kappa * (float(np.sum(X * X)) + rr)
    moved = int(np.count_nonzero(np.any(Dr != 0.0, axis=1)))
    res = float(np.sqrt(rr))
    return SensitivityApproximation(leading, radius, dfs, inner, res, _eta(res, dfs), kappa, moved)


def _check_pq(U, p, q):
    d = U.shape[0]
    p = check_int(p, "p", low=0, high=d - 1)
    q = check_int(q, "q", low=0, high=d - 1)
    return p, q


def coordinate_transposition_differences(fixed, basis, p, q):
    """Rank-one ``Δ^τ`` of a coordinate transposition ``τ = (p q)`` (eq. (27), T-4.8a, exact).

    ``Δ^τ = (F_{:,q} − F_{:,p})(u_p − u_q)ᵀ``, equal to :func:`input_center_differences` with the
    permutation swapping ``p`` and ``q``.

    Parameters
    ----------
    fixed : array_like, shape (n, d)
    basis : array_like, shape (d, k)
    p, q : int in [0, d)

    Returns
    -------
    ndarray, shape (n, k)
        Zero if ``p == q``.
    """
    F, U = check_fixed_basis(fixed, basis)
    p, q = _check_pq(U, p, q)
    return np.outer(F[:, q] - F[:, p], U[p] - U[q])


def coordinate_transposition_fro_sq(fixed, basis, p, q) -> float:
    """``‖Δ^τ‖_F² = ‖F_{:,p} − F_{:,q}‖² · ‖u_p − u_q‖²`` for ``τ = (p q)`` (eq. (27), T-4.8a).

    Note ``‖u_p − u_q‖² ≤ min(2, 4ν)``: an incoherent support hides reindexings.

    Parameters
    ----------
    fixed : array_like, shape (n, d)
    basis : array_like, shape (d, k)
    p, q : int in [0, d)

    Returns
    -------
    float
    """
    F, U = check_fixed_basis(fixed, basis)
    p, q = _check_pq(U, p, q)
    df = F[:, p] - F[:, q]
    du = U[p] - U[q]
    return float(np.dot(df, df) * np.dot(du, du))
