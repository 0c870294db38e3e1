"""Check logic of the theorem validation (THEORY.md §1–11), shared by ``validation/`` and
``tests/test_checks_bite.py``.

Every ``check_*`` function takes the formula / bound / transformation under test as an argument
(the package's function in ``validation/``, a deliberately wrong variant in the bite tests), compares
it with an *independent* route computed here in plain NumPy/SciPy (least-squares solves, explicit
sums, Monte Carlo, quadrature, sympy), raises :class:`CheckFailed` (an ``AssertionError``) with a
message naming the THEORY.md ID, and returns what it measured (ratios left side / right side,
errors, violation counts) so the tests can feed the tightness report.

Conventions
-----------
* ``ratio`` always means (left side) / (right side) of an inequality ``lhs ≤ rhs``: ≤ 1 when the
  statement holds, close to 1 when it is tight.
* Deterministic statements are checked with an explicit floating-point tolerance given in each
  docstring. Probabilistic statements use :func:`binomial_check` (THEORY.md §11: reject when
  ``P(Binom(N, δ) ≥ V) < 1e-6``).
* Input permutations: ``P_ρ = I[perm]`` (``(P_ρ x)_i = x_{perm[i]}``), so ``P_ρ U = U[perm]`` and
  ``v_i^ρ = U[perm]ᵀ f_i``. Output permutations: neuron ``i`` takes the function of neuron ``perm[i]``.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.special
import scipy.stats

# --------------------------------------------------------------------------------------------
# bookkeeping
# --------------------------------------------------------------------------------------------

THEOREM_IDS = (
    "T-4.2", "T-10", "T-4.3", "T-4.4", "T-16", "T-4.5", "T-C.5", "T-4.6", "T-4.7", "T-4.8a",
    "T-4.8b", "T-C.7", "T-C.8", "T-chord-exact", "T-5.1", "T-D.1", "T-5.2", "T-E.1", "T-E.2",
    "T-E.4", "T-E.5", "T-E.6", "T-WA", "T-5.3", "T-S1", "T-S2", "T-S3", "T-S4",
)

#: significance level of the one-sided binomial test (THEORY.md §11)
BINOMIAL_LEVEL = 1e-6
#: multiplier of the number of instances in the statistical checks (``thorough`` profile: 5)
STAT_SCALE = 1


def examples(n: int) -> int:
    """``max_examples`` for the expensive hypothesis tests (torch training, optimizers): ``n`` in the ``ci``
    profile, ``10·n`` in ``thorough``."""
    return n if STAT_SCALE == 1 else 10 * n


def theorem_sort_key(tid: str):
    try:
        return (THEOREM_IDS.index(tid), tid)
    except ValueError:
        return (len(THEOREM_IDS), tid)


class CheckFailed(AssertionError):
    """A theorem check found a counterexample (or a formula that differs from THEORY.md)."""


def fail(tid: str, msg: str):
    raise CheckFailed(f"[{tid}] {msg}")


@dataclass
class _Row:
    kind: str
    instances: int = 0
    worst_ratio: float | None = None
    worst_error: float | None = None
    violations: int = 0
    trials: int = 0
    delta: float | None = None


class TheoremRecorder:
    """Collects, per THEORY.md ID and sub-statement ``key``, the number of instances, the worst
    ratio lhs/rhs (inequalities), the worst relative error (identities) and violation counts
    (probabilistic statements)."""

    def __init__(self):
        self.rows: dict[tuple[str, str], _Row] = {}

    def _row(self, tid, key, kind):
        row = self.rows.get((tid, key))
        if row is None:
            row = self.rows[(tid, key)] = _Row(kind=kind)
        return row

    def ratio(self, tid: str, value, key: str = "bound", instances: int = 1):
        """An inequality ``lhs ≤ rhs`` checked; ``value = lhs/rhs`` (array: its max is kept)."""
        v = float(np.max(value)) if np.size(value) else None
        row = self._row(tid, key, "bound")
        row.instances += instances
        if v is not None and np.isfinite(v):
            row.worst_ratio = v if row.worst_ratio is None else max(row.worst_ratio, v)

    def error(self, tid: str, value, key: str = "identity", instances: int = 1):
        """An identity checked; ``value`` = relative error (array: its max is kept)."""
        v = float(np.max(value)) if np.size(value) else 0.0
        row = self._row(tid, key, "identity")
        row.instances += instances
        if np.isfinite(v):
            row.worst_error = v if row.worst_error is None else max(row.worst_error, v)

    def rate(self, tid: str, violations: int, trials: int, delta: float, key: str = "probability",
             worst_ratio=None):
        """A probabilistic statement: ``violations`` out of ``trials`` at nominal failure rate ``delta``."""
        row = self._row(tid, key, "prob")
        row.instances += trials
        row.violations += int(violations)
        row.trials += int(trials)
        row.delta = float(delta) if row.delta is None else max(row.delta, float(delta))
        if worst_ratio is not None and np.isfinite(worst_ratio):
            row.worst_ratio = float(worst_ratio) if row.worst_ratio is None else max(row.worst_ratio, float(worst_ratio))

    def table(self) -> dict:
        out: dict = {}
        for (tid, key), r in self.rows.items():
            d = {
                "kind": r.kind,
                "instances": r.instances,
                "worst_ratio": r.worst_ratio,
                "worst_error": r.worst_error,
            }
            if r.kind == "prob":
                d.update(violations=r.violations, trials=r.trials, delta=r.delta,
                         rate=(r.violations / r.trials) if r.trials else None)
            out.setdefault(tid, {})[key] = d
        return out


RECORDER = TheoremRecorder()


@contextlib.contextmanager
def torch_single_thread():
    """Run tiny torch workloads on one thread (2-core CI: thread start-up and contention dominate)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def core(modname: str):
    """Import ``lmctheory.<modname>`` (inside the tests, so a broken module fails its tests, not collection)."""
    return importlib.import_module(f"lmctheory.{modname}")


# --------------------------------------------------------------------------------------------
# generic helpers
# --------------------------------------------------------------------------------------------

def rel_err(got, want, floor=1.0):
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), floor))) if want.size else 0.0


def check_formula(tid: str, fn, ref, cases, *, rtol=1e-10, atol=0.0, name="formula"):
    """``fn(*args) == ref(*args)`` for every ``args`` in ``cases`` to ``rtol·|ref| + atol``.

    Used where the package evaluates a closed form of THEORY.md: ``ref`` is the formula transcribed
    independently here. Returns the worst relative error.
    """
    worst = 0.0
    for args in cases:
        got = np.asarray(fn(*args), dtype=float)
        want = np.asarray(ref(*args), dtype=float)
        if got.shape != want.shape:
            fail(tid, f"{name}{args!r}: shape {got.shape}, THEORY.md form has shape {want.shape}")
        both_inf = np.isinf(got) & np.isinf(want) & (np.sign(got) == np.sign(want))
        g = np.where(both_inf, 0.0, got)
        w = np.where(both_inf, 0.0, want)
        bad = ~(np.abs(g - w) <= rtol * np.abs(w) + atol)
        if bad.any():
            fail(tid, f"{name}{_short(args)} = {got.ravel()[:4]}, THEORY.md form gives {want.ravel()[:4]}")
        worst = max(worst, float(np.max(np.abs(g - w) / np.maximum(np.abs(w), 1e-300))) if w.size else 0.0)
    return worst


def _short(args):
    def s(a):
        if isinstance(a, np.ndarray):
            return f"array{a.shape}"
        if isinstance(a, float):
            return f"{a:.4g}"
        return repr(a)
    return "(" + ", ".join(s(a) for a in args) + ")"


def binomial_check(tid: str, violations: int, trials: int, delta: float, level: float = BINOMIAL_LEVEL):
    """One-sided binomial test of THEORY.md §11: fail if ``P(Binom(N, δ) ≥ V) < level``.

    Returns the p-value.
    """
    p = float(scipy.stats.binom.sf(violations - 1, trials, delta)) if violations > 0 else 1.0
    if p < level:
        fail(tid, f"{violations}/{trials} violations at nominal failure probability δ={delta:.3g} "
                  f"(rate {violations / trials:.3g}); P(Binom(N,δ) ≥ V) = {p:.3g} < {level:g}")
    return p


def check_probabilistic(tid: str, draw, trials: int, delta: float, *, level=BINOMIAL_LEVEL):
    """Draw ``trials`` independent instances ``(lhs, rhs) = draw(t)`` of a statement
    "``lhs ≤ rhs`` with probability ≥ 1 − δ" and apply :func:`binomial_check` to the violations.

    Returns ``(violations, trials, worst ratio lhs/rhs)``.
    """
    viol = 0
    worst = -np.inf
    for t in range(trials):
        lhs, rhs = draw(t)
        if not lhs <= rhs:
            viol += 1
        if rhs > 0:
            worst = max(worst, lhs / rhs)
    binomial_check(tid, viol, trials, delta, level)
    return viol, trials, worst


# --------------------------------------------------------------------------------------------
# §1–2: Gram matrices, realizable sets, realization costs (T-4.2, T-10, T-4.3)
# --------------------------------------------------------------------------------------------

def ref_grams(diag, basis):
    """``S_i = Σ_j d_ij² u_j u_jᵀ`` by an explicit sum (eq. 9)."""
    D = np.asarray(diag, float)
    U = np.asarray(basis, float)
    return np.einsum("nj,ja,jb->nab", D * D, U, U)


def proj_matrix(diag_row, basis):
    """``M_i = Uᵀ diag(d_i)`` (k×d)."""
    return np.asarray(basis, float).T * np.asarray(diag_row, float)[None, :]


def ref_min_norm(M, c):
    """Minimum-norm solution of ``M w = c`` by SVD least squares; returns ``(w, residual)``. Singular values
    ``≤ 10·max(M.shape)·ε·σ_max`` count as zero (LAPACK's default ``ε·σ_max`` keeps rounding-level ones such as
    2.7e-16·σ_max, and dividing by them adds O(1) spurious weight; found by the thorough profile)."""
    w, *_ = scipy.linalg.lstsq(M, c, cond=10 * max(M.shape) * np.finfo(float).eps, lapack_driver="gelsd")
    return w, float(np.linalg.norm(M @ w - c))


def ref_cost_matrix(effective, fixed, diag, basis, rtol=1e-8):
    """``C[i,j] = R_i(a_j)`` via the minimum-norm solve of ``M_i w = a_j − v_i`` (lstsq, T-10):
    ``‖w‖²`` when the residual is ``≤ rtol·max(1, ‖a_j − v_i‖)``, else ``+inf``."""
    E, F, D, U = (np.asarray(x, float) for x in (effective, fixed, diag, basis))
    A = E @ U
    V = F @ U
    n = E.shape[0]
    C = np.empty((n, n))
    for i in range(n):
        M = proj_matrix(D[i], U)
        # one SVD per neuron, applied to all targets
        Uu, s, Vt = np.linalg.svd(M, full_matrices=False)
        keep = s > max(M.shape) * np.finfo(float).eps * (s[0] if s.size else 0.0) * 10
        Ck = (A - V[i]).T  # k × n
        y = Uu[:, keep].T @ Ck
        W = Vt[keep].T @ (y / s[keep, None])
        resid = np.linalg.norm(M @ W - Ck, axis=0)
        cn = np.linalg.norm(Ck, axis=0)
        C[i] = np.where(resid <= rtol * np.maximum(1.0, cn), np.sum(W * W, axis=0), np.inf)
    return C


def null_component(diag_row, basis, c):
    """Relative size of the component of ``c`` outside ``range(S_i)`` (for ambiguity filters)."""
    M = proj_matrix(diag_row, basis)
    Uu, s, _ = np.linalg.svd(M, full_matrices=True)
    r = int(np.sum(s > 10 * max(M.shape) * np.finfo(float).eps * (s[0] if s.size else 0.0)))
    return float(np.linalg.norm(Uu[:, r:].T @ c)) / max(1.0, float(np.linalg.norm(c)))


def spectrum_well_separated(diag, basis, gap=1e-6, zero=1e-11):
    """True if every Gram eigenvalue is either ``≤ zero·λ_max`` or ``≥ gap·λ_max`` (numerical rank
    unambiguous)."""
    lam = np.linalg.eigvalsh(ref_grams(diag, basis))
    lmax = np.maximum(lam[:, -1:], 1e-300)
    rel = lam / lmax
    return bool(np.all((rel <= zero) | (rel >= gap)))


def check_grams(tid, gram_fn, diag, basis, *, rtol=1e-10):
    """``gram_fn(diag, basis)`` equals ``Σ_j d_ij² u_j u_jᵀ`` to ``rtol·max(1, max|S|)`` (eq. 9)."""
    S = np.asarray(gram_fn(diag, basis), float)
    R = ref_grams(diag, basis)
    if S.shape != R.shape:
        fail(tid, f"gram matrices have shape {S.shape}, expected {R.shape}")
    err = float(np.max(np.abs(S - R))) / max(1.0, float(np.max(np.abs(R))))
    if err > rtol:
        fail(tid, f"gram matrices differ from Σ_j d_ij² u_j u_jᵀ by {err:.3g} (rtol {rtol:g})")
    return err


