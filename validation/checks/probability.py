"""Probabilistic statements of docs/theory.md (§11 statistics): Gram concentration (T-4.4), center gaps (T-4.6),
reindexing visibility (T-4.8b). Mirrors ``validation/test_thm_probability.py``."""

from __future__ import annotations

import itertools
import math

import numpy as np
import scipy.integrate
import scipy.optimize
import scipy.special
import scipy.stats

from .common import BINOMIAL_LEVEL, binomial_check, check_probabilistic, fail
from .costs import ref_coherence
from .sensitivity import reindexed


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
# T-4.4: exact routes (enumeration of the mask law, the Bernstein root, the proof's ingredients)
# --------------------------------------------------------------------------------------------

def enumerate_masks(d, keep_prob=None, n_fixed=None):
    """Every binary row ``d_i ∈ {0,1}^d`` with its probability: i.i.d. Bernoulli(``keep_prob``) entries
    (``2^d`` rows) or exactly ``n_fixed`` zeros at uniform positions (``C(d, m)`` rows). ``d ≤ 16``."""
    if d > 16:
        raise ValueError(f"enumerate_masks: d must be ≤ 16, got {d}")
    if (keep_prob is None) == (n_fixed is None):
        raise ValueError("enumerate_masks: give exactly one of keep_prob, n_fixed")
    if keep_prob is not None:
        rows = np.array(list(itertools.product([0.0, 1.0], repeat=d)))
        k = rows.sum(axis=1)
        probs = keep_prob**k * (1 - keep_prob) ** (d - k)
    else:
        rows = []
        for zeros in itertools.combinations(range(d), n_fixed):
            r = np.ones(d)
            r[list(zeros)] = 0.0
            rows.append(r)
        rows = np.array(rows)
        probs = np.full(len(rows), 1.0 / len(rows))
    return rows, probs


def exact_gram_deviation_law(basis, rows, probs, mu):
    """``(values, probs, E[S])``: the exact law of ``‖S_i − μI‖₂`` over the enumerated rows, and ``E[S_i]``."""
    U = np.asarray(basis, float)
    S = np.einsum("nj,ja,jb->nab", rows * rows, U, U)
    lam = np.linalg.eigvalsh(S)
    dev = np.maximum(np.abs(lam[:, -1] - mu), np.abs(lam[:, 0] - mu))
    return dev, probs, np.einsum("n,nab->ab", probs, S)


def check_gram_exact_tail(bound_of, basis, rows, probs, mu, deltas, *, rtol=1e-12):
    """T-4.4 without statistics: with the law of ``d_i`` enumerated (``rows``, ``probs``), (a) ``E[S_i] = μI``
    exactly (``rtol``); (b) for every ``δ`` the exact ``P(‖S_i − μI‖₂ > bound_of(ν, k, δ)) ≤ δ`` (``rtol`` on
    the probability). Returns the per-``δ`` ratios ``q(δ)/bound(δ)``, ``q(δ)`` the smallest ``t`` with
    ``P(dev > t) ≤ δ`` (the bound holds iff every ratio is ≤ 1; a bound off by 2 fails where a ratio exceeds ½)."""
    tid = "T-4.4"
    U = np.asarray(basis, float)
    k = U.shape[1]
    nu = float(np.max(np.sum(U * U, axis=1)))
    dev, pr, ES = exact_gram_deviation_law(U, rows, probs, mu)
    e = float(np.max(np.abs(ES - mu * np.eye(k))))
    if e > rtol * max(1.0, mu):
        fail(tid, f"E[S_i] differs from μI by {e:.3g} (exact enumeration)")
    order = np.argsort(dev)
    dv, pv = dev[order], pr[order]
    tail = 1.0 - np.cumsum(pv)  # P(dev > dv[j])
    ratios = []
    for delta in deltas:
        b = float(bound_of(nu, k, delta))
        p_exceed = float(np.sum(pr[dev > b * (1 + 1e-12)]))
        if p_exceed > delta * (1 + rtol) + rtol:
            fail(tid, f"δ={delta:g}: exact P(‖S − μI‖ > {b:.6g}) = {p_exceed:.6g} > δ")
        q = float(dv[np.argmax(tail <= delta + 1e-15)])
        ratios.append(q / b if b > 0 else np.inf)
    return np.array(ratios)


