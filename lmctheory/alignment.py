"""Aligning two networks: activation / weight matching, orthogonal Procrustes, linear CKA.

docs/theory.md §10 ("Alignment", "Linear CKA"); [NI] Q2 (activation matching and its objective against the
identity and random permutations); Ainsworth et al. 2023, *Git Re-Basin* (weight matching).

Permutation convention (used by every function here)
----------------------------------------------------
A permutation is an int array ``perm`` of shape ``(n,)`` and **unit ``perm[i]`` of model b is matched
to unit ``i`` of model a**. Applying it to model b means reindexing b's units with ``perm``:
``acts_b[:, perm]`` lines up with ``acts_a``, and a hidden layer becomes
``W_ℓ ← W_ℓ[perm_ℓ][:, perm_{ℓ−1}]``, i.e. ``P_ℓ W_ℓ P_{ℓ−1}ᵀ`` with ``(P x)_i = x[perm[i]]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ._validation import check_array, check_int, check_permutation, check_seed, check_weight_list, check_weight_list_pair

__all__ = [
    "MatchingResult",
    "activation_correlation",
    "activation_matching",
    "weight_matching",
    "DescentResult",
    "permutation_coordinate_descent",
    "permute_mlp",
    "orthogonal_procrustes",
    "linear_cka",
]

#: a unit is treated as constant when its centered norm is below this fraction of its raw norm
#: (mean subtraction of a constant column leaves rounding residue ~1e-16, which must not turn
#: into a spurious correlation of ±1)
CONSTANT_UNIT_RTOL = 1e-12


@dataclass(frozen=True)
class MatchingResult:
    """Result of :func:`activation_matching`.

    Attributes
    ----------
    perm : ndarray of int64, shape (n,)
        Unit ``perm[i]`` of model b is matched to unit ``i`` of model a (``acts_b[:, perm]`` ≈ ``acts_a``).
    objective_optimal : float
        ``⟨P, C⟩_F = Σ_i C[i, perm[i]]`` for the optimal permutation.
    objective_identity : float
        ``Σ_i C[i, i]`` (no reassignment).
    objective_random_mean, objective_random_std : float
        Mean and (population, ``ddof=0``) standard deviation of ``Σ_i C[i, π(i)]`` over ``n_random``
        uniformly random permutations ``π``.
    correlation : ndarray, shape (n, n)
        The Pearson correlation matrix ``C`` that was matched.
    """

    perm: np.ndarray
    objective_optimal: float
    objective_identity: float
    objective_random_mean: float
    objective_random_std: float
    correlation: np.ndarray


def _centered_unit_columns(A: np.ndarray) -> np.ndarray:
    """Columns centered and scaled to unit norm; constant columns become exactly zero."""
    m = np.max(np.abs(A), axis=0)
    A = A / np.where(m == 0.0, 1.0, m)  # per-column scaling: no overflow in the norms below
    Ac = A - A.mean(axis=0)
    norm = np.linalg.norm(Ac, axis=0)
    raw = np.linalg.norm(A, axis=0)
    const = norm <= CONSTANT_UNIT_RTOL * raw
    scale = np.where(const, 1.0, norm)
    out = Ac / scale
    out[:, const] = 0.0
    return out


def activation_correlation(acts_a, acts_b) -> np.ndarray:
    """Pearson correlations between the units of two activation matrices.

    ``C[i, j] = corr(a_{:,i}, b_{:,j}) = ⟨ā_i, b̄_j⟩ / (‖ā_i‖ ‖b̄_j‖)`` with ``ā, b̄`` the column-centered
    activations (docs/theory.md §10 "Alignment"; [NI] Q2).

    A constant unit (centered norm ≤ ``CONSTANT_UNIT_RTOL``·raw norm) has no defined correlation; it
    gets correlation **0** with every unit, so matching treats it as uninformative.

    Parameters
    ----------
    acts_a : array_like, shape (N, n_a)
        Activations of model a: rows are inputs, columns are units. ``N ≥ 2``.
    acts_b : array_like, shape (N, n_b)
        Activations of model b on the same inputs.

    Returns
    -------
    C : ndarray, shape (n_a, n_b)
        Entries in ``[−1, 1]``.
    """
    A = check_array(acts_a, "acts_a", ndim=2, min_rows=2)
    B = check_array(acts_b, "acts_b", ndim=2, min_rows=2)
    if A.shape[0] != B.shape[0]:
        raise ValueError(
            f"acts_a and acts_b must have the same number of rows (inputs), got {A.shape} and {B.shape}"
        )
    C = _centered_unit_columns(A).T @ _centered_unit_columns(B)
    return np.clip(C, -1.0, 1.0)


def activation_matching(acts_a, acts_b, *, n_random: int = 100, seed: int = 0) -> MatchingResult:
    """Match the units of model b to those of model a by maximal total activation correlation.

    ``perm = argmax_π Σ_i C[i, π(i)] = argmax_P ⟨P, C⟩_F`` with ``C`` from
    :func:`activation_correlation`, solved exactly by ``scipy.optimize.linear_sum_assignment``
    (maximize). The objective of the optimum is compared with the identity and with ``n_random``
    random permutations (docs/theory.md §10 "Alignment"; [NI] Q2).

    Parameters
    ----------
    acts_a, acts_b : array_like, shape (N, n)
        Activations of the two models on the same ``N ≥ 2`` inputs (same width ``n``).
    n_random : int, default 100
        Number of uniformly random permutations for the baseline (``≥ 1``).
    seed : int, default 0
        Seed of the random permutations.

    Returns
    -------
    MatchingResult
        ``perm[i]`` is the unit of b matched to unit ``i`` of a.

    References
    ----------
    [NI] §6 Q2 (activation matching against the identity and random permutations); Ainsworth et al. 2023,
    Singh & Jaggi 2020; docs/theory.md#alignment, docs/references.md#ref-ainsworth2023.

    Examples
    --------
    Model b is model a with its units shuffled; matching recovers the shuffle, with the optimum equal to the
    number of units (every matched correlation is 1):

    >>> import numpy as np
    >>> import lmctheory as lt
    >>> acts_a = np.random.default_rng(0).standard_normal((200, 4))
    >>> acts_b = acts_a[:, [2, 0, 3, 1]]
    >>> res = lt.activation_matching(acts_a, acts_b)
    >>> res.perm
    array([1, 3, 0, 2])
    >>> bool(np.allclose(acts_b[:, res.perm], acts_a)), round(res.objective_optimal, 6)
    (True, 4.0)
    """
    C = activation_correlation(acts_a, acts_b)
    n_a, n_b = C.shape
    if n_a != n_b:
        raise ValueError(f"acts_a and acts_b must have the same number of units (columns), got {n_a} and {n_b}")
    n_random = check_int(n_random, "n_random", low=1)
    rng = np.random.default_rng(check_seed(seed))
    rows, cols = linear_sum_assignment(C, maximize=True)
    perm = np.empty(n_a, dtype=np.int64)
    perm[rows] = cols
    idx = np.arange(n_a)
    rand = np.array([C[idx, rng.permutation(n_a)].sum() for _ in range(n_random)])
    return MatchingResult(
        perm=perm,
        objective_optimal=float(C[idx, perm].sum()),
        objective_identity=float(np.trace(C)),
        objective_random_mean=float(rand.mean()),
        objective_random_std=float(rand.std()),
        correlation=C,
    )


def _check_biases(biases, weights, name):
    if biases is None:
        return None
    if isinstance(biases, np.ndarray) or not isinstance(biases, (list, tuple)):
        raise TypeError(f"{name} must be None or a list of 1-D bias vectors, got {type(biases).__name__}")
    if len(biases) != len(weights):
        raise ValueError(f"{name} must hold one bias vector per layer ({len(weights)}), got {len(biases)}")
    return [
        check_array(b, f"{name}[{ell}]", shape=(W.shape[0],)) for ell, (b, W) in enumerate(zip(biases, weights))
    ]


def _check_perms(perms, weights, name="perms"):
    if isinstance(perms, np.ndarray) and perms.ndim == 1 and len(weights) == 2:
        perms = [perms]
    if not isinstance(perms, (list, tuple)):
        raise TypeError(f"{name} must be a list of {len(weights) - 1} hidden-unit permutations")
    if len(perms) != len(weights) - 1:
        raise ValueError(
            f"{name} must hold one permutation per hidden layer ({len(weights) - 1}), got {len(perms)}"
        )
    return [check_permutation(p, weights[ell].shape[0], f"{name}[{ell}]") for ell, p in enumerate(perms)]


def permute_mlp(weights, biases, perms):
    """Apply hidden-unit permutations to an MLP (function-preserving, T-S1).

    ``W_ℓ ← P_ℓ W_ℓ P_{ℓ−1}ᵀ``, ``b_ℓ ← P_ℓ b_ℓ`` with ``P_0 = P_L = I`` (inputs and outputs keep their
    order), where ``(P_ℓ x)_i = x[perm_ℓ[i]]``: in index form ``W_ℓ[perm_ℓ][:, perm_{ℓ−1}]``.
    For any elementwise activation the permuted network computes the same function
    (docs/theory.md §10, T-S1; Ainsworth et al. 2023).

    Parameters
    ----------
    weights : list of L arrays, shapes (n_ℓ, n_{ℓ−1})
    biases : list of L arrays, shapes (n_ℓ,), or None
    perms : list of L−1 int arrays, shapes (n_ℓ,)
        One permutation per hidden layer, convention of this module (``perm[i]`` = old unit that
        becomes unit ``i``).

    Returns
    -------
    (weights, biases) : (list of ndarray, list of ndarray or None)
        New arrays; the inputs are not modified.
    """
    W = check_weight_list(weights, "weights")
    b = _check_biases(biases, W, "biases")
    P = _check_perms(perms, W)
    full = [None] + P + [None]  # identity at the input and the output
    newW, newb = [], []
    for ell, Wl in enumerate(W):
        rows, cols = full[ell + 1], full[ell]
        Wn = Wl if rows is None else Wl[rows]
        Wn = Wn if cols is None else Wn[:, cols]
        newW.append(np.ascontiguousarray(Wn))
        if b is not None:
            newb.append(b[ell].copy() if rows is None else b[ell][rows])
    return newW, (newb if b is not None else None)


@dataclass(frozen=True)
class DescentResult:
    """Result of :func:`permutation_coordinate_descent`.

    Attributes
    ----------
    perms : dict of str -> ndarray of int64
        The best permutation found for every coordinate (convention of this module).
    objective : float
        ``objective(perms)``; NaN when no ``objective`` callback was given (then ``n_restarts`` is 1).
    restart_objectives : tuple of float
        Objective reached by each restart (restart 0 starts at the identity or ``init``).
    sweeps : tuple of int
        Sweeps used by each restart (``≤ max_iter``; fewer when a sweep changed nothing).
    """

    perms: dict
    objective: float
    restart_objectives: tuple
    sweeps: tuple


def _lap_max(G: np.ndarray) -> np.ndarray:
    rows, cols = linear_sum_assignment(G, maximize=True)
    perm = np.empty(G.shape[0], dtype=np.int64)
    perm[rows] = cols
    return perm


def permutation_coordinate_descent(sizes, gain, *, objective=None, nonlinear=(), neighbors=None,
                                   n_restarts: int = 1, max_iter: int = 100, seed: int = 0,
                                   init=None) -> DescentResult:
    """Maximize an objective over a product of permutation groups by coordinate descent (Git Re-Basin).

    The engine behind every weight matching of the package (Ainsworth et al. 2023, Alg. 1): for one
    coordinate ``g`` with the others fixed the objective is ``Σ_i G_g[i, perm_g[i]] + const``, a linear
    assignment problem solved exactly by ``scipy.optimize.linear_sum_assignment``. Each sweep visits the
    coordinates in a random order (``seed``); a coordinate's permutation is replaced only if its gain improves
    by more than ``1e-12·(1 + |old|)`` (so ties cannot cycle); a descent stops after a sweep without change
    or ``max_iter`` sweeps. Restart 0 starts at the identity (or ``init``), restarts ``1…`` at uniformly
    random permutations; the best objective wins (docs/theory.md §10 "Alignment").

    Parameters
    ----------
    sizes : dict of str -> int
        Coordinate names and their sizes ``n_g ≥ 1``, in a fixed order.
    gain : callable ``(name, perms) -> array (n_g, n_g)``
        ``G_g`` given the current permutations (``perms``: dict name -> int64 array; do not modify it).
    objective : callable ``(perms) -> float``, optional
        The full objective. Required for the coordinates in ``nonlinear`` (a coordinate acting on two axes
        of one tensor is quadratic, not linear: its steps are accepted only if ``objective`` improves);
        required with ``n_restarts > 1`` (it decides which restart wins); else used to report the result.
    nonlinear : iterable of str
        Coordinates whose step must be checked with ``objective``.
    neighbors : dict of str -> iterable of str, optional
        The coordinates each gain depends on (``G_g`` is a function of ``perms[h]`` for ``h`` in
        ``neighbors[g]`` only). A coordinate none of whose neighbors changed since its last visit would give
        the same assignment again, so it is skipped (exact; it saves most of the late sweeps). Default:
        every gain depends on every coordinate.
    n_restarts : int, default 1
    max_iter : int, default 100
        Sweeps per restart.
    seed : int, default 0
    init : dict of str -> int array, optional
        Start of restart 0 (default: identity).

    Returns
    -------
    DescentResult

    References
    ----------
    Ainsworth et al. 2023, *Git Re-Basin*, §3.2 and Alg. 1; docs/theory.md#alignment.

    Examples
    --------
    Two coordinates coupled through a matrix ``W_b = P_1ᵀ W_a P_2``: the descent recovers both.

    >>> import numpy as np
    >>> from lmctheory.alignment import permutation_coordinate_descent
    >>> rng = np.random.default_rng(0)
    >>> Wa = rng.standard_normal((5, 4))
    >>> p1, p2 = rng.permutation(5), rng.permutation(4)
    >>> Wb = np.empty_like(Wa); Wb[np.ix_(p1, p2)] = Wa
    >>> def gain(name, perms):
    ...     if name == "rows":
    ...         return Wa @ Wb[:, perms["cols"]].T
    ...     return Wa.T @ Wb[perms["rows"]]
    >>> obj = lambda perms: float((Wa * Wb[perms["rows"]][:, perms["cols"]]).sum())
    >>> res = permutation_coordinate_descent({"rows": 5, "cols": 4}, gain, objective=obj, n_restarts=3)
    >>> bool(np.array_equal(res.perms["rows"], p1) and np.array_equal(res.perms["cols"], p2))
    True
    """
    if not isinstance(sizes, dict):
        raise TypeError(f"sizes must be a dict {{name: size}}, got {type(sizes).__name__}")
    sizes = {k: check_int(v, f"sizes[{k!r}]", low=1) for k, v in sizes.items()}
    if not callable(gain):
        raise TypeError("gain must be callable (name, perms) -> (n, n) array")
    nonlinear = set(nonlinear)
    if nonlinear - set(sizes):
        raise ValueError(f"nonlinear names unknown coordinates {sorted(nonlinear - set(sizes))[:3]}")
    if nonlinear and objective is None:
        raise ValueError("objective is required when some coordinates are nonlinear")
    n_restarts = check_int(n_restarts, "n_restarts", low=1)
    if n_restarts > 1 and objective is None:
        raise ValueError("objective is required with n_restarts > 1 (it decides which restart wins)")
    max_iter = check_int(max_iter, "max_iter", low=1)
    rng = np.random.default_rng(check_seed(seed))
    names = list(sizes)
    ident = {k: np.arange(n, dtype=np.int64) for k, n in sizes.items()}
    if init is not None:
        if not isinstance(init, dict):
            raise TypeError(f"init must be a dict {{name: perm}}, got {type(init).__name__}")
        start = dict(ident)
        for k, p in init.items():
            if k not in sizes:
                raise ValueError(f"init names an unknown coordinate {k!r}")
            start[k] = check_permutation(p, sizes[k], f"init[{k!r}]")
    else:
        start = ident
    if neighbors is not None:
        if not isinstance(neighbors, dict):
            raise TypeError(f"neighbors must be a dict {{name: names}}, got {type(neighbors).__name__}")
        deps = {k: {h for h in neighbors.get(k, ()) if h != k} for k in names}
        unknown = {h for v in deps.values() for h in v} - set(sizes)
        if unknown:
            raise ValueError(f"neighbors names unknown coordinates {sorted(unknown)[:3]}")
    else:
        deps = None
    best, best_obj, objs, sweeps = None, -np.inf, [], []
    for r in range(n_restarts):
        perms = dict(start) if r == 0 else {k: rng.permutation(n).astype(np.int64) for k, n in sizes.items()}
        full = objective(perms) if nonlinear else None
        used, clock = 0, 0
        changed_at = {k: 0 for k in names}
        seen_at = {k: -1 for k in names}
        for used in range(1, max_iter + 1):
            changed = False
            for k in rng.permutation(len(names)):
                name = names[k]
                clock += 1
                if deps is not None and name not in nonlinear and seen_at[name] >= 0 and \
                        all(changed_at[h] < seen_at[name] for h in deps[name]):
                    continue  # same gain as at the last visit: same assignment
                seen_at[name] = clock
                G = np.asarray(gain(name, perms), dtype=np.float64)
                n = sizes[name]
                if G.shape != (n, n):
                    raise ValueError(f"gain({name!r}) must have shape ({n}, {n}), got {G.shape}")
                if not np.all(np.isfinite(G)):
                    raise ValueError(f"gain({name!r}) is not finite")
                idx = np.arange(n)
                old = G[idx, perms[name]].sum()
                cand = _lap_max(G)
                new = G[idx, cand].sum()
                if new > old + 1e-12 * (1.0 + abs(old)):
                    if name in nonlinear:
                        trial = dict(perms)
                        trial[name] = cand
                        value = objective(trial)
                        if not value > full + 1e-12 * (1.0 + abs(full)):
                            continue
                        full = value
                    perms[name], changed = cand, True
                    changed_at[name] = clock
            if not changed:
                break
        obj = float(objective(perms)) if objective is not None else float("nan")
        objs.append(obj)
        sweeps.append(used)
        if best is None or obj > best_obj:
            best, best_obj = perms, obj
    return DescentResult(perms=best, objective=float(best_obj), restart_objectives=tuple(objs),
                         sweeps=tuple(sweeps))


def weight_matching(weights_a, weights_b, biases_a=None, biases_b=None, *, max_iter: int = 100, seed: int = 0):
    """Weight matching of two MLPs (Ainsworth et al. 2023, *Git Re-Basin*, Alg. 1).

    Finds hidden-unit permutations ``π = (perm_1, …, perm_{L−1})`` of model b that (locally) maximize
    ``Σ_ℓ ⟨W_ℓ^a, P_ℓ W_ℓ^b P_{ℓ−1}ᵀ⟩_F + Σ_ℓ ⟨b_ℓ^a, P_ℓ b_ℓ^b⟩`` (``P_0 = P_L = I``). Each ``perm_ℓ`` appears in
    layers ℓ and ℓ+1; with the others fixed it is a linear assignment on
    ``G[i, j] = ⟨W_ℓ^a[i,:], W_ℓ^b[j, perm_{ℓ−1}]⟩ + b_ℓ^a[i] b_ℓ^b[j] + ⟨W_{ℓ+1}^a[:, i], W_{ℓ+1}^b[perm_{ℓ+1}, j]⟩``,
    solved by :func:`permutation_coordinate_descent` (one descent from the identity, layers visited in a
    random order each sweep; docs/theory.md §10 "Alignment").

    Parameters
    ----------
    weights_a, weights_b : list of L arrays, shapes (n_ℓ, n_{ℓ−1})
        Same shapes for both models. ``L = 1`` has no hidden layer and gives ``[]``.
    biases_a, biases_b : list of L arrays (n_ℓ,), optional
        Used only if both are given.
    max_iter : int, default 100
    seed : int, default 0

    Returns
    -------
    perms : list of L−1 int64 arrays
        ``perms[ℓ−1][i]`` is the unit of b's hidden layer ℓ matched to unit ``i`` of a; apply with
        ``permute_mlp(weights_b, biases_b, perms)``.

    References
    ----------
    Ainsworth et al. 2023, *Git Re-Basin*, Alg. 1; docs/theory.md#alignment.

    Examples
    --------
    >>> import numpy as np
    >>> from lmctheory.alignment import permute_mlp, weight_matching
    >>> rng = np.random.default_rng(0)
    >>> Wa = [rng.standard_normal((4, 3)), rng.standard_normal((2, 4))]
    >>> Wb, _ = permute_mlp(Wa, None, [np.array([2, 0, 3, 1])])
    >>> weight_matching(Wa, Wb)[0]
    array([1, 3, 0, 2])
    """
    Wa, Wb = check_weight_list_pair(weights_a, weights_b)
    ba = _check_biases(biases_a, Wa, "biases_a")
    bb = _check_biases(biases_b, Wb, "biases_b")
    use_bias = ba is not None and bb is not None
    max_iter = check_int(max_iter, "max_iter", low=1)
    seed = check_seed(seed)
    L = len(Wa)
    if L == 1:
        return []
    names = [str(k) for k in range(L - 1)]

    def gain(name, perms):  # G for hidden layer k+1 (index k in perms), given the other perms
        k = int(name)
        prev = perms[str(k - 1)] if k > 0 else None
        nxt = perms[str(k + 1)] if k + 1 < L - 1 else None
        Wb_in = Wb[k] if prev is None else Wb[k][:, prev]
        G = Wa[k] @ Wb_in.T
        if use_bias:
            G = G + np.outer(ba[k], bb[k])
        Wb_out = Wb[k + 1] if nxt is None else Wb[k + 1][nxt]
        return G + Wa[k + 1].T @ Wb_out

    res = permutation_coordinate_descent({n: W.shape[0] for n, W in zip(names, Wa[:-1])}, gain,
                                         max_iter=max_iter, seed=seed)
    return [res.perms[n] for n in names]


def orthogonal_procrustes(A, B) -> np.ndarray:
    """Orthogonal Procrustes: ``O = argmin_{OᵀO = I} ‖A O − B‖_F = U Vᵀ`` where ``AᵀB = U S Vᵀ`` (SVD).

    docs/theory.md §10 "Alignment" (rotation alignment of representations, [GLMC]).

    Parameters
    ----------
    A, B : array_like, shape (N, p)
        Rows are paired samples (e.g. the activations of two models on the same inputs).

    Returns
    -------
    O : ndarray, shape (p, p)
        Orthogonal; ``A @ O`` is the best rotation/reflection of ``A`` onto ``B``.

    References
    ----------
    docs/theory.md#alignment ([GLMC] residual-stream alignment); Schönemann 1966,
    docs/references.md#ref-schonemann1966.

    Examples
    --------
    >>> import numpy as np
    >>> import lmctheory as lt
    >>> X = np.random.default_rng(0).standard_normal((50, 3))
    >>> Q = lt.random_orthogonal(3, seed=1)
    >>> bool(np.allclose(lt.orthogonal_procrustes(X, X @ Q), Q))
    True
    """
    A = check_array(A, "A", ndim=2)
    B = check_array(B, "B", ndim=2)
    if A.shape != B.shape:
        raise ValueError(f"B must have the same shape as A {A.shape}, got {B.shape}")
    U, _, Vt = np.linalg.svd(A.T @ B)
    return U @ Vt


def _unit_centered(X):
    """Column-centered ``X`` scaled to Frobenius norm 1, or None if ``X`` is constant over rows."""
    m = np.max(np.abs(X))
    if m == 0.0:
        return None
    X = X / m
    Xc = X - X.mean(axis=0)
    nx = np.linalg.norm(Xc)
    if nx <= CONSTANT_UNIT_RTOL * np.linalg.norm(X):
        return None
    return Xc / nx


def linear_cka(X, Y) -> float:
    """Linear centered kernel alignment ``CKA(X, Y) = ‖ȲᵀX̄‖_F² / (‖X̄ᵀX̄‖_F ‖ȲᵀȲ‖_F)``.

    ``X̄, Ȳ`` are the column-centered activations (docs/theory.md §10 "Linear CKA"; [MC]; Kornblith et al.
    2019). Invariant to orthogonal maps and isotropic scaling of either side; value in ``[0, 1]``.

    Parameters
    ----------
    X : array_like, shape (N, p)
    Y : array_like, shape (N, q)
        Activations on the same ``N ≥ 2`` inputs.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If either matrix is constant over the inputs (the ratio is 0/0).

    References
    ----------
    [MC]; Kornblith et al. 2019; docs/theory.md#linear-cka, docs/references.md#ref-kornblith2019.

    Examples
    --------
    Linear CKA ignores rotations and isotropic scaling:

    >>> import numpy as np
    >>> import lmctheory as lt
    >>> X = np.random.default_rng(0).standard_normal((50, 3))
    >>> round(lt.linear_cka(X, 2.0 * X @ lt.random_orthogonal(3, seed=1)), 12)
    1.0
    """
    X = check_array(X, "X", ndim=2, min_rows=2)
    Y = check_array(Y, "Y", ndim=2, min_rows=2)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y must have the same number of rows (inputs), got {X.shape} and {Y.shape}")
    # scale first: the fourth powers in the formula overflow/underflow for extreme magnitudes
    Xc, Yc = _unit_centered(X), _unit_centered(Y)
    if Xc is None or Yc is None:
        raise ValueError("X and Y must not be constant over the inputs (linear CKA is 0/0 there)")
    num = np.linalg.norm(Yc.T @ Xc) ** 2
    den = np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc)
    return float(min(1.0, num / den))