def check_realizable_set(cost_fn, inst, rng, *, rtol=1e-7):
    """T-4.2: the coefficients neuron ``i`` realizes form ``v_i + range(S_i)`` of dimension
    ``rank(S_i) = rank(M_i)``.

    For every neuron: (a) ``a = v_i + M_i w`` (random ``w``) is realizable, at cost ``≤ ‖w‖²``
    (``(1+1e-9)`` slack) and ``= ‖P_{row(M_i)} w‖²`` to ``rtol``; (b) when ``rank(S_i) < k``, ``v_i``
    plus a unit null direction of ``S_i`` is *not* realizable (``cost_fn`` returns ``+inf``); (c) when
    every ``S_i`` has full rank, random ``a`` are all realizable. ``cost_fn`` has the signature of
    ``realization_costs``. Returns ``(max dim error, number of rank-deficient neurons)``.
    """
    tid = "T-4.2"
    E, F, D, U = inst.effective, inst.fixed, inst.diag, inst.basis
    n, d = E.shape
    k = U.shape[1]
    V = F @ U
    S = ref_grams(D, U)
    W = rng.standard_normal((n, d))
    T = V + (W * D) @ U  # a_i = v_i + M_i w_i
    C = np.asarray(cost_fn(T @ U.T + F - F @ U @ U.T, F, D, U), float)
    # (the effective rows T@Uᵀ + (I−UUᵀ)f_i have projection T and the right projected center)
    deficient = 0
    for i in range(n):
        M = proj_matrix(D[i], U)
        s = np.linalg.svd(M, compute_uv=False)
        tol = 10 * max(M.shape) * np.finfo(float).eps * max(s[0] if s.size else 0.0, 1e-300)
        rank_M = int(np.sum(s > tol))
        lam = np.linalg.eigvalsh(S[i])
        rank_S = int(np.sum(lam > 10 * k * np.finfo(float).eps * max(lam[-1], 1e-300)))
        if rank_M != rank_S:
            fail(tid, f"neuron {i}: rank(M_i)={rank_M} but rank(S_i)={rank_S}")
        if not np.isfinite(C[i, i]):
            fail(tid, f"neuron {i}: a = v_i + M_i w is realizable but cost is {C[i, i]}")
        w_row, _ = ref_min_norm(M, M @ W[i])
        want = float(w_row @ w_row)
        if C[i, i] > float(W[i] @ W[i]) * (1 + 1e-9) + 1e-12 or abs(C[i, i] - want) > rtol * max(1.0, want):
            fail(tid, f"neuron {i}: cost of v_i + M_i w is {C[i, i]:.6g}, expected ‖P w‖² = {want:.6g} ≤ ‖w‖² = {W[i] @ W[i]:.6g}")
        if rank_S < k:
            deficient += 1
    if deficient:
        # (b) a null direction of S_i added to v_i must be unrealizable
        T2 = V.copy()
        has_null = np.zeros(n, bool)
        for i in range(n):
            lam, Q = np.linalg.eigh(S[i])
            null = lam <= 10 * k * np.finfo(float).eps * max(lam[-1], 1e-300)
            if null.any():
                T2[i] = V[i] + Q[:, np.argmax(null)]
                has_null[i] = True
        C2 = np.asarray(cost_fn(T2 @ U.T + F - F @ U @ U.T, F, D, U), float)
        for i in np.flatnonzero(has_null):
            if np.isfinite(C2[i, i]):
                fail(tid, f"neuron {i}: v_i + (null direction of S_i) is outside v_i + range(S_i) but cost is {C2[i, i]:.6g}, not +inf")
    else:
        # (c) every S_i full rank: every coefficient is realizable (eq. 7)
        T3 = rng.standard_normal((n, k)) * 3.0
        C3 = np.asarray(cost_fn(T3 @ U.T + F - F @ U @ U.T, F, D, U), float)
        if not np.all(np.isfinite(C3)):
            fail(tid, "all S_i have full rank, yet some coefficient is reported unrealizable")
    return deficient


def check_identifiability(a, rng, *, activation="relu", n_samples=200, rtol=1e-8):
    """T-4.2 (uniqueness part): on a support with interior (``z ~ N(0, I_k)``), the function
    ``z ↦ σ(aᵀz)`` determines ``a``. Recovered here by least squares on the samples where ReLU is
    active (tanh: on ``artanh`` of all samples); must equal ``a`` to ``rtol``. Returns the error."""
    k = a.shape[0]
    Z = rng.standard_normal((n_samples, k))
    pre = Z @ a
    if activation == "relu":
        g = np.maximum(pre, 0.0)
        act = g > 0
        if act.sum() < k:
            return 0.0
        a_hat = scipy.linalg.lstsq(Z[act], g[act])[0]
    elif activation == "tanh":
        g = np.tanh(pre)
        a_hat = scipy.linalg.lstsq(Z, np.arctanh(g))[0]
    else:
        raise ValueError(activation)
    err = float(np.linalg.norm(a_hat - a)) / max(1.0, float(np.linalg.norm(a)))
    if err > rtol:
        fail("T-4.2", f"coefficient recovered from the function differs by {err:.3g}")
    return err


def check_realization_costs(cost_fn, inst, *, rtol=1e-8, value_rtol=1e-7):
    """T-10: ``cost_fn(effective, fixed, diag, basis)`` equals the independent minimum-norm solve
    (``scipy.linalg.lstsq`` of ``M_i w = a_j − v_i``): same ``+inf`` pattern (range membership at
    relative residual ``rtol``) and finite values equal to ``value_rtol·max(1, C) + 1e4·ε·‖S_i†‖·(‖a_j‖+‖v_i‖)²``
    (the GEMM cancellation allowance of THEORY.md §12). Returns the worst relative error."""
    tid = "T-10"
    E, F, D, U = inst.effective, inst.fixed, inst.diag, inst.basis
    C = np.asarray(cost_fn(E, F, D, U), float)
    R = ref_cost_matrix(E, F, D, U, rtol=rtol)
    if C.shape != R.shape:
        fail(tid, f"cost matrix has shape {C.shape}, expected {R.shape}")
    finite = np.isfinite(R)
    if not np.array_equal(np.isfinite(C), finite):
        i, j = np.argwhere(np.isfinite(C) != finite)[0]
        fail(tid, f"C[{i},{j}] = {C[i, j]:.6g} but the minimum-norm solve gives {R[i, j]:.6g} (range membership differs)")
    A = E @ U
    V = F @ U
    S = ref_grams(D, U)
    pinv_norm = np.array([1.0 / max(np.min(l[l > 1e-12 * max(l[-1], 1e-300)]), 1e-300) if l[-1] > 0 else 0.0
                          for l in np.linalg.eigvalsh(S)])
    scale = (np.linalg.norm(A, axis=1)[None, :] + np.linalg.norm(V, axis=1)[:, None]) ** 2
    atol = 1e4 * np.finfo(float).eps * pinv_norm[:, None] * scale
    diff = np.where(finite, np.abs(C - np.where(finite, R, 0.0)), 0.0)
    allow = value_rtol * np.maximum(1.0, np.where(finite, R, 0.0)) + atol
    if np.any(diff > allow):
        i, j = np.unravel_index(np.argmax(diff - allow), diff.shape)
        fail(tid, f"C[{i},{j}] = {C[i, j]:.10g}, minimum-norm solve gives ‖w‖² = {R[i, j]:.10g}")
    err = np.where(finite, diff / np.maximum(1.0, np.where(finite, R, 1.0)), 0.0)
    return float(err.max()) if err.size else 0.0


def check_min_norm_weights(weights_fn, inst, i, target, *, rtol=1e-7):
    """T-10 (attainment): ``w* = weights_fn(target, f_i, d_i, U)`` solves ``M_i w = a − v_i`` (residual
    ``≤ rtol·max(1,‖a − v_i‖)``), has the least norm (equals the lstsq solution to ``rtol``) and
    ``‖w*‖² = R_i(a)``. Returns ``‖w*‖²``."""
    tid = "T-10"
    F, D, U = inst.fixed, inst.diag, inst.basis
    M = proj_matrix(D[i], U)
    c = target - U.T @ F[i]
    w = np.asarray(weights_fn(target, F[i], D[i], U), float)
    res = float(np.linalg.norm(M @ w - c))
    if res > rtol * max(1.0, float(np.linalg.norm(c))):
        fail(tid, f"w* does not realize the target: ‖M_i w* − (a − v_i)‖ = {res:.3g}")
    w_ref, _ = ref_min_norm(M, c)
    if np.linalg.norm(w - w_ref) > rtol * max(1.0, float(np.linalg.norm(w_ref))):
        fail(tid, f"w* is not the minimum-norm solution: ‖w*‖² = {w @ w:.8g}, minimum {w_ref @ w_ref:.8g}")
    return float(w @ w)


def example_43(s: float):
    """The worked instance of T-4.3: ``d = 4``, ``k = 2``; ``U`` has columns ``(e1+e4)/√2`` and
    ``c·e2 + s·e3`` (``c = √(1−s²)``); neuron 1 masks coordinate 2, neuron 2 masks coordinate 3;
    ``F = 0`` (sparse). Then ``S_1 = diag(1, s²)``, ``S_2 = diag(1, c²)``, ``ν(U) = max(1/2, c², s²)``.
    Returns ``(effective, fixed, diag, basis, a)`` with targets ``a_1 = (1, 1)``, ``a_2 = (0.5, 2)``
    realized by the minimum-norm weights (requires ``s > 0``)."""
    c = math.sqrt(1.0 - s * s)
    r2 = 1 / math.sqrt(2)
    U = np.array([[r2, 0.0], [0.0, c], [0.0, s], [r2, 0.0]])
    D = np.array([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0]])
    F = np.zeros((2, 4))
    a = np.array([[1.0, 1.0], [0.5, 2.0]])
    E = np.zeros((2, 4))
    for i in range(2):
        M = proj_matrix(D[i], U)
        E[i] = D[i] * ref_min_norm(M, a[i])[0]
    return E, F, D, U, a


def check_example_43(cost_fn, coherence_fn, s_values=(0.5, 0.2, 0.1, 0.03, 0.01, 1e-3), *, rtol=1e-9):
    """T-4.3: on :func:`example_43`, ``R_1(a_2) = a_21² + a_22²/s²`` (anisotropic ``S_1 = diag(1, s²)``)
    to ``rtol``; it increases without bound as ``s → 0`` (``≥ 3.9/s²``), while ``ν(U) = max(½, c², s²) → 1``
    (``coherence_fn`` to ``1e-12``); with ``s = 0`` exactly, ``R_1(a_2) = +inf``. Returns the list of costs."""
    tid = "T-4.3"
    costs = []
    for s in s_values:
        E, F, D, U, a = example_43(s)
        C = np.asarray(cost_fn(E, F, D, U), float)
        want = a[1, 0] ** 2 + a[1, 1] ** 2 / s**2
        if not abs(C[0, 1] - want) <= rtol * want:
            fail(tid, f"s={s}: R_1(a_2) = {C[0, 1]:.10g}, closed form a_21² + a_22²/s² = {want:.10g}")
        c2 = 1 - s * s
        nu = float(coherence_fn(U))
        if abs(nu - max(0.5, c2, s * s)) > 1e-12:
            fail(tid, f"s={s}: ν(U) = {nu}, expected max(1/2, c², s²) = {max(0.5, c2, s * s)}")
        costs.append(float(C[0, 1]))
    if not all(b > a for a, b in zip(costs, costs[1:])):
        fail(tid, f"R_1(a_2) is not increasing as s → 0: {costs}")
    # exact degeneracy: coordinate 3 carries no mass, S_1 = diag(1, 0)
    U0 = np.array([[1 / math.sqrt(2), 0.0], [0.0, 1.0], [0.0, 0.0], [1 / math.sqrt(2), 0.0]])
    D = np.array([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0]])
    a2 = np.array([0.5, 2.0])
    E0 = np.vstack([np.zeros(4), U0 @ a2])
    C0 = np.asarray(cost_fn(E0, np.zeros((2, 4)), D, U0), float)
    if np.isfinite(C0[0, 1]):
        fail(tid, f"s=0: neuron 1 cannot see the second direction, yet R_1(a_2) = {C0[0, 1]}")
    return costs


# --------------------------------------------------------------------------------------------
# §3: coherence and Gram concentration (T-4.4)
# --------------------------------------------------------------------------------------------

def ref_coherence(basis):
    """``ν(U) = max_j ‖u_j‖²`` (eq. 11)."""
    U = np.asarray(basis, float)
    return float(np.max(np.sum(U * U, axis=1)))


def ref_gram_concentration_bound(coherence, k, delta, var, dev):
    """T-4.4: ``√(2σ_d²ν log(2k/δ)) + (2/3) b ν log(2k/δ)``."""
    L = math.log(2 * k / delta)
    return math.sqrt(2 * var * coherence * L) + (2.0 / 3.0) * dev * coherence * L