def bernstein_root(var, dev, k, delta):
    """The ``t`` at which matrix Bernstein's tail ``2k·exp(−(t²/2)/(v + bt/3))`` equals ``δ`` (``v = σ_d²ν``,
    ``b = bν``), found by root bracketing on the tail itself (not by the algebraic closed form)."""
    def tail(t):
        return math.log(2 * k) - t * t / 2 / (var + dev * t / 3) - math.log(delta)

    hi = 1.0
    while tail(hi) > 0:
        hi *= 2
    return scipy.optimize.brentq(tail, 0.0, hi, xtol=1e-15, rtol=1e-15)


def check_bernstein_closed_form(bound_fn, nu, k, delta, var, dev):
    """T-4.4, independent derivation of the closed form: with ``t_B`` the Bernstein root
    (:func:`bernstein_root`, ``v = σ_d²ν``, ``b = bν``, ``L = log(2k/δ)``), the stated form must satisfy
    ``t_B ≤ bound ≤ t_B + bL/3`` (relative 1e-12): ``√(a² + c) ≤ a + √c`` with ``a = bL/3``, ``c = 2vL`` is the
    only relaxation. Returns ``bound / t_B``."""
    tid = "T-4.4"
    b = float(bound_fn(nu, k, delta, var, dev))
    root = bernstein_root(var * nu, dev * nu, k, delta)
    L = math.log(2 * k / delta)
    if b < root * (1 - 1e-12):
        fail(tid, f"bound {b:.10g} is below the Bernstein root {root:.10g} (ν={nu:g}, k={k}, δ={delta:g})")
    if b > (root + dev * nu * L / 3) * (1 + 1e-12):
        fail(tid, f"bound {b:.10g} exceeds Bernstein root + bνL/3 = {root + dev * nu * L / 3:.10g}")
    return b / root if root > 0 else 1.0


def check_mask_moments(moments_fn, keep_prob, *, rtol=1e-12):
    """T-4.4 binary masks: ``moments_fn(p) = (μ, σ_d², b)`` equals the moments of ``s = d²`` computed from the
    two-point law (``P(s=1) = p``): ``μ = E s``, ``σ_d² = E(s − μ)²``, ``b = max |s − μ|``. Returns the error."""
    vals, pr = np.array([0.0, 1.0]), np.array([1 - keep_prob, keep_prob])
    mu = float(pr @ vals)
    var = float(pr @ (vals - mu) ** 2)
    b = float(np.max(np.abs(vals - mu)[pr > 0])) if keep_prob not in (0.0, 1.0) else float(np.max(np.abs(vals - mu)))
    got = np.asarray(moments_fn(keep_prob), float)
    want = np.array([mu, var, max(keep_prob, 1 - keep_prob)])
    # b may be any a.s. bound; the stated b = max(p, 1−p) must dominate the exact sup |s − μ| on the support
    if abs(got[0] - mu) > rtol or abs(got[1] - var) > rtol or got[2] < b - rtol:
        fail("T-4.4", f"mask_moments({keep_prob}) = {got}, two-point law gives μ={mu}, σ²={var}, sup|s−μ|={b}")
    return float(np.max(np.abs(got - want)))


def check_bernstein_ingredients(basis, mu, var, dev, values, probs, *, rtol=1e-10):
    """T-4.4 proof ingredients, exactly, for entries ``d_ij`` with the discrete law ``values``/``probs``:
    ``E[d²] = μ``, ``Var(d²) = σ_d²``, ``|d² − μ| ≤ b`` (``rtol``); summands ``X_j = (d_j² − μ)u_ju_jᵀ`` are
    centered with ``max ‖X_j‖ = max|s − μ|·ν ≤ bν`` and ``‖Σ_j E X_j²‖ = σ_d²‖Σ_j ‖u_j‖² u_ju_jᵀ‖ ≤ σ_d²ν``.
    Returns ``(max ‖X_j‖/(bν), variance proxy/(σ_d²ν))`` (both 1 for a coordinate basis and ``b`` exact)."""
    tid = "T-4.4"
    U = np.asarray(basis, float)
    v, p = np.asarray(values, float) ** 2, np.asarray(probs, float)
    m = float(p @ v)
    s2 = float(p @ (v - m) ** 2)
    sup = float(np.max(np.abs(v - m)[p > 0]))
    if abs(m - mu) > rtol or abs(s2 - var) > rtol or sup > dev + rtol:
        fail(tid, f"moments (μ, σ², sup|s−μ|) = ({m}, {s2}, {sup}), claimed ({mu}, {var}, b={dev})")
    lev = np.sum(U * U, axis=1)
    nu = float(lev.max())
    summand = sup * nu
    proxy = float(np.linalg.norm(s2 * (U.T * lev) @ U, 2))
    if summand > dev * nu * (1 + rtol) or proxy > var * nu * (1 + rtol) + rtol:
        fail(tid, f"summand norm {summand:.6g} vs bν = {dev * nu:.6g}; variance proxy {proxy:.6g} vs σ²ν = {var * nu:.6g}")
    return summand / (dev * nu) if dev * nu > 0 else 0.0, proxy / (var * nu) if var * nu > 0 else 0.0