def ref_fixed_count_gram_bound(coherence, k, delta, m, d):
    """T-4.4, fixed-count masks: ``√(2(m/d)ν log(2k/δ)) + (2/3) ν log(2k/δ)``."""
    L = math.log(2 * k / delta)
    return math.sqrt(2 * (m / d) * coherence * L) + (2.0 / 3.0) * coherence * L


def ref_mask_moments(p):
    """Binary mask with keep probability ``p``: ``(μ, σ_d², b) = (p, p(1−p), max(p, 1−p))``."""
    return (p, p * (1 - p), max(p, 1 - p))


def check_gram_concentration(bound_of, basis, sample_diag_row, mu, delta, trials, rng):
    """T-4.4 statistically: ``trials`` independent rows ``d_i`` from ``sample_diag_row(rng)``;
    violation when ``‖S_i − μI‖₂ > bound_of(ν, k, δ)``; binomial test at 1e-6 (§11).
    Returns ``(violations, trials, worst ratio)``."""
    U = np.asarray(basis, float)
    k = U.shape[1]
    nu = ref_coherence(U)
    rhs = float(bound_of(nu, k, delta))

    def draw(_):
        drow = sample_diag_row(rng)
        S = (U.T * (drow * drow)) @ U
        lam = np.linalg.eigvalsh(S)
        return max(abs(lam[-1] - mu), abs(lam[0] - mu)), rhs

    return check_probabilistic("T-4.4", draw, trials, delta)


# --------------------------------------------------------------------------------------------
# §4: swap costs and output permutations (T-16, T-4.5, T-C.5, T-4.6)
# --------------------------------------------------------------------------------------------

def ref_costs_invertible(centers, coeffs, grams):
    """``C[i,j] = (a_j − v_i)ᵀ S_i⁻¹ (a_j − v_i)`` (all ``S_i`` invertible; linear solves)."""
    n = centers.shape[0]
    C = np.empty((n, n))
    for i in range(n):
        X = (coeffs - centers[i]).T
        Y = np.linalg.solve(grams[i], X)
        C[i] = np.sum(X * Y, axis=0)
    return C


def ref_swap(C):
    d = np.diag(C)
    out = C + C.T - d[:, None] - d[None, :]
    np.fill_diagonal(out, 0.0)
    return out


def ref_swap_decomposition(centers, coeffs, grams, i, j):
    """(center, cross, mismatch) terms of eq. 16."""
    v, a, S = centers, coeffs, grams
    r_i, r_j = a[i] - v[i], a[j] - v[j]
    Si_inv, Sj_inv = np.linalg.inv(S[i]), np.linalg.inv(S[j])
    dv = v[j] - v[i]
    center = dv @ Si_inv @ dv + dv @ Sj_inv @ dv
    cross = 2 * (dv @ Si_inv @ r_j + (-dv) @ Sj_inv @ r_i)
    mismatch = r_j @ Si_inv @ r_j - r_j @ Sj_inv @ r_j + r_i @ Sj_inv @ r_i - r_i @ Si_inv @ r_i
    return np.array([center, cross, mismatch])


def check_swap_identity(decomposition_fn, swap_matrix, centers, coeffs, grams, *, rtol=1e-8):
    """T-16: for every pair ``i < j``, the three terms from ``decomposition_fn(centers, coeffs, grams, i, j)``
    sum to ``Δ_ij`` of ``swap_matrix`` (computed from the realization costs) to
    ``rtol·(|center| + |cross| + |mismatch| + C_ii + C_jj + 1)``, and each term equals eq. 16 transcribed
    here to the same tolerance. Returns the worst relative error."""
    tid = "T-16"
    n = centers.shape[0]
    worst = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            terms = np.asarray(decomposition_fn(centers, coeffs, grams, i, j), float).ravel()
            ref = ref_swap_decomposition(centers, coeffs, grams, i, j)
            scale = float(np.sum(np.abs(ref))) + 1.0 + abs(swap_matrix[i, j])
            if terms.shape != (3,):
                fail(tid, f"decomposition must give (center, cross, mismatch), got shape {terms.shape}")
            e_sum = abs(float(terms.sum()) - float(swap_matrix[i, j])) / scale
            e_terms = float(np.max(np.abs(terms - ref))) / scale
            if e_sum > rtol:
                fail(tid, f"pair ({i},{j}): center+cross+mismatch = {terms.sum():.10g} ≠ Δ_ij = {swap_matrix[i, j]:.10g} from the costs")
            if e_terms > rtol:
                fail(tid, f"pair ({i},{j}): terms {terms} differ from eq. 16 {ref}")
            worst = max(worst, e_sum, e_terms)
    return worst


def output_sensitivity_parts(centers, coeffs, grams, perm, C=None):
    """``Δ_out(π)``, ``Δ^π``, ``R``, ``R_π`` and the moved mask (§4)."""
    perm = np.asarray(perm)
    if C is None:
        C = ref_costs_invertible(centers, coeffs, grams)
    n = centers.shape[0]
    idx = np.arange(n)
    dout = float(np.sum(C[idx, perm] - C[idx, idx]))
    Dpi = centers[perm] - centers
    R = coeffs - centers
    moved = perm != idx
    return dout, Dpi, R, R[perm], moved


def eps_of(grams, mu):
    """``ε = max_i ‖S_i − μI‖₂ / μ`` (eq. 18)."""
    lam = np.linalg.eigvalsh(grams)
    return float(np.max(np.maximum(np.abs(lam[:, -1] - mu), np.abs(lam[:, 0] - mu)))) / mu


def ref_sensitivity_bounds(delta_fro_sq, mu, eps, eta):
    """T-4.5 second part: ``(‖Δ‖²/μ)[1 ∓ 2η ∓ (ε/(1−ε))((1+η)² + η²)]``."""
    q = (eps / (1 - eps)) * ((1 + eta) ** 2 + eta**2)
    return (delta_fro_sq / mu * (1 - 2 * eta - q), delta_fro_sq / mu * (1 + 2 * eta + q))


def ref_min_reassignment_lower_bound(delta_min, mu, eps, eta):
    """T-C.5: ``(2δ_min²/μ)[1 − 2η − (ε/(1−ε))((1+η)² + η²)]``."""
    return 2 * delta_min**2 / mu * (1 - 2 * eta - (eps / (1 - eps)) * ((1 + eta) ** 2 + eta**2))


def check_output_sensitivity(approx_fn, bounds_fn, centers, coeffs, grams, perm, mu, *, C=None, tol=1e-9):
    """T-4.5 on one instance (``ε < 1`` required).

    ``approx_fn(centers, coeffs, perm, mu, eps) -> (approx, err_bound)`` must satisfy
    ``|Δ_out(π) − approx| ≤ err_bound`` and equal the THEORY.md form
    ``(1/μ)(‖Δ^π‖² + 2⟨Δ^π, ΠR_π⟩)``, ``κ_ε Σ_moved (‖Δ^π_i + r_π(i)‖² + ‖r_i‖²)`` to ``1e-9`` relative;
    ``bounds_fn(‖Δ^π‖², μ, ε, η) -> (lower, upper)`` with ``η = ‖ΠR‖/‖Δ^π‖`` must bracket ``Δ_out(π)``.
    ``Δ_out`` is computed from ``C`` (default: linear solves). Tolerance: ``tol·(1 + |terms|)``.
    Returns ``(ratio of the first inequality or None where its bound is at rounding level, upper ratio,
    lower ratio)``.
    """
    tid = "T-4.5"
    eps = eps_of(grams, mu)
    if not eps < 1:
        raise ValueError("T-4.5 needs eps < 1")
    dout, Dpi, R, Rpi, moved = output_sensitivity_parts(centers, coeffs, grams, perm, C)
    kappa = eps / ((1 - eps) * mu)
    fro2 = float(np.sum(Dpi**2))
    ref_approx = (fro2 + 2 * float(np.sum(Dpi * (Rpi * moved[:, None])))) / mu
    ref_err = kappa * float(np.sum(np.sum((Dpi + Rpi) ** 2, axis=1)[moved] + np.sum(R**2, axis=1)[moved]))
    out = approx_fn(centers, coeffs, perm, mu, eps)
    approx, err_bound = (float(x) for x in out)
    scale = 1.0 + abs(ref_approx) + abs(ref_err) + abs(dout)
    if abs(approx - ref_approx) > tol * scale or abs(err_bound - ref_err) > tol * scale:
        fail(tid, f"approximation ({approx:.10g}, ±{err_bound:.6g}) differs from THEORY.md form ({ref_approx:.10g}, ±{ref_err:.6g})")
    gap = abs(dout - approx)
    if gap > err_bound + tol * scale:
        fail(tid, f"|Δ_out − approx| = {gap:.6g} > κ_ε Σ(...) = {err_bound:.6g} (ε={eps:.3g}, μ={mu:.3g})")
    # ratio only where the error bound is well above the floating-point tolerance (else it is noise / noise)
    r1 = gap / err_bound if err_bound > 1e3 * tol * scale else None
    rup = rlo = 0.0
    if fro2 > 0:
        eta = math.sqrt(float(np.sum(R[moved] ** 2)) / fro2)
        lower, upper = (float(x) for x in bounds_fn(fro2, mu, eps, eta))
        rl, ru = ref_sensitivity_bounds(fro2, mu, eps, eta)
        if abs(lower - rl) > tol * (1 + abs(rl)) or abs(upper - ru) > tol * (1 + abs(ru)):
            fail(tid, f"bounds ({lower:.8g}, {upper:.8g}) differ from THEORY.md form ({rl:.8g}, {ru:.8g})")
        if not (lower <= dout + tol * scale and dout <= upper + tol * scale):
            fail(tid, f"Δ_out = {dout:.8g} outside [{lower:.8g}, {upper:.8g}] (η={eta:.3g}, ε={eps:.3g})")
        rup = dout / upper if upper > 0 else 0.0
        rlo = lower / dout if (dout > 0 and lower > 0) else 0.0
    return r1, rup, rlo


def check_min_reassignment(lower_fn, centers, coeffs, grams, mu, *, C=None, tol=1e-9):
    """T-C.5 on one instance (``n ≤ 7``; all ``n!`` permutations enumerated).

    (a) ``‖Δ^π‖_F² ≥ |moved(π)|·δ_min² ≥ 2δ_min²`` for every ``π ≠ id`` (``tol`` relative);
    (b) with ``η = max_π ‖ΠR‖/‖Δ^π‖``, ``ε < 1`` and a positive bracket ``1 − 2η − (ε/(1−ε))((1+η)² + η²) > 0``:
    ``min_{π≠id} Δ_out(π) ≥ lower_fn(δ_min, μ, ε, η)``, and ``lower_fn`` equals the THEORY.md form. (With a
    non-positive bracket the corollary does not follow from T-4.5 and is false in general.) Returns
    ``lower / min Δ_out`` (``None`` where (b) does not apply).
    """
    tid = "T-C.5"
    n = centers.shape[0]
    if C is None:
        C = ref_costs_invertible(centers, coeffs, grams)
    diffs = centers[:, None, :] - centers[None, :, :]
    gaps = np.sqrt(np.sum(diffs**2, axis=2))
    delta_min = float(np.min(gaps[~np.eye(n, dtype=bool)]))
    R = coeffs - centers
    idx = np.arange(n)
    best = np.inf
    eta = 0.0
    for perm in itertools.permutations(range(n)):
        perm = np.array(perm)
        moved = perm != idx
        if not moved.any():
            continue
        fro2 = float(np.sum((centers[perm] - centers) ** 2))
        if fro2 < moved.sum() * delta_min**2 * (1 - tol) or fro2 < 2 * delta_min**2 * (1 - tol):
            fail(tid, f"‖Δ^π‖² = {fro2:.8g} < |moved|·δ_min² = {moved.sum() * delta_min**2:.8g} for π={perm}")
        best = min(best, float(np.sum(C[idx, perm] - C[idx, idx])))
        if fro2 > 0:
            eta = max(eta, math.sqrt(float(np.sum(R[moved] ** 2)) / fro2))
    eps = eps_of(grams, mu)
    if not eps < 1:
        return None
    if not 1 - 2 * eta - (eps / (1 - eps)) * ((1 + eta) ** 2 + eta**2) > 0:
        # bracket ≤ 0: ‖Δ^π‖² ≥ 2δ_min² then points the wrong way and the corollary claims nothing
        # (it is false there: Δ_out can be below (2δ_min²/μ)·bracket); only (a) is checked
        return None
    lower = float(lower_fn(delta_min, mu, eps, eta))
    ref = ref_min_reassignment_lower_bound(delta_min, mu, eps, eta)
    if abs(lower - ref) > 1e-10 * (1 + abs(ref)):
        fail(tid, f"lower bound {lower:.10g} differs from THEORY.md form {ref:.10g}")
    if lower > best + tol * (1 + abs(best)):
        fail(tid, f"min over π≠id of Δ_out = {best:.8g} < claimed lower bound {lower:.8g}")
    return lower / best if (lower > 0 and best > 0) else 0.0


def ref_unit_ball_volume(k):
    return math.pi ** (k / 2) / math.gamma(k / 2 + 1)


def ref_center_gap_probability_bound(t, k, densities):
    """T-4.6: ``Σ_{i<j} min(ρ_i, ρ_j) ω_k t^k``."""
    rho = np.sort(np.asarray(densities, float))
    n = rho.size
    # for sorted ρ, min(ρ_i, ρ_j) over pairs = Σ_i ρ_(i) (n − 1 − i)
    s = float(np.sum(rho * (n - 1 - np.arange(n))))
    return s * ref_unit_ball_volume(k) * t**k


def ref_center_gap_lower_bound(delta, k, densities):
    """T-4.6: ``t* = (δ' / (Σ_{i<j} min(ρ_i,ρ_j) ω_k))^{1/k}``."""
    s = ref_center_gap_probability_bound(1.0, k, densities)
    return (delta / s) ** (1.0 / k)


def ref_syre_density(k, sigma_f):
    return (2 * math.pi * sigma_f**2) ** (-k / 2)


def ref_wasym_densities(diag, basis, sigma_f):
    """``ρ_i = (2πσ_F²)^{−k/2} det(T_i)^{−1/2}``, ``T_i = Uᵀ diag(1 − d_i) U``."""
    D = np.asarray(diag, float)
    U = np.asarray(basis, float)
    k = U.shape[1]
    T = np.einsum("nj,ja,jb->nab", 1.0 - D, U, U)
    det = np.linalg.det(T)
    return (2 * math.pi * sigma_f**2) ** (-k / 2) * det ** (-0.5)


def min_gap(centers):
    c = np.asarray(centers, float)
    n = c.shape[0]
    g = np.sqrt(np.sum((c[:, None] - c[None]) ** 2, axis=2))
    return float(np.min(g[~np.eye(n, dtype=bool)]))


def check_center_gap_probability(t_star, sample_centers, delta, trials, rng):
    """T-4.6 statistically: ``P(δ_min < t*) ≤ δ'``; ``sample_centers(rng)`` draws one instance of
    ``v_1..v_n`` from the model whose densities produced ``t_star``. Binomial test (§11).
    Returns ``(violations, trials, worst ratio t*/δ_min)``."""
    def draw(_):
        return t_star, min_gap(sample_centers(rng))  # violation iff δ_min < t*

    return check_probabilistic("T-4.6", draw, trials, delta)


# --------------------------------------------------------------------------------------------
# §5: input reindexing (T-4.7, T-4.8a, T-4.8b)
# --------------------------------------------------------------------------------------------

def reindexed(basis, perm):
    """``P_ρ U = U[perm]``."""
    return np.asarray(basis, float)[np.asarray(perm)]


def ref_pinv_norm_sq(S, x):
    lam, Q = np.linalg.eigh(S)
    keep = lam > 10 * S.shape[0] * np.finfo(float).eps * max(lam[-1], 1e-300)
    y = Q[:, keep].T @ x
    return float(np.sum(y * y / lam[keep]))


def input_sensitivity_parts(effective, fixed, diag, basis, perm):
    """``Δ_in(ρ)``, ``Δ^ρ``, ``R``, and the two Gram families (§5), by their definitions."""
    E, F, D, U = (np.asarray(x, float) for x in (effective, fixed, diag, basis))
    Up = reindexed(U, perm)
    A = E @ U
    V = F @ U
    Vp = F @ Up
    S = ref_grams(D, U)
    Sp = ref_grams(D, Up)
    n = E.shape[0]
    din = 0.0
    for i in range(n):
        din += ref_pinv_norm_sq(Sp[i], A[i] - Vp[i]) - ref_pinv_norm_sq(S[i], A[i] - V[i])
    return din, Vp - V, A - V, S, Sp


def check_input_sensitivity(sens_fn, approx_fn, inst, perm, mu, *, tol=1e-8):
    """T-4.7 on one instance (``ε`` over ``S_i`` and ``S_i^ρ`` must be ``< 1``).

    ``sens_fn(effective, fixed, diag, basis, perm)`` must equal ``Δ_in(ρ)`` from the definition
    (relative ``tol``); ``approx_fn(...) -> (approx, err_bound)`` (or ``None`` to use the THEORY.md form)
    must satisfy ``|Δ_in − approx| ≤ err_bound`` with ``approx = (1/μ)(‖Δ^ρ‖² − 2⟨Δ^ρ, R⟩)`` and
    ``err_bound = κ_ε Σ_i (‖r_i − Δ^ρ_i‖² + ‖r_i‖²)``. Returns the ratio ``|Δ_in − approx| / err_bound``
    (None where the bound is at rounding level, e.g. ``ε = 0``).
    """
    tid = "T-4.7"
    E, F, D, U = inst.effective, inst.fixed, inst.diag, inst.basis
    din, Drho, R, S, Sp = input_sensitivity_parts(E, F, D, U, perm)
    eps = max(eps_of(S, mu), eps_of(Sp, mu))
    if not eps < 1:
        raise ValueError("T-4.7 needs eps < 1")
    kappa = eps / ((1 - eps) * mu)
    ref_approx = (float(np.sum(Drho**2)) - 2 * float(np.sum(Drho * R))) / mu
    ref_err = kappa * float(np.sum((R - Drho) ** 2) + np.sum(R**2))
    scale = 1.0 + abs(din) + abs(ref_approx) + abs(ref_err)
    if sens_fn is not None:
        got = float(sens_fn(E, F, D, U, perm))
        if abs(got - din) > tol * scale:
            fail(tid, f"Δ_in(ρ) = {got:.10g}, definition gives {din:.10g}")
    if approx_fn is None:
        approx, err_bound = ref_approx, ref_err
    else:
        approx, err_bound = (float(x) for x in approx_fn(E, F, D, U, perm, mu, eps))
        if abs(approx - ref_approx) > tol * scale or abs(err_bound - ref_err) > tol * scale:
            fail(tid, f"approximation ({approx:.10g}, ±{err_bound:.6g}) differs from THEORY.md form ({ref_approx:.10g}, ±{ref_err:.6g})")
    gap = abs(din - approx)
    if gap > err_bound + tol * scale:
        fail(tid, f"|Δ_in − approx| = {gap:.6g} > κ_ε Σ(...) = {err_bound:.6g} (ε={eps:.3g})")
    return gap / err_bound if err_bound > 1e3 * tol * scale else None


def check_transposition_identity(diff_fn, fixed, basis, p, q, *, rtol=1e-10):
    """T-4.8a: ``diff_fn(fixed, basis, p, q)`` (the ``n×k`` matrix ``Δ^τ``) equals
    ``(F_{:,q} − F_{:,p})(u_p − u_q)ᵀ`` and ``U[τ]ᵀf_i − Uᵀf_i`` (relative ``rtol``), has rank ≤ 1,
    ``‖Δ^τ‖_F² = ‖F_p − F_q‖²‖u_p − u_q‖²``, and ``‖u_p − u_q‖² ≤ min(2, 4ν)`` (+1e-12).
    Returns ``(relative error, ‖u_p − u_q‖² / min(2, 4ν))``."""
    tid = "T-4.8a"
    F = np.asarray(fixed, float)
    U = np.asarray(basis, float)
    perm = np.arange(U.shape[0])
    perm[p], perm[q] = q, p
    direct = F @ reindexed(U, perm) - F @ U
    rank1 = np.outer(F[:, q] - F[:, p], U[p] - U[q])
    got = np.asarray(diff_fn(F, U, p, q), float)
    scale = max(1.0, float(np.max(np.abs(direct))))
    e = max(float(np.max(np.abs(got - direct))), float(np.max(np.abs(got - rank1)))) / scale
    if e > rtol:
        fail(tid, f"Δ^τ for τ=({p} {q}) differs from (F_q − F_p)(u_p − u_q)ᵀ by {e:.3g}")
    sv = np.linalg.svd(got, compute_uv=False)
    if sv.size > 1 and sv[1] > 1e-10 * max(1.0, sv[0]):
        fail(tid, f"Δ^τ is not rank one: singular values {sv[:3]}")
    fro2 = float(np.sum(got**2))
    prod = float(np.sum((F[:, p] - F[:, q]) ** 2) * np.sum((U[p] - U[q]) ** 2))
    if abs(fro2 - prod) > rtol * max(1.0, prod):
        fail(tid, f"‖Δ^τ‖² = {fro2:.10g} ≠ ‖F_p − F_q‖²‖u_p − u_q‖² = {prod:.10g}")
    upq = float(np.sum((U[p] - U[q]) ** 2))
    cap = min(2.0, 4 * ref_coherence(U))
    if upq > cap + 1e-12:
        fail(tid, f"‖u_p − u_q‖² = {upq:.6g} > min(2, 4ν) = {cap:.6g}")
    return e, upq / cap


def ref_reindexing_failure_probability(n, d):
    """T-4.8b: ``(d(d−1)/2) e^{−n/16}``."""
    return d * (d - 1) / 2 * math.exp(-n / 16)


def check_reindexing_probability(fail_prob, n, d, sigma_f, trials, rng, basis=None):
    """T-4.8b statistically: ``F`` with i.i.d. ``N(0, σ_F²)`` entries; the event "some pair
    ``(p, q)`` has ``‖Δ^τ‖_F² < nσ_F²‖u_p − u_q‖²``" (computed from ``Δ^τ`` itself when ``basis`` is
    given, else from ``‖F_p − F_q‖² < nσ_F²``) must have frequency ``≤ fail_prob`` (binomial test).
    Returns ``(violations, trials, worst ratio)``."""
    U = None if basis is None else np.asarray(basis, float)
    iu = np.triu_indices(d, 1)

    def draw(_):
        F = sigma_f * rng.standard_normal((n, d))
        col = np.sum((F[:, :, None] - F[:, None, :]) ** 2, axis=0)[iu]
        if U is None:
            lhs = float(np.max(n * sigma_f**2 / col))
        else:
            upq = np.sum((U[:, None, :] - U[None, :, :]) ** 2, axis=2)[iu]
            fro = []
            for p, q in zip(*iu):
                perm = np.arange(d)
                perm[p], perm[q] = q, p
                fro.append(np.sum((F @ reindexed(U, perm) - F @ U) ** 2))
            fro = np.array(fro)
            ok = upq > 1e-12
            lhs = float(np.max(n * sigma_f**2 * upq[ok] / fro[ok])) if ok.any() else 0.0
        return lhs, 1.0  # violation iff n σ² ‖u_p − u_q‖² > ‖Δ^τ‖²

    return check_probabilistic("T-4.8b", draw, trials, min(fail_prob, 1.0))


# --------------------------------------------------------------------------------------------
# §6: Lipschitz statements (T-C.7, T-C.8)
# --------------------------------------------------------------------------------------------

def gelu(x):
    return x * scipy.special.ndtr(x)


def softplus(x):
    return np.logaddexp(0.0, x)


ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "identity": lambda x: x,
    "tanh": np.tanh,
    "gelu": gelu,
    "softplus": softplus,
    "leaky_relu": lambda x: np.where(x > 0, x, 0.1 * x),
}


def numerical_lipschitz(name):
    """``max |σ'|`` on a fine grid (finite differences)."""
    x = np.linspace(-12, 12, 240001)
    f = ACTIVATIONS[name](x)
    return float(np.max(np.abs(np.diff(f) / np.diff(x))))


def numerical_curvature(name):
    """``max |σ''|`` on a fine grid (second differences)."""
    h = 1e-4
    x = np.linspace(-12, 12, 240001)
    f = ACTIVATIONS[name]
    return float(np.max(np.abs(f(x + h) - 2 * f(x) + f(x - h)) / h**2))


def check_lipschitz_deviation(act, lipschitz, X, w, delta):
    """T-C.7 on the empirical distribution of ``X`` (rows ``x``; ``Σ = XᵀX/N``):
    ``mean((σ(Xw) − σ(X(w+Δ)))²) ≤ L²·ΔᵀΣΔ`` (``1e-12`` relative plus the rounding of ``σ(Xw) − σ(X(w+Δ))``,
    ``8ε·√(lhs·mean(σ(Xw)² + σ(X(w+Δ))² + (Xw)²))``). Returns the ratio."""
    a, b = act(X @ w), act(X @ (w + delta))
    lhs = float(np.mean((a - b) ** 2))
    rhs = lipschitz**2 * float(np.mean((X @ delta) ** 2))
    # rounding of a − b when w ≫ Δ: |δ(lhs)| ≲ 4ε·√lhs·√mean(a² + b²) (doubled)
    atol = 8 * np.finfo(float).eps * math.sqrt(lhs * float(np.mean(a * a + b * b) + np.mean((X @ w) ** 2)))
    if lhs > rhs * (1 + 1e-12) + atol + 1e-300:
        fail("T-C.7", f"E[(σ(wᵀx) − σ((w+Δ)ᵀx))²] = {lhs:.6g} > L²ΔᵀΣΔ = {rhs:.6g}")
    return lhs / rhs if rhs > 0 else 0.0