def check_gram_tail_curve(bound_of, basis, sample_diag_row, mu, deltas, trials, rng, *, level=BINOMIAL_LEVEL):
    """T-4.4 statistically at several ``δ`` on ONE sample set of ``trials`` rows: for each ``δ`` the binomial
    test of §11 at ``level/len(deltas)`` (Bonferroni). Returns per-``δ`` ``(violations, worst ratio)`` where the
    ratio is the empirical ``(1−δ)``-quantile of ``‖S_i − μI‖`` over the bound."""
    U = np.asarray(basis, float)
    k = U.shape[1]
    nu = float(np.max(np.sum(U * U, axis=1)))
    rows = np.array([sample_diag_row(rng) for _ in range(trials)])
    lam = np.linalg.eigvalsh(np.einsum("nj,ja,jb->nab", rows * rows, U, U))
    dev = np.maximum(np.abs(lam[:, -1] - mu), np.abs(lam[:, 0] - mu))
    out = []
    for delta in deltas:
        b = float(bound_of(nu, k, delta))
        v = int(np.sum(dev > b))
        binomial_check("T-4.4", v, trials, delta, level / len(deltas))
        out.append((v, float(np.quantile(dev, 1 - delta)) / b))
    return out


# --------------------------------------------------------------------------------------------
# T-4.6: independent densities and ball volume, pairwise form, vectorized gap frequencies
# --------------------------------------------------------------------------------------------

def quad_unit_ball_volume(k):
    """``ω_k`` by quadrature: ``ω_1 = 2``, ``ω_k = ∫_{−1}^{1} ω_{k−1}(1 − x²)^{(k−1)/2} dx`` (slices)."""
    w = 2.0
    for j in range(2, k + 1):
        w *= scipy.integrate.quad(lambda x: (1 - x * x) ** ((j - 1) / 2), -1, 1, epsabs=1e-14, epsrel=1e-13)[0]
    return w


def gaussian_density_max(cov):
    """``sup`` of the ``N(0, cov)`` density (its value at 0), from ``scipy.stats.multivariate_normal``."""
    cov = np.atleast_2d(np.asarray(cov, float))
    return float(scipy.stats.multivariate_normal(mean=np.zeros(cov.shape[0]), cov=cov).pdf(np.zeros(cov.shape[0])))


def check_density_bounds(tid, densities, covs, *, rtol=1e-10):
    """``densities[i]`` equals the maximum of the ``N(0, covs[i])`` density (scipy, ``rtol``). Returns the error."""
    got = np.broadcast_to(np.asarray(densities, float), (len(covs),))
    want = np.array([gaussian_density_max(c) for c in covs])
    err = float(np.max(np.abs(got - want) / want))
    if err > rtol:
        fail(tid, f"center densities {got[:3]} differ from the N(0, σ_F²T_i) maximum {want[:3]} (scipy)")
    return err


def ref_pairwise_gap_probability_bound(t, k, covs):
    """T-4.6 pairwise form: ``Σ_{i<j} (2π)^{−k/2} det(C_i + C_j)^{−1/2} ω_k t^k`` for ``v_i ~ N(0, C_i)``
    (``C_i = σ_F² T_i``): the density of ``v_i − v_j`` is at most its value at 0."""
    covs = np.asarray(covs, float)
    n = covs.shape[0]
    s = sum(gaussian_density_max(covs[i] + covs[j]) for i in range(n) for j in range(i + 1, n))
    return s * quad_unit_ball_volume(k) * t**k


def min_gaps_batch(centers):
    """``δ_min`` of each instance in a batch ``(N, n, k)``."""
    c = np.asarray(centers, float)
    g = np.sum((c[:, :, None, :] - c[:, None, :, :]) ** 2, axis=3)
    n = c.shape[1]
    g[:, np.arange(n), np.arange(n)] = np.inf
    return np.sqrt(g.reshape(len(c), -1).min(axis=1))