def check_two_layer_distance(forward, lipschitz, X, W, W2, c):
    """T-C.8 on the empirical distribution of ``X``: ``forward(W, c, X)`` is the two-layer net
    ``Σ_i c_i σ(w_iᵀx)``; ``‖f_W − f_W'‖_{L²} ≤ L‖c‖₂ (Σ_i ‖w_i − w'_i‖²_Σ)^{1/2}`` (1e-12 relative plus
    ``4ε·(m + d)·scale of f`` for the rounding of the two forward passes). Returns the ratio."""
    f1 = np.asarray(forward(W, c, X), float)
    f2 = np.asarray(forward(W2, c, X), float)
    lhs = math.sqrt(float(np.mean((f1 - f2) ** 2)))
    rhs = lipschitz * float(np.linalg.norm(c)) * math.sqrt(float(np.sum(np.mean((X @ (W - W2).T) ** 2, axis=0))))
    # rounding of the two forward passes: ≈ ε·(number of terms)·|f|
    atol = 4 * np.finfo(float).eps * (W.shape[0] + X.shape[1]) * math.sqrt(float(np.mean(f1 * f1 + f2 * f2)) +
                                                                        float(np.abs(c).sum() * np.abs(X @ W.T).mean()))
    if lhs > rhs * (1 + 1e-12) + atol + 1e-300:
        fail("T-C.8", f"‖f_W − f_W'‖ = {lhs:.6g} > L‖c‖(Σ‖w_i − w'_i‖²_Σ)^½ = {rhs:.6g}")
    return lhs / rhs if rhs > 0 else 0.0


# --------------------------------------------------------------------------------------------
# §7: chord deviation (T-chord-exact, T-5.1, T-D.1, T-5.2)
# --------------------------------------------------------------------------------------------

def ref_relu_cross_moment(var_x, var_y, cov_xy):
    """``E[relu(X) relu(Y)] = (s_X s_Y/2π)(sin θ + (π−θ) cos θ)`` (eq. 198; 0 if a variance is 0)."""
    sx, sy = math.sqrt(max(var_x, 0.0)), math.sqrt(max(var_y, 0.0))
    if sx == 0 or sy == 0:
        return 0.0
    c = min(1.0, max(-1.0, cov_xy / (sx * sy)))
    th = math.acos(c)
    return sx * sy / (2 * math.pi) * (math.sin(th) + (math.pi - th) * c)


def ref_relu_chord_single(w0, w1, cov, lam):
    """Exact ``Δ_i(λ)`` for ``x ~ N(0, Σ)`` and ReLU, by expanding the square (T-chord-exact)."""
    a, b = np.asarray(w0, float), np.asarray(w1, float)
    z = (1 - lam) * a + lam * b
    vec = [z, a, b]
    coef = [1.0, -(1 - lam), -lam]
    tot = 0.0
    for p in range(3):
        for q in range(3):
            tot += coef[p] * coef[q] * ref_relu_cross_moment(vec[p] @ cov @ vec[p], vec[q] @ cov @ vec[q], vec[p] @ cov @ vec[q])
    return max(tot, 0.0)


def ref_relu_chord(w0, w1, cov, lam):
    """Per-neuron exact chord deviations (rows of ``w0, w1``)."""
    w0 = np.atleast_2d(w0)
    w1 = np.atleast_2d(w1)
    return np.array([ref_relu_chord_single(a, b, cov, lam) for a, b in zip(w0, w1)])


def mc_chord(w0, w1, cov, lam, n_samples, seed, act=ACTIVATIONS["relu"]):
    """Monte Carlo per-neuron chord deviation: ``(mean, standard error)``."""
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(cov + 1e-300 * np.eye(cov.shape[0])) if np.all(np.linalg.eigvalsh(cov) > 0) else None
    d = cov.shape[0]
    g = rng.standard_normal((n_samples, d))
    if L is None:
        lam_, Q = np.linalg.eigh(cov)
        X = g @ (Q * np.sqrt(np.maximum(lam_, 0))).T
    else:
        X = g @ L.T
    w0 = np.atleast_2d(w0)
    w1 = np.atleast_2d(w1)
    A, B = X @ w0.T, X @ w1.T
    h = (act((1 - lam) * A + lam * B) - (1 - lam) * act(A) - lam * act(B)) ** 2
    return h.mean(axis=0), h.std(axis=0, ddof=1) / math.sqrt(n_samples)


def check_chord_exact(exact_fn, w0, w1, cov, lam, *, n_mc=200_000, seed=0, rtol=1e-9, z=6.0):
    """T-chord-exact: ``exact_fn(w0, w1, cov, lam)`` (per neuron) equals the arc-cosine expansion
    transcribed here to ``rtol`` (relative, floor ``1e-12·s0·s1``) and agrees with Monte Carlo within
    ``z`` standard errors (+1e-5 of the scale ``s0·s1``: in the small-angle regime the chord error is non-zero
    on a thin wedge only and the sample SE is unreliable). Returns ``(max |exact − MC| / allowance, rel. error)``."""
    tid = "T-chord-exact"
    got = np.atleast_1d(np.asarray(exact_fn(w0, w1, cov, lam), float))
    ref = ref_relu_chord(w0, w1, cov, lam)
    s = np.sqrt(np.einsum("ij,jk,ik->i", np.atleast_2d(w0), cov, np.atleast_2d(w0)) *
                np.einsum("ij,jk,ik->i", np.atleast_2d(w1), cov, np.atleast_2d(w1)))
    # the 9-term expansion cancels when Δ ≪ s²: allow 1e-13·(s0+s1)² absolute on top of rtol
    s01 = (np.sqrt(np.einsum("ij,jk,ik->i", np.atleast_2d(w0), cov, np.atleast_2d(w0))) +
           np.sqrt(np.einsum("ij,jk,ik->i", np.atleast_2d(w1), cov, np.atleast_2d(w1)))) ** 2
    err = np.maximum(np.abs(got - ref) - 1e-13 * s01, 0.0) / np.maximum(np.abs(ref), 1e-300)
    if got.shape != ref.shape or np.any(err > rtol):
        fail(tid, f"exact chord {got[:4]} differs from the arc-cosine expansion {ref[:4]}")
    m, se = mc_chord(w0, w1, cov, lam, n_mc, seed)
    dev = np.abs(got - m)
    allow = z * se + 1e-5 * s + 1e-15
    if np.any(dev > allow):
        i = int(np.argmax(dev - allow))
        fail(tid, f"neuron {i}: exact {got[i]:.6g} vs Monte Carlo {m[i]:.6g} ± {se[i]:.2g} (z={dev[i] / max(se[i], 1e-300):.1f})")
    return float(np.max(dev / allow)), float(np.max(err))


def sigma_geometry(w0, w1, cov):
    """``s_0, s_1, θ`` in the Σ inner product (per row)."""
    w0 = np.atleast_2d(w0)
    w1 = np.atleast_2d(w1)
    s0 = np.sqrt(np.einsum("ij,jk,ik->i", w0, cov, w0))
    s1 = np.sqrt(np.einsum("ij,jk,ik->i", w1, cov, w1))
    # θ = 2·atan2(‖â − b̂‖_Σ, ‖â + b̂‖_Σ) (Kahan): accurate near 0 and π, unlike arccos of the cosine
    a = w0 / np.maximum(s0, 1e-300)[:, None]
    b = w1 / np.maximum(s1, 1e-300)[:, None]
    dm = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", a - b, cov, a - b), 0.0))
    dp = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", a + b, cov, a + b), 0.0))
    th = np.where((s0 > 0) & (s1 > 0), 2 * np.arctan2(dm, dp), 0.0)
    return s0, s1, th


def g_sin_minus_theta_cos(th):
    """``g(θ) = sin θ − θ cos θ`` in 50-digit arithmetic (mpmath): no cancellation at small θ."""
    import mpmath

    with mpmath.workdps(50):
        return np.array([float(mpmath.sin(t) - t * mpmath.cos(t)) for t in (mpmath.mpf(float(x)) for x in np.atleast_1d(th))])


def ref_relu_chord_bound(w0, w1, cov, lam, form="exact"):
    """T-5.1: ``λ(1−λ)(s0 s1/π)(sin θ − θ cos θ)`` or ``λ(1−λ) s0 s1 θ³/(3π)``."""
    s0, s1, th = sigma_geometry(w0, w1, cov)
    if form == "exact":
        return lam * (1 - lam) * s0 * s1 / math.pi * g_sin_minus_theta_cos(th)
    return lam * (1 - lam) * s0 * s1 * th**3 / (3 * math.pi)


def check_relu_chord_bound(bound_fn, w0, w1, cov, lams, *, rtol=1e-9):
    """T-5.1: for each ``λ``, exact ``Δ_i(λ)`` (arc-cosine expansion here) ``≤ bound_fn(.., form="exact")
    ≤ bound_fn(.., form="cubic")`` with slack ``1e-13·(s0+s1)²`` (rounding of the 9-term expansion), and both
    equal the THEORY.md forms to ``rtol``. Returns ``(worst ratio exact form, worst ratio cubic form)``."""
    tid = "T-5.1"
    s0, s1, _ = sigma_geometry(w0, w1, cov)
    slack = 1e-13 * (s0 + s1) ** 2  # cancellation in the 9-term expansion of Δ_i
    r_ex = r_cu = 0.0
    for lam in lams:
        dlt = ref_relu_chord(w0, w1, cov, lam)
        be = np.atleast_1d(np.asarray(bound_fn(w0, w1, cov, lam, form="exact"), float))
        bc = np.atleast_1d(np.asarray(bound_fn(w0, w1, cov, lam, form="cubic"), float))
        for got, form in ((be, "exact"), (bc, "cubic")):
            want = ref_relu_chord_bound(w0, w1, cov, lam, form)
            if got.shape != want.shape or np.any(np.abs(got - want) > rtol * np.abs(want) + 1e-30 * s0 * s1):
                fail(tid, f"λ={lam}: {form} bound {got[:3]} differs from THEORY.md form {want[:3]}")
        if np.any(dlt > be + slack):
            i = int(np.argmax(dlt - be))
            fail(tid, f"λ={lam}, neuron {i}: Δ_i = {dlt[i]:.8g} > λ(1−λ)(s0s1/π)(sin θ − θ cos θ) = {be[i]:.8g}")
        if np.any(be > bc + slack):
            i = int(np.argmax(be - bc))
            fail(tid, f"λ={lam}, neuron {i}: exact-form bound {be[i]:.8g} > cubic form {bc[i]:.8g}")
        ok = be > 1e4 * slack  # ratios only where rounding of Δ_i is negligible
        if ok.any():
            r_ex = max(r_ex, float(np.max(dlt[ok] / be[ok])))
        ok = bc > 1e4 * slack
        if ok.any():
            r_cu = max(r_cu, float(np.max(dlt[ok] / bc[ok])))
    return r_ex, r_cu


def ref_center_dominated_bound(fixed, cov, eta):
    """eq. 31: ``(1/4)(1+η)² g(2 arcsin η)/π · Σ_i ‖f_i‖²_Σ`` (per-neuron ``η_i``: the sum of the
    per-neuron bounds)."""
    F = np.atleast_2d(fixed)
    e = np.broadcast_to(np.asarray(eta, float), (F.shape[0],))
    g = g_sin_minus_theta_cos(2 * np.arcsin(e))
    return float(np.sum(0.25 * (1 + e) ** 2 * g / math.pi * np.einsum("ij,jk,ik->i", F, cov, F)))


def ref_center_dominance(w0, w1, F, cov):
    """``η_i = max_{c∈{0,1}} ‖w̃_i^{(c)} − f_i‖_Σ / ‖f_i‖_Σ`` (eq. 31), straight from the definition."""
    nf = np.sqrt(np.einsum("ij,jk,ik->i", F, cov, F))
    d0 = np.sqrt(np.einsum("ij,jk,ik->i", w0 - F, cov, w0 - F))
    d1 = np.sqrt(np.einsum("ij,jk,ik->i", w1 - F, cov, w1 - F))
    return np.maximum(d0, d1) / nf


def check_center_dominated(bound_fn, dominance_fn, w0, w1, fixed, cov, lams, *, rtol=1e-9):
    """T-5.1, eq. 31: ``η = dominance_fn(w0, w1, fixed, cov)`` (per neuron, or one number) must equal
    ``‖w̃_i^{(c)} − f_i‖_Σ / ‖f_i‖_Σ`` maximized over ``c`` (and over ``i`` for one number); where
    ``η < 1``: ``θ_i ≤ 2 arcsin η_i``, ``s_0 s_1 ≤ (1+η_i)²‖f_i‖²_Σ`` and
    ``sup_λ Δ_φ(λ) ≤ bound_fn(fixed, cov, η)`` (= THEORY.md form, ``rtol``). Returns the ratio
    ``sup_λ Δ_φ / bound`` (None if some ``η ≥ 1``)."""
    tid = "T-5.1"
    F = np.atleast_2d(fixed)
    nf = np.sqrt(np.einsum("ij,jk,ik->i", F, cov, F))
    eta_ref = ref_center_dominance(w0, w1, F, cov)
    eta = np.asarray(dominance_fn(w0, w1, fixed, cov), float)
    if eta.ndim == 0:
        eta_ref = np.array(float(np.max(eta_ref)))
    if eta.shape != eta_ref.shape or np.any(np.abs(eta - eta_ref) > rtol * np.maximum(1.0, eta_ref)):
        fail(tid, f"center dominance η = {eta}, definition gives {eta_ref}")
    if not np.all(eta < 1):
        return None
    e = np.broadcast_to(eta, nf.shape)
    s0, s1, th = sigma_geometry(w0, w1, cov)
    if np.any(th > 2 * np.arcsin(e) + 1e-9):
        fail(tid, f"θ = {th.max():.6g} > 2 arcsin η")
    if np.any(s0 * s1 > (1 + e) ** 2 * nf**2 * (1 + 1e-12)):
        fail(tid, "s0 s1 > (1+η)²‖f‖²_Σ")
    bound = float(bound_fn(fixed, cov, eta))
    want = ref_center_dominated_bound(fixed, cov, eta)
    if abs(bound - want) > rtol * max(abs(want), 1e-300):
        fail(tid, f"center-dominated bound {bound:.10g} differs from THEORY.md form {want:.10g}")
    sup = max(float(np.sum(ref_relu_chord(w0, w1, cov, lam))) for lam in lams)
    scale = float(np.sum(nf**2))
    if sup > bound * (1 + rtol) + 1e-13 * scale:
        fail(tid, f"sup_λ Δ_φ = {sup:.8g} > (1/4)(1+η)² g(2 arcsin η)/π Σ‖f_i‖² = {bound:.8g}")
    return sup / bound if bound > 1e-10 * scale else 0.0


_GH_CACHE: dict = {}


def quad_chord(act, w0, w1, cov, lam, n_nodes=96):
    """``Δ_i(λ)`` for ``x ~ N(0, Σ)`` by 2-D Gauss–Hermite quadrature over ``(X, Y)`` (smooth σ)."""
    if n_nodes not in _GH_CACHE:
        _GH_CACHE[n_nodes] = np.polynomial.hermite_e.hermegauss(n_nodes)
    t, wt = _GH_CACHE[n_nodes]
    wt = wt / math.sqrt(2 * math.pi)
    w0 = np.atleast_2d(w0)
    w1 = np.atleast_2d(w1)
    out = []
    for a, b in zip(w0, w1):
        vx, vy, cxy = a @ cov @ a, b @ cov @ b, a @ cov @ b
        sx = math.sqrt(max(vx, 0))
        if sx > 0:
            rho_s = cxy / sx
            rest = math.sqrt(max(vy - rho_s**2, 0))
        else:
            rho_s, rest = 0.0, math.sqrt(max(vy, 0))
        G1, G2 = np.meshgrid(t, t, indexing="ij")
        X = sx * G1
        Y = rho_s * G1 + rest * G2
        h = (act((1 - lam) * X + lam * Y) - (1 - lam) * act(X) - lam * act(Y)) ** 2
        out.append(float(np.sum(wt[:, None] * wt[None, :] * h)))
    return np.array(out)


def ref_smooth_chord_bound(w0, w1, cov, lam, beta):
    """T-D.1: ``(3β²/4) λ²(1−λ)² ‖w1 − w0‖_Σ⁴``."""
    dw = np.atleast_2d(w1) - np.atleast_2d(w0)
    s2 = np.einsum("ij,jk,ik->i", dw, cov, dw)
    return 0.75 * beta**2 * lam**2 * (1 - lam) ** 2 * s2**2


def check_smooth_chord_bound(bound_fn, act, beta, w0, w1, cov, lams, *, rtol=1e-9):
    """T-D.1: ``Δ_i(λ)`` (Gauss–Hermite quadrature, 96² nodes) ``≤ bound_fn(w0, w1, cov, lam, beta)``
    (slack ``1e-9·(bound + 1e-12·s⁴)``), and ``bound_fn`` equals the THEORY.md form to ``rtol``.
    Returns the worst ratio."""
    tid = "T-D.1"
    worst = 0.0
    for lam in lams:
        dlt = quad_chord(act, w0, w1, cov, lam)
        b = np.atleast_1d(np.asarray(bound_fn(w0, w1, cov, lam, beta), float))
        want = ref_smooth_chord_bound(w0, w1, cov, lam, beta)
        if b.shape != want.shape or np.any(np.abs(b - want) > rtol * np.abs(want) + 1e-300):
            fail(tid, f"λ={lam}: bound {b[:3]} differs from (3β²/4)λ²(1−λ)²‖Δw‖⁴_Σ = {want[:3]}")
        worst = max(worst, _chord_below_bound(tid, dlt, b, lam, "(3β²/4)λ²(1−λ)²‖Δw‖⁴"))
    return worst


def _chord_below_bound(tid, dlt, b, lam, form):
    """``Δ_i(λ) ≤ b_i`` (slack ``1e-7`` relative + ``1e-14``); returns the worst ratio over ``b_i > 1e-14``."""
    if np.any(dlt > b * (1 + 1e-7) + 1e-14):
        i = int(np.argmax(dlt - b))
        fail(tid, f"λ={lam}, neuron {i}: Δ_i = {dlt[i]:.8g} > {form} = {b[i]:.8g}")
    ok = b > 1e-14
    return float(np.max(dlt[ok] / b[ok])) if ok.any() else 0.0


def ref_center_dominated_smooth_bound(fixed, cov, eta, beta):
    """T-D.1, center-dominated: ``sup_λ Δ_i ≤ (3/4) β² η_i⁴ ‖f_i‖_Σ⁴`` (per neuron)."""
    F = np.atleast_2d(fixed)
    e = np.broadcast_to(np.asarray(eta, float), (F.shape[0],))
    return 0.75 * beta**2 * e**4 * np.einsum("ij,jk,ik->i", F, cov, F) ** 2


def check_center_dominated_smooth(bound_fn, act, beta, w0, w1, fixed, cov, lams, *, rtol=1e-9):
    """T-D.1 center-dominated corollary: with ``η_i = max_c ‖w̃_i^{(c)} − f_i‖_Σ / ‖f_i‖_Σ`` (computed
    here), ``bound_fn(fixed, cov, η, β)`` equals the THEORY.md form to ``rtol`` and ``Δ_i(λ)``
    (Gauss–Hermite quadrature) ``≤ bound_i`` at every ``λ`` (slack ``1e-7`` relative + ``1e-14``).
    Returns the worst ratio ``Δ_i(λ) / bound_i``."""
    tid = "T-D.1"
    F = np.atleast_2d(fixed)
    eta = ref_center_dominance(w0, w1, F, cov)
    if np.any(eta >= 1):
        return None
    b = np.atleast_1d(np.asarray(bound_fn(F, cov, eta, beta), float))
    want = ref_center_dominated_smooth_bound(F, cov, eta, beta)
    if b.shape != want.shape or np.any(np.abs(b - want) > rtol * np.abs(want) + 1e-300):
        fail(tid, f"center-dominated bound {b[:3]} differs from (3/4)β²η⁴‖f‖⁴_Σ = {want[:3]}")
    worst = 0.0
    for lam in lams:
        dlt = quad_chord(act, w0, w1, cov, lam)
        worst = max(worst, _chord_below_bound(tid, dlt, b, lam, f"(3/4)β²η⁴‖f‖⁴_Σ (η={np.max(eta):.4g})"))
    return worst


def check_barrier(bound_fn, lams, losses, loss0, loss1, output_chords):
    """T-5.2: for every ``λ`` of the path, ``𝓛(θ_λ) − (1−λ)𝓛_0 − λ𝓛_1 ≤ bound_fn(Δ_out(λ))`` (the
    package's ``barrier_bound`` with ``L = √2``), hence ``B ≤ sup_λ bound``; slack ``1e-9``
    absolute. Returns the worst ratio of the excess loss to the bound (over λ with positive excess)."""
    tid = "T-5.2"
    worst = 0.0
    for lam, loss, ch in zip(lams, losses, output_chords):
        excess = loss - (1 - lam) * loss0 - lam * loss1
        b = float(bound_fn(ch))
        if excess > b + 1e-9:
            fail(tid, f"λ={lam:.3g}: loss excess {excess:.6g} > L√Δ_out = {b:.6g}")
        if b > 0 and excess > 0:
            worst = max(worst, excess / b)
    return worst


# --------------------------------------------------------------------------------------------
# §8: approximate support and relaxed costs (T-E.1, T-E.2, T-E.4, T-E.5, T-E.6)
# --------------------------------------------------------------------------------------------

def check_tail_energy(tail_fn, X, r, *, rtol=1e-9):
    """T-E.1: ``tail_fn(X, r)`` equals ``Σ_{j>r} λ_j`` of ``Σ = XᵀX/N`` and
    ``mean ‖x − U_rU_rᵀx‖²`` (relative ``rtol`` plus ``1e-12·tr Σ`` absolute). Returns the relative error
    beyond the absolute allowance."""
    tid = "T-E.1"
    X = np.asarray(X, float)
    N = X.shape[0]
    Sig = X.T @ X / N
    lam, Q = np.linalg.eigh(Sig)
    lam, Q = lam[::-1], Q[:, ::-1]
    tail = float(np.sum(lam[r:]))
    Ur = Q[:, :r]
    resid = float(np.mean(np.sum((X - X @ Ur @ Ur.T) ** 2, axis=1)))
    got = float(tail_fn(X, r))
    # absolute allowance 1e-12·tr Σ (≈ 100 ε·tr Σ: rounding of any eigen/trace route) on top of rtol
    floor = 1e-12 * max(float(np.trace(Sig)), 1e-300)
    e1 = max(abs(got - tail) - floor, 0.0) / max(tail, 1e-300)
    e2 = max(abs(got - resid) - floor, 0.0) / max(resid, 1e-300)
    if max(e1, e2) > rtol:
        fail(tid, f"tail energy τ_{r} = {got:.10g}; Σ_{{j>r}} λ_j = {tail:.10g}, E‖x − P_r x‖² = {resid:.10g}")
    return max(e1, e2)


def check_projection_agreement(g1, g2, L1, L2, X, r):
    """T-E.2 on the empirical distribution: ``g1, g2`` (vectorized on rows) agree on ``P_r x``;
    ``‖g1 − g2‖_{L²} ≤ (L1 + L2)√τ_r``. The agreement hypothesis is verified (``1e-9`` relative).
    Returns the ratio."""
    tid = "T-E.2"
    X = np.asarray(X, float)
    Sig = X.T @ X / X.shape[0]
    lam, Q = np.linalg.eigh(Sig)
    Ur = Q[:, ::-1][:, :r]
    tau = float(np.sum(lam[::-1][r:]))
    PX = X @ Ur @ Ur.T
    a, b = g1(PX), g2(PX)
    if np.max(np.abs(a - b)) > 1e-9 * max(1.0, float(np.max(np.abs(a)))):
        raise ValueError("g1 and g2 must agree on the projected distribution")
    lhs = math.sqrt(float(np.mean((g1(X) - g2(X)) ** 2)))
    rhs = (L1 + L2) * math.sqrt(max(tau, 0.0))
    if lhs > rhs * (1 + 1e-9) + 1e-12:
        fail(tid, f"‖g1 − g2‖ = {lhs:.6g} > (L1 + L2)√τ_r = {rhs:.6g}")
    return lhs / rhs if rhs > 0 else 0.0


def relaxed_objective(w, act, f, dg, X, target_values, gamma):
    """``(1/γ) mean((σ((f + d⊙w)ᵀx) − g(x))²) + ‖w‖²`` on samples ``X``."""
    pre = X @ (f + dg * w)
    return float(np.mean((act(pre) - target_values) ** 2)) / gamma + float(w @ w)


def ref_relaxed_identity(a, f, dg, U, Z, gamma):
    """``R_i^γ`` for σ = identity on the empirical measure ``x = Uz`` (rows of ``Z``), by a direct
    ridge solve of the augmented least-squares problem ``[X diag(d)/√γ; I] w ≈ [(Za − Xf)/√γ; 0]``."""
    X = Z @ U.T
    N, d = X.shape
    A = np.vstack([X * dg[None, :] / math.sqrt(gamma * N), np.eye(d)])
    y = np.concatenate([(Z @ a - X @ f) / math.sqrt(gamma * N), np.zeros(d)])
    w = scipy.linalg.lstsq(A, y)[0]
    return relaxed_objective(w, lambda t: t, f, dg, X, Z @ a, gamma), w