def check_center_gap_rate(t_star, sample_batch, delta, trials, rng, *, max_floats=2_000_000):
    """T-4.6 statistically, vectorized: ``sample_batch(rng, m)`` draws ``m`` instances ``(m, n, k)``;
    ``P(δ_min < t*) ≤ δ'`` by the binomial test (§11); chunks keep the pairwise array under ``max_floats``
    numbers. Returns ``(violations, trials, rate/δ')``."""
    v = 0
    done = 0
    chunk = None
    while done < trials:
        if chunk is None:
            shape = np.shape(sample_batch(np.random.default_rng(0), 1))
            chunk = max(1, max_floats // (shape[1] * shape[1] * shape[2]))
        m = min(chunk, trials - done)
        v += int(np.sum(min_gaps_batch(sample_batch(rng, m)) < t_star))
        done += m
    binomial_check("T-4.6", v, trials, delta)
    return v, trials, v / trials / delta


# --------------------------------------------------------------------------------------------
# T-4.8b: the exact χ² law behind the Laurent–Massart bound
# --------------------------------------------------------------------------------------------

def chi2_event_probability(n):
    """Exact ``P(‖F_p − F_q‖² < nσ_F²) = P(χ²_n < n/2)`` (scipy's regularized incomplete gamma)."""
    return float(scipy.stats.chi2.cdf(n / 2, n))


def check_chi2_tail_bound(bound_fn, n_max=4000, n_min=1):
    """T-4.8b deterministically: ``P(χ²_n < n/2) ≤ bound_fn(n)`` for every ``n = 1..n_max`` (log scale,
    relative 1e-12). ``e^{−n/16}`` holds with worst ratio 0.554 (n = 1); halving it fails at n = 1, ``e^{−n/8}``
    fails from n = 73 on (the exact rate is ``(1 − ln 2)/2 ≈ 1/10.35``). Returns ``(worst ratio, its n)``."""
    n = np.arange(n_min, n_max + 1)
    lp = scipy.stats.chi2.logcdf(n / 2, n)
    lb = np.log(np.array([float(bound_fn(int(m))) for m in n]))
    r = lp - lb
    if np.any(r > 1e-12):
        bad = n[r > 1e-12]
        fail("T-4.8b", f"exact P(χ²_n < n/2) exceeds the bound at n = {bad[:5].tolist()}…: "
                       f"P = {math.exp(lp[bad[0] - n_min]):.4g} > {math.exp(lb[bad[0] - n_min]):.4g}")
    j = int(np.argmax(r))
    return float(math.exp(r[j])), int(n[j])


def check_chi2_law(n, sigma_f, trials, rng, *, level=BINOMIAL_LEVEL, prob_fn=chi2_event_probability):
    """T-4.8b, the distributional claim: for ``F`` i.i.d. ``N(0, σ_F²)``, ``‖F_p − F_q‖²/(2σ_F²) ~ χ²_n``
    (Kolmogorov–Smirnov, p ≥ ``level``) and the frequency of ``‖F_p − F_q‖² < nσ_F²`` matches
    ``prob_fn(n)`` two-sided (exact binomial test, p ≥ ``level``). Returns ``(frequency, prob_fn(n))``."""
    tid = "T-4.8b"
    F = sigma_f * rng.standard_normal((trials, n, 2))
    stat = np.sum((F[:, :, 0] - F[:, :, 1]) ** 2, axis=1)
    ks = scipy.stats.kstest(stat / (2 * sigma_f**2), scipy.stats.chi2(n).cdf).pvalue
    if ks < level:
        fail(tid, f"‖F_p − F_q‖²/(2σ_F²) is not χ²_{n}: KS p = {ks:.3g}")
    v = int(np.sum(stat < n * sigma_f**2))
    p = float(prob_fn(n))
    pv = scipy.stats.binomtest(v, trials, min(max(p, 0.0), 1.0)).pvalue
    if pv < level:
        fail(tid, f"frequency {v}/{trials} = {v / trials:.4g} vs P = {p:.4g} (two-sided binomial p = {pv:.3g})")
    return v / trials, p


def check_ball_volume(volume_fn, ks=range(1, 9), *, rtol=1e-10):
    """T-4.6: ``volume_fn(k)`` equals the unit-ball volume by slice quadrature (:func:`quad_unit_ball_volume`),
    independent of ``π^{k/2}/Γ(k/2+1)``. Returns the worst relative error."""
    worst = 0.0
    for k in ks:
        got, want = float(volume_fn(k)), quad_unit_ball_volume(k)
        e = abs(got - want) / want
        if e > rtol:
            fail("T-4.6", f"ω_{k} = {got:.12g}, slice quadrature gives {want:.12g}")
        worst = max(worst, e)
    return worst