def check_relaxed_cost(bound_fn, a, f, dg, U, Z, gamma, *, lipschitz=1.0, rtol=1e-7, relu_opt=True):
    """T-E.4 on the empirical distribution of ``z`` (rows of ``Z``; ``Σ_z = ZᵀZ/N``), ``x = Uz``.

    ``b = bound_fn(a, f, d, U, Σ_z, γ, L)`` must equal ``cᵀ(S + (γ/L²)Σ_z⁻¹)⁻¹c`` (``rtol``); with
    σ = identity it equals ``R^γ`` solved directly (``rtol``); with σ = ReLU (``L = 1``) the objective at
    the surrogate minimizer ``w* = (MᵀΣ_zM + γI)⁻¹MᵀΣ_z c`` and after an L-BFGS polish is ``≤ b``
    (+1e-9 relative), which certifies ``R^γ ≤ b``. Returns ``(identity rel. error, ReLU ratio)``.
    """
    tid = "T-E.4"
    N = Z.shape[0]
    Sz = Z.T @ Z / N
    M = proj_matrix(dg, U)
    S = M @ M.T
    c = a - U.T @ f
    b = float(bound_fn(a, f, dg, U, Sz, gamma, lipschitz))
    want = float(c @ np.linalg.solve(S + (gamma / lipschitz**2) * np.linalg.inv(Sz), c))
    if abs(b - want) > rtol * max(1.0, want):
        fail(tid, f"bound {b:.10g} differs from cᵀ(S + (γ/L²)Σ_z⁻¹)⁻¹c = {want:.10g}")
    e_id = 0.0
    if lipschitz == 1.0:
        r_id, _ = ref_relaxed_identity(a, f, dg, U, Z, gamma)
        e_id = abs(r_id - b) / max(1.0, r_id)
        if e_id > rtol:
            fail(tid, f"σ = identity: R^γ solved directly = {r_id:.10g} ≠ bound {b:.10g} (equality expected)")
    ratio = None
    if relu_opt:
        X = Z @ U.T
        relu = ACTIVATIONS["relu"]
        g = relu(Z @ a)
        w_star = np.linalg.solve(M.T @ Sz @ M + gamma / lipschitz**2 * np.eye(M.shape[1]), M.T @ Sz @ c)
        v0 = relaxed_objective(w_star, relu, f, dg, X, g, gamma)
        if v0 > b * (1 + 1e-9) + 1e-12:
            fail(tid, f"ReLU objective at w* = {v0:.8g} > bound {b:.8g}")
        res = scipy.optimize.minimize(lambda w: relaxed_objective(w, relu, f, dg, X, g, gamma), w_star,
                                      method="L-BFGS-B", options={"maxiter": 200})
        v = min(v0, float(res.fun))
        ratio = v / b if b > 0 else 0.0
    return e_id, ratio


def check_ridgeless_limit(relaxed_fn, hard_cost, gammas, *, rtol=1e-4, excess_rtol=1e-7, diverge_limit=None,
                          mono_rtol=1e-9):
    """T-E.5: ``R^γ = relaxed_fn(γ)`` along decreasing ``gammas`` is non-decreasing (``mono_rtol`` relative slack:
    rounding, raise it to ``~ε·κ(S + γ_min Σ_z⁻¹)`` for tiny ``γ``), never exceeds ``R`` and reaches ``R`` to ``rtol`` at the smallest ``γ`` when ``R < ∞``; when
    ``R = +inf`` it grows like ``1/γ``: ``γR^γ`` is non-increasing, ``> 0``, stays ``≥ ½`` of its value at the
    previous ``γ``, and equals ``diverge_limit`` (the predicted ``lim γR^γ``, if given) to ``1e-3``. ``excess_rtol`` is the relative slack of
    ``R^γ ≤ R`` (raise it to ``~ε·κ(S)`` for an ill-conditioned ``S``, where both sides carry that rounding).
    Returns the relative gap at the smallest ``γ``."""
    tid = "T-E.5"
    vals = [float(relaxed_fn(g)) for g in gammas]
    for (g0, v0), (g1, v1) in zip(zip(gammas, vals), zip(gammas[1:], vals[1:])):
        if v1 < v0 * (1 - mono_rtol) - 1e-12:
            fail(tid, f"R^γ decreased from {v0:.8g} (γ={g0:g}) to {v1:.8g} (γ={g1:g})")
    if np.isfinite(hard_cost):
        if max(vals) > hard_cost * (1 + excess_rtol) + 1e-12:
            fail(tid, f"R^γ = {max(vals):.8g} exceeds the hard cost R = {hard_cost:.8g}")
        gap = abs(vals[-1] - hard_cost) / max(1.0, hard_cost)
        if gap > rtol:
            fail(tid, f"R^γ at γ={gammas[-1]:g} is {vals[-1]:.10g}, hard cost R = {hard_cost:.10g}")
        return gap
    # R = +inf: γR^γ = cᵀγ(S + γA)⁻¹c is non-increasing as γ ↓ (its γ-derivative is PSD) and tends to
    # L = c_Nᵀ(NᵀAN)⁻¹c_N > 0 (N: null space of S), so R^γ ~ L/γ; a finite limit would make γR^γ ∝ γ → 0
    prods = [g * v for g, v in zip(gammas, vals)]
    for p0, p1 in zip(prods, prods[1:]):
        if p1 > p0 * (1 + mono_rtol) + 1e-300:
            fail(tid, f"R = +inf but γR^γ increased as γ decreased: γR^γ = {prods}")
    if not prods[-1] > 0 or prods[-1] < 0.5 * prods[-2]:
        fail(tid, f"R = +inf but R^γ does not diverge like 1/γ: γR^γ = {prods}")
    if diverge_limit is not None and abs(prods[-1] - diverge_limit) > 1e-3 * diverge_limit:
        fail(tid, f"R = +inf: γR^γ at γ={gammas[-1]:g} is {prods[-1]:.8g}, predicted limit c_Nᵀ(NᵀΣ_z⁻¹N)⁻¹c_N = "
                  f"{diverge_limit:.8g}")
    return 0.0


def check_approximate_support_cost(bound_fn, act, lip_act, a_proj, w_star, f, dg, X, r, gamma):
    """T-E.6 on the empirical distribution of ``X``: ``w*`` realizes ``a_proj = U_rᵀ(f + d⊙w*)`` on the
    projected model; ``g(x) = σ(a_projᵀU_rᵀx)`` (``L_g = L_σ‖a_proj‖``). The relaxed objective at ``w*``
    (an upper bound on ``R^γ``) must be ``≤ bound_fn(‖w*‖², L_σ‖f + d⊙w*‖, L_g, τ_r, γ)``, the THEORY.md
    form ``‖w*‖² + (1/γ)(L_σ‖f + d⊙w*‖ + L_g)² τ_r`` by default (+1e-9 relative). Returns the ratio of the
    misfit term to the ``τ_r`` term, ``(obj − ‖w*‖²)/(bound − ‖w*‖²)`` (``‖w*‖²`` is common to both sides)."""
    tid = "T-E.6"
    Sig = X.T @ X / X.shape[0]
    lam, Q = np.linalg.eigh(Sig)
    Ur = Q[:, ::-1][:, :r]
    tau = float(np.sum(lam[::-1][r:]))
    wt = f + dg * w_star
    if np.linalg.norm(Ur.T @ wt - a_proj) > 1e-8 * max(1.0, float(np.linalg.norm(a_proj))):
        raise ValueError("w_star must realize a_proj on the projected model")
    g = act(X @ Ur @ a_proj)
    obj = relaxed_objective(w_star, act, f, dg, X, g, gamma)
    Lg = lip_act * float(np.linalg.norm(a_proj))
    b = float(bound_fn(float(w_star @ w_star), lip_act * float(np.linalg.norm(wt)), Lg, tau, gamma))
    if obj > b * (1 + 1e-9) + 1e-12:
        fail(tid, f"relaxed objective at w* = {obj:.8g} > ‖w*‖² + (1/γ)(L‖w̃‖ + L_g)²τ_r = {b:.8g}")
    # tightness of the part that is not trivially equal on both sides: the misfit term vs the τ_r term
    wn = float(w_star @ w_star)
    return (obj - wn) / (b - wn) if b - wn > 1e-12 * max(1.0, b) else 0.0


def ref_e6_bound(wnorm2, lip_wt, lip_g, tau, gamma):
    return wnorm2 + (lip_wt + lip_g) ** 2 * tau / gamma


# --------------------------------------------------------------------------------------------
# §9: weak additivity, LEWC (T-WA, T-5.3)
# --------------------------------------------------------------------------------------------

def ref_gaussian_wa(var_u, var_v, corr):
    """T-WA limit by the arc-cosine kernel."""
    cuv = corr * math.sqrt(var_u * var_v)
    vs = var_u + var_v + 2 * cuv
    num = ref_relu_cross_moment(vs, var_u, var_u + cuv) + ref_relu_cross_moment(vs, var_v, var_v + cuv)
    e_s2 = vs / 2
    e_sum2 = var_u / 2 + var_v / 2 + 2 * ref_relu_cross_moment(var_u, var_v, cuv)
    return num / math.sqrt(e_s2 * e_sum2)


def quad_gaussian_wa(var_u, var_v, corr, n_nodes=200):
    """T-WA limit by 2-D Gauss–Hermite quadrature (independent of the kernel formula)."""
    t, w = np.polynomial.hermite_e.hermegauss(n_nodes)
    w = w / math.sqrt(2 * math.pi)
    G1, G2 = np.meshgrid(t, t, indexing="ij")
    W = w[:, None] * w[None, :]
    su, sv = math.sqrt(var_u), math.sqrt(var_v)
    U = su * G1
    V = sv * (corr * G1 + math.sqrt(max(1 - corr**2, 0)) * G2)
    r = ACTIVATIONS["relu"]
    num = np.sum(W * r(U + V) * (r(U) + r(V)))
    return float(num / math.sqrt(np.sum(W * r(U + V) ** 2) * np.sum(W * (r(U) + r(V)) ** 2)))


def empirical_wa(u, v):
    r = ACTIVATIONS["relu"]
    a, b = r(u + v), r(u) + r(v)
    return float(a @ b / math.sqrt((a @ a) * (b @ b)))


def check_wa_limit(limit_fn, var_u, var_v, corr, dims, reps, seed, *, z=6.0):
    """T-WA: ``limit_fn(var_u, var_v, corr)`` equals the kernel formula (``1e-10``) and 2-D quadrature
    (``1e-3``, ReLU kink); for each ``dim`` the mean of ``reps`` empirical cosines is within
    ``z·SE + 2/dim`` of the limit, and the spread shrinks like ``1/√dim`` (std ratio between
    consecutive dims within ``[0.5, 2]×`` of ``√(dim₂/dim₁)``). Returns the max |mean − limit|/SE."""
    tid = "T-WA"
    lim = float(limit_fn(var_u, var_v, corr))
    ref = ref_gaussian_wa(var_u, var_v, corr)
    if abs(lim - ref) > 1e-10:
        fail(tid, f"WA limit {lim:.12g} differs from the kernel formula {ref:.12g}")
    qd = quad_gaussian_wa(var_u, var_v, corr)
    if abs(lim - qd) > 1e-3:
        fail(tid, f"WA limit {lim:.8g} differs from quadrature {qd:.8g}")
    rng = np.random.default_rng(seed)
    cov = np.array([[var_u, corr * math.sqrt(var_u * var_v)], [corr * math.sqrt(var_u * var_v), var_v]])
    Lc = np.linalg.cholesky(cov + 1e-15 * np.eye(2))
    stds = []
    worst = 0.0
    for dim in dims:
        vals = []
        for _ in range(reps):
            g = rng.standard_normal((dim, 2)) @ Lc.T
            vals.append(empirical_wa(g[:, 0], g[:, 1]))
        vals = np.array(vals)
        m, sd = vals.mean(), vals.std(ddof=1)
        se = sd / math.sqrt(reps)
        if abs(m - lim) > z * se + 2.0 / dim:
            fail(tid, f"dim={dim}: mean empirical WA {m:.6f} ± {se:.2g} vs limit {lim:.6f}")
        worst = max(worst, abs(m - lim) / max(se, 1e-300))
        stds.append(sd)
    for (d1, s1), (d2, s2) in zip(zip(dims, stds), zip(dims[1:], stds[1:])):
        want = math.sqrt(d2 / d1)
        if not 0.5 * want <= s1 / s2 <= 2.0 * want:
            fail(tid, f"fluctuations do not scale like 1/√dim: std {s1:.3g} (dim {d1}) vs {s2:.3g} (dim {d2})")
    return worst


def mlp_forward_np(weights, X):
    """Bias-free ReLU MLP: ``z_ℓ = relu(W_ℓ z_{ℓ−1})`` for ``ℓ < L``, logits ``W_L z_{L−1}``; inputs
    as rows. Returns ``[z_0, …, z_L]`` (rows = inputs)."""
    zs = [np.asarray(X, float)]
    for ell, W in enumerate(weights):
        h = zs[-1] @ np.asarray(W, float).T
        zs.append(h if ell == len(weights) - 1 else np.maximum(h, 0.0))
    return zs


def ref_lewc_terms(wa, wb, X, lam):
    """Per layer ``ℓ = 1..L``: ``(‖e_ℓ‖, ‖σ(p+q) − σ(p) − σ(q)‖, ‖c_ℓ‖, ‖W_ℓ^λ‖₂)`` per input (rows)."""
    za = mlp_forward_np(wa, X)
    zb = mlp_forward_np(wb, X)
    wl = [lam * a + (1 - lam) * b for a, b in zip(wa, wb)]
    zl = mlp_forward_np(wl, X)
    L = len(wa)
    relu = ACTIVATIONS["relu"]
    out = []
    for ell in range(1, L + 1):
        e = zl[ell] - lam**ell * za[ell] - (1 - lam) ** ell * zb[ell]
        Wa, Wb = wa[ell - 1], wb[ell - 1]
        if ell == 1:
            p, q = lam * X @ Wa.T, (1 - lam) * X @ Wb.T
            c = np.zeros_like(p)
        else:
            p = lam**ell * za[ell - 1] @ Wa.T
            q = (1 - lam) ** ell * zb[ell - 1] @ Wb.T
            c = lam * (1 - lam) ** (ell - 1) * zb[ell - 1] @ Wa.T + (1 - lam) * lam ** (ell - 1) * za[ell - 1] @ Wb.T
        wa_term = relu(p + q) - relu(p) - relu(q)
        out.append(dict(e=e, wa=wa_term, c=c, op=float(np.linalg.norm(wl[ell - 1], 2)), W=wl[ell - 1]))
    return out


def check_error_recursion(bound_terms, wa, wb, X, lam, *, tol=1e-9):
    """T-5.3 per input: ``e_1 = σ(p+q) − σ(p) − σ(q)`` exactly; for ``2 ≤ ℓ < L``
    ``‖e_ℓ‖ ≤ bound_terms(wa_term, c_ℓ, ‖W^λ‖₂, ‖e_{ℓ−1}‖)`` (the THEORY.md right side by default);
    ``e_L = c_L + W_L^λ e_{L−1}`` exactly (``tol`` relative to the scale of the terms).
    Returns the worst ratio ``‖e_ℓ‖ / rhs``."""
    tid = "T-5.3"
    terms = ref_lewc_terms(wa, wb, X, lam)
    L = len(wa)
    worst = 0.0
    for ell, t in enumerate(terms, start=1):
        e = t["e"]
        scale = 1.0 + np.linalg.norm(t["wa"], axis=1) + np.linalg.norm(t["c"], axis=1)
        if ell == 1:
            err = np.linalg.norm(e - t["wa"], axis=1)
            if np.any(err > tol * scale):
                fail(tid, f"e_1 ≠ σ(p+q) − σ(p) − σ(q) (max diff {err.max():.3g})")
            continue
        prev = np.linalg.norm(terms[ell - 2]["e"], axis=1)
        if ell == L:
            err = np.linalg.norm(e - (t["c"] + terms[ell - 2]["e"] @ t["W"].T), axis=1)
            if np.any(err > tol * (scale + t["op"] * prev)):
                fail(tid, f"e_L ≠ c_L + W_L^λ e_(L−1) (max diff {err.max():.3g})")
            continue
        rhs = np.asarray(bound_terms(np.linalg.norm(t["wa"], axis=1), np.linalg.norm(t["c"], axis=1), t["op"], prev), float)
        lhs = np.linalg.norm(e, axis=1)
        if np.any(lhs > rhs + tol * (scale + t["op"] * prev)):
            i = int(np.argmax(lhs - rhs))
            fail(tid, f"layer {ell}, input {i}: ‖e_ℓ‖ = {lhs[i]:.6g} > ‖σ(p+q)−σ(p)−σ(q)‖ + ‖c_ℓ‖ + ‖W^λ‖‖e_(ℓ−1)‖ = {rhs[i]:.6g}")
        ok = rhs > 1e-12
        if ok.any():
            worst = max(worst, float(np.max(lhs[ok] / rhs[ok])))
    return worst


def ref_recursion_rhs(wa_norm, c_norm, op_norm, prev_norm):
    return wa_norm + c_norm + op_norm * prev_norm


# --------------------------------------------------------------------------------------------
# §10: symmetries (T-S1..T-S4)
# --------------------------------------------------------------------------------------------

def check_function_preserved(tid, f_before, f_after, X, *, rtol=1e-10, what="function"):
    """``f_after(X) == f_before(X)`` to ``rtol·max(1, max|f|)``. Returns the relative error."""
    a = np.asarray(f_before(X), float)
    b = np.asarray(f_after(X), float)
    err = float(np.max(np.abs(a - b))) / max(1.0, float(np.max(np.abs(a))))
    if not err <= rtol:
        fail(tid, f"{what} changed by {err:.3g} (rtol {rtol:g})")
    return err


def torch_mlp_forward(W1, b1, W2, X, act="relu"):
    """``W2 σ(W1 x + b1)`` as a float64 torch ``nn.Linear``–σ–``nn.Linear`` stack (rows of ``X``)."""
    import torch

    h, d = W1.shape
    o = W2.shape[0]
    lin1 = torch.nn.Linear(d, h, bias=b1 is not None).double()
    lin2 = torch.nn.Linear(h, o, bias=False).double()
    f = {"relu": torch.relu, "tanh": torch.tanh, "gelu": torch.nn.functional.gelu}[act]
    with torch.no_grad():
        lin1.weight.copy_(torch.as_tensor(np.asarray(W1, float)))
        if b1 is not None:
            lin1.bias.copy_(torch.as_tensor(np.asarray(b1, float)))
        lin2.weight.copy_(torch.as_tensor(np.asarray(W2, float)))
        return lin2(f(lin1(torch.as_tensor(np.asarray(X, float))))).numpy()


def check_permutation_symmetry(permute_fn, W1, b1, W2, perm, X, act="relu", *, rtol=1e-12):
    """T-S1: ``σ(Px) = Pσ(x)`` (torch activation, relative 1e-12) and the permuted block
    ``permute_fn(W1, b1, W2, perm)`` computes the same function (torch float64, ``rtol``); the hidden
    units are really permuted (``W1' = W1[perm]``). Returns the relative error."""
    import torch

    tid = "T-S1"
    Z = np.asarray(X, float) @ W1.T
    f = {"relu": torch.relu, "tanh": torch.tanh, "gelu": torch.nn.functional.gelu}[act]
    # Z[:, perm] comes out Fortran-ordered, and torch's strided GELU kernel differs from its contiguous one by
    # ~2e-14 relative (found by the thorough profile): compare like with like
    a = f(torch.as_tensor(np.ascontiguousarray(Z[:, perm]))).numpy()
    b = f(torch.as_tensor(Z)).numpy()[:, perm]
    # bitwise equality is too strict: a permutation moves entries between torch's SIMD body and scalar tail,
    # whose GELU results differ by up to ~1e-13 relative (8e-14 seen in the thorough profile)
    if not np.allclose(a, b, rtol=1e-12, atol=1e-300):
        fail(tid, "elementwise σ does not commute with the permutation")
    W1p, b1p, W2p = permute_fn(W1, b1, W2, perm)
    if not np.allclose(np.asarray(W1p), W1[perm]):
        fail(tid, "hidden units not permuted: W1' ≠ P W1")
    return check_function_preserved(tid, lambda X_: torch_mlp_forward(W1, b1, W2, X_, act),
                                    lambda X_: torch_mlp_forward(np.asarray(W1p), None if b1p is None else np.asarray(b1p),
                                                                 np.asarray(W2p), X_, act), X, rtol=rtol)


def check_split_symmetry(split_fn, W1, b1, W2, unit, alpha, X, *, rtol=1e-12):
    """T-S2: ``relu(x) = relu(αx) + relu((1−α)x)`` on the preactivations (``rtol``), and the split block
    ``split_fn(W1, b1, W2, unit, α)`` (one unit wider) computes the same ReLU function (torch float64).
    Returns the relative error."""
    tid = "T-S2"
    Z = np.asarray(X, float) @ W1.T
    relu = ACTIVATIONS["relu"]
    e = float(np.max(np.abs(relu(Z) - relu(alpha * Z) - relu((1 - alpha) * Z)))) / max(1.0, float(np.max(np.abs(Z))))
    if e > rtol:
        fail(tid, f"relu(x) ≠ relu(αx) + relu((1−α)x) (α={alpha}): {e:.3g}")
    W1s, b1s, W2s = split_fn(W1, b1, W2, unit, alpha)
    if np.asarray(W1s).shape[0] != W1.shape[0] + 1:
        fail(tid, f"split must add one hidden unit, got width {np.asarray(W1s).shape[0]}")
    return check_function_preserved(tid, lambda X_: torch_mlp_forward(W1, b1, W2, X_),
                                    lambda X_: torch_mlp_forward(np.asarray(W1s), None if b1s is None else np.asarray(b1s),
                                                                 np.asarray(W2s), X_), X, rtol=rtol)


def check_rmsnorm_equivariance(rms_fn, X, O, *, rtol=1e-10):
    """T-S3: ``rms_fn(x) = x/√mean(x²)`` (torch reference ``x * rsqrt(mean(x²))``) and
    ``rms_fn(Ox) = O·rms_fn(x)`` for orthogonal ``O`` (rows of ``X``; ``rtol``). Returns the error."""
    import torch

    tid = "T-S3"
    Xt = torch.as_tensor(np.asarray(X, float))
    ref = (Xt * torch.rsqrt(torch.mean(Xt * Xt, dim=-1, keepdim=True))).numpy()
    e1 = check_function_preserved(tid, lambda X_: ref, rms_fn, X, rtol=rtol, what="RMSNorm vs x/√mean(x²)")
    e2 = check_function_preserved(tid, lambda X_: np.asarray(rms_fn(X_)) @ O.T, lambda X_: rms_fn(X_ @ O.T), X,
                                  rtol=rtol, what="RMSNorm(Ox) vs O·RMSNorm(x)")
    return max(e1, e2)


def check_layernorm(ln_fn, rms_fn, X, gain, bias, O_fix, *, rtol=1e-10):
    """T-S3: ``ln_fn(x, gain, bias)`` equals ``torch.nn.LayerNorm`` (ε = 0, population variance) and
    ``gain ⊙ RMSNorm(Mx) + bias``; with constant gain, ``bias ∝ 1`` and ``O`` fixing the all-ones vector,
    ``LN(Ox) = O·LN(x)`` (``rtol``). Returns the error."""
    import torch

    tid = "T-S3"
    X = np.asarray(X, float)
    D = X.shape[1]
    ln = torch.nn.LayerNorm(D, eps=0.0).double()
    with torch.no_grad():
        ln.weight.copy_(torch.as_tensor(gain))
        ln.bias.copy_(torch.as_tensor(bias))
        ref = ln(torch.as_tensor(X)).numpy()
    M = np.eye(D) - np.ones((D, D)) / D
    e1 = check_function_preserved(tid, lambda X_: ref, lambda X_: ln_fn(X_, gain, bias), X, rtol=rtol, what="LayerNorm vs torch")
    e2 = check_function_preserved(tid, lambda X_: ref, lambda X_: gain * np.asarray(rms_fn(X_ @ M.T)) + bias, X, rtol=rtol,
                                  what="LayerNorm vs gain ⊙ RMSNorm(Mx) + bias")
    g, b = float(gain[0]), float(bias[0])
    gc, bc = np.full(D, g), np.full(D, b)
    e3 = check_function_preserved(tid, lambda X_: np.asarray(ln_fn(X_, gc, bc)) @ O_fix.T, lambda X_: ln_fn(X_ @ O_fix.T, gc, bc),
                                  X, rtol=rtol, what="LN(Ox) vs O·LN(x) for O1 = 1")
    return max(e1, e2, e3)


def torch_attention(X, WQ, WK, WV, WO):
    """Single-head softmax attention ``softmax(QKᵀ/√d_k) V W_O`` with torch, ``Q = XW_Q`` etc."""
    import torch

    Xt = torch.as_tensor(np.asarray(X, float))
    Q, K, V = Xt @ torch.as_tensor(WQ), Xt @ torch.as_tensor(WK), Xt @ torch.as_tensor(WV)
    att = torch.softmax(Q @ K.T / math.sqrt(WQ.shape[1]), dim=-1)
    return (att @ V @ torch.as_tensor(WO)).numpy()


def check_attention_symmetry(transform_fn, scores_fn, X, WQ, WK, WV, WO, A, B, *, rtol=1e-9):
    """T-S4: ``scores_fn(X, W_Q, W_K) = (XW_Q)(XW_K)ᵀ``; after ``transform_fn(W_Q, W_K, W_V, W_O, A, B)`` the
    scores and the full torch softmax attention output are unchanged (``rtol``). Returns the error."""
    tid = "T-S4"
    X = np.asarray(X, float)
    e0 = check_function_preserved(tid, lambda X_: (X_ @ WQ) @ (X_ @ WK).T, lambda X_: scores_fn(X_, WQ, WK), X,
                                  rtol=1e-12, what="attention scores")
    Q2, K2, V2, O2 = (np.asarray(t, float) for t in transform_fn(WQ, WK, WV, WO, A, B))
    e1 = check_function_preserved(tid, lambda X_: scores_fn(X_, WQ, WK), lambda X_: scores_fn(X_, Q2, K2), X, rtol=rtol,
                                  what="attention scores under (W_Q A, W_K A^{−ᵀ})")
    e2 = check_function_preserved(tid, lambda X_: torch_attention(X_, WQ, WK, WV, WO),
                                  lambda X_: torch_attention(X_, Q2, K2, V2, O2), X, rtol=rtol,
                                  what="attention output under (A, B)")
    return max(e0, e1, e2)
