"""§6–7 of docs/theory.md: Lipschitz statements (T-C.7, T-C.8), the exact ReLU chord (T-chord-exact), chord
bounds (T-5.1 with eq. 31, T-D.1) and the barrier bound (T-5.2). Mirrors ``validation/test_thm_chord.py``."""

from __future__ import annotations

import math

import numpy as np
import scipy.special

from .common import fail


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


def check_chord_exact(exact_fn, w0, w1, cov, lam, *, n_mc=200_000, seed=0, rtol=1e-9, z=6.0, compare=True):
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
    if got.shape != ref.shape or (compare and np.any(err > rtol)):
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


def check_relu_chord_bound(bound_fn, w0, w1, cov, lams, *, rtol=1e-9, compare=True):
    """T-5.1: for each ``λ``, exact ``Δ_i(λ)`` (arc-cosine expansion here) ``≤ bound_fn(.., form="exact")
    ≤ bound_fn(.., form="cubic")`` with slack ``1e-13·(s0+s1)²`` (rounding of the 9-term expansion), and both
    equal the docs/theory.md forms to ``rtol``. Returns ``(worst ratio exact form, worst ratio cubic form)``."""
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
            if got.shape != want.shape or (compare and np.any(np.abs(got - want) > rtol * np.abs(want) + 1e-30 * s0 * s1)):
                fail(tid, f"λ={lam}: {form} bound {got[:3]} differs from docs/theory.md form {want[:3]}")
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


def theta_minus_sin(th):
    """``θ − sin θ`` without cancellation (series ``θ³/6 − θ⁵/120 + θ⁷/5040 − θ⁹/362880`` below 0.05)."""
    th = np.asarray(th, float)
    t2 = th * th
    series = th * t2 * (1 / 6 - t2 * (1 / 120 - t2 * (1 / 5040 - t2 / 362880)))
    return np.where(th < 0.05, series, th - np.sin(th))


def ref_relu_sharp_bound(w0, w1, cov, lam):
    """The sharp ReLU chord bound found by ``validation/`` (docs/theory.md, T-5.1 finding):
    ``λ(1−λ)s_0s_1(θ − sin θ)/π`` per neuron; ``≤ λ(1−λ)s_0s_1θ³/(6π)`` and ``≤`` the exact form of T-5.1,
    equal to ``Δ_i(1/2)`` when ``s_0 = s_1``."""
    s0, s1, th = sigma_geometry(w0, w1, cov)
    return lam * (1 - lam) * s0 * s1 * theta_minus_sin(th) / math.pi


def check_relu_sharp_bound(w0, w1, cov, lams):
    """T-5.1 finding: ``Δ_i(λ) ≤ λ(1−λ)s_0s_1(θ − sin θ)/π`` (hence ``≤ λ(1−λ)s_0s_1θ³/(6π)``) for each ``λ``, slack
    ``1e-13·(s0+s1)²`` as in :func:`check_relu_chord_bound`. Returns the worst ``Δ_i``/bound (where the bound is
    above ``1e4×`` the slack)."""
    s0, s1, _ = sigma_geometry(w0, w1, cov)
    slack = 1e-13 * (s0 + s1) ** 2
    worst = 0.0
    for lam in lams:
        dlt = ref_relu_chord(w0, w1, cov, lam)
        b = ref_relu_sharp_bound(w0, w1, cov, lam)
        if np.any(dlt > b + slack):
            i = int(np.argmax(dlt - b))
            fail("T-5.1", f"λ={lam}, neuron {i}: Δ_i = {dlt[i]:.10g} > λ(1−λ)s0s1(θ − sin θ)/π = {b[i]:.10g}")
        ok = b > 1e4 * slack
        if ok.any():
            worst = max(worst, float(np.max(dlt[ok] / b[ok])))
    return worst


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


def check_center_dominated(bound_fn, dominance_fn, w0, w1, fixed, cov, lams, *, rtol=1e-9, compare=True):
    """T-5.1, eq. 31: ``η = dominance_fn(w0, w1, fixed, cov)`` (per neuron, or one number) must equal
    ``‖w̃_i^{(c)} − f_i‖_Σ / ‖f_i‖_Σ`` maximized over ``c`` (and over ``i`` for one number); where
    ``η < 1``: ``θ_i ≤ 2 arcsin η_i``, ``s_0 s_1 ≤ (1+η_i)²‖f_i‖²_Σ`` and
    ``sup_λ Δ_φ(λ) ≤ bound_fn(fixed, cov, η)`` (= docs/theory.md form, ``rtol``). Returns the ratio
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
    if compare and abs(bound - want) > rtol * max(abs(want), 1e-300):
        fail(tid, f"center-dominated bound {bound:.10g} differs from docs/theory.md form {want:.10g}")
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


def check_smooth_chord_bound(bound_fn, act, beta, w0, w1, cov, lams, *, rtol=1e-9, compare=True):
    """T-D.1: ``Δ_i(λ)`` (Gauss–Hermite quadrature, 96² nodes) ``≤ bound_fn(w0, w1, cov, lam, beta)``
    (slack ``1e-9·(bound + 1e-12·s⁴)``), and ``bound_fn`` equals the docs/theory.md form to ``rtol``.
    Returns the worst ratio."""
    tid = "T-D.1"
    worst = 0.0
    for lam in lams:
        dlt = quad_chord(act, w0, w1, cov, lam)
        b = np.atleast_1d(np.asarray(bound_fn(w0, w1, cov, lam, beta), float))
        want = ref_smooth_chord_bound(w0, w1, cov, lam, beta)
        if b.shape != want.shape or (compare and np.any(np.abs(b - want) > rtol * np.abs(want) + 1e-300)):
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


def check_center_dominated_smooth(bound_fn, act, beta, w0, w1, fixed, cov, lams, *, rtol=1e-9, compare=True):
    """T-D.1 center-dominated corollary: with ``η_i = max_c ‖w̃_i^{(c)} − f_i‖_Σ / ‖f_i‖_Σ`` (computed
    here), ``bound_fn(fixed, cov, η, β)`` equals the docs/theory.md form to ``rtol`` and ``Δ_i(λ)``
    (Gauss–Hermite quadrature) ``≤ bound_i`` at every ``λ`` (slack ``1e-7`` relative + ``1e-14``).
    Returns the worst ratio ``Δ_i(λ) / bound_i``."""
    tid = "T-D.1"
    F = np.atleast_2d(fixed)
    eta = ref_center_dominance(w0, w1, F, cov)
    if np.any(eta >= 1):
        return None
    b = np.atleast_1d(np.asarray(bound_fn(F, cov, eta, beta), float))
    want = ref_center_dominated_smooth_bound(F, cov, eta, beta)
    if b.shape != want.shape or (compare and np.any(np.abs(b - want) > rtol * np.abs(want) + 1e-300)):
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



def cross_entropy_np(logits, y):
    """Per-sample cross-entropy ``logsumexp(z) − z_y`` (SciPy, independent of torch)."""
    z = np.asarray(logits, float)
    return scipy.special.logsumexp(z, axis=1) - z[np.arange(len(z)), np.asarray(y)]


def check_barrier_steps(lipschitz, lams, logits_path, logits0, logits1, y, *, loss=cross_entropy_np, tol=1e-12):
    """T-5.2 step by step, per sample ``x`` and per ``λ`` (logits from the network; loss recomputed here):
    (i) convexity ``ℓ(chord) ≤ (1−λ)ℓ(f_0) + λℓ(f_1)`` with ``chord = (1−λ)f_0 + λf_1``;
    (ii) Lipschitz ``ℓ(f_λ) − ℓ(chord) ≤ L‖f_λ − chord‖₂``;
    (iii) Jensen ``mean ‖f_λ − chord‖ ≤ √Δ_out(λ)``; and the composed statement
    ``𝓛(θ_λ) − (1−λ)𝓛_0 − λ𝓛_1 ≤ L√Δ_out(λ)`` (slack ``tol·(1 + |ℓ|)``).
    Returns a dict of worst ratios: ``convexity`` (``ℓ(chord)`` excess over the endpoints' mean, ≤ 0 is the
    statement), ``lipschitz`` (``(ℓ(f_λ) − ℓ(chord))/(L‖f_λ − chord‖)``), ``jensen`` and ``total``."""
    tid = "T-5.2"
    f0, f1 = np.asarray(logits0, float), np.asarray(logits1, float)
    l0, l1 = loss(f0, y), loss(f1, y)
    L0, L1 = float(np.mean(l0)), float(np.mean(l1))
    out = dict(convexity=-np.inf, lipschitz=0.0, jensen=0.0, total=0.0)
    for lam, fl in zip(lams, logits_path):
        fl = np.asarray(fl, float)
        ch = (1 - lam) * f0 + lam * f1
        lc, ll = loss(ch, y), loss(fl, y)
        scale = tol * (1 + np.abs(lc) + np.abs(ll) + np.abs(l0) + np.abs(l1))
        gap = lc - ((1 - lam) * l0 + lam * l1)
        if np.any(gap > scale):
            i = int(np.argmax(gap - scale))
            fail(tid, f"λ={lam:.3g}, sample {i}: convexity fails, ℓ(chord) exceeds (1−λ)ℓ_0 + λℓ_1 by {gap[i]:.3g}")
        dist = np.linalg.norm(fl - ch, axis=1)
        if np.any(ll - lc > lipschitz * dist + scale):
            i = int(np.argmax(ll - lc - lipschitz * dist))
            fail(tid, f"λ={lam:.3g}, sample {i}: ℓ(f_λ) − ℓ(chord) = {ll[i] - lc[i]:.8g} > L‖f_λ − chord‖ = "
                      f"{lipschitz * dist[i]:.8g}")
        ok = dist > 0
        if ok.any():
            out["lipschitz"] = max(out["lipschitz"], float(np.max((ll[ok] - lc[ok]) / (lipschitz * dist[ok]))))
        dout = float(np.mean(dist**2))
        if float(np.mean(dist)) > math.sqrt(dout) * (1 + 1e-12):
            fail(tid, f"λ={lam:.3g}: mean ‖f_λ − chord‖ > √Δ_out")
        excess = float(np.mean(ll)) - (1 - lam) * L0 - lam * L1
        b = lipschitz * math.sqrt(dout)
        if excess > b + tol * (1 + abs(L0) + abs(L1)):
            fail(tid, f"λ={lam:.3g}: loss excess {excess:.8g} > L√Δ_out = {b:.8g}")
        if dout > 0:
            out["jensen"] = max(out["jensen"], float(np.mean(dist)) / math.sqrt(dout))
            out["total"] = max(out["total"], excess / b)
        out["convexity"] = max(out["convexity"], float(np.max(gap)))
    return out


def center_dominated_steps(w0, w1, fixed, cov, eta, lams):
    """Intermediate ratios of the eq. 31 chain (each ≤ 1 when the step holds, 1 when it is attained):
    ``θ`` step ``max θ_i/(2 arcsin η_i)``, norm step ``max s_0s_1/((1+η_i)²‖f_i‖²_Σ)``, T-5.1 step
    ``sup_λ Δ_φ / sup_λ Σ_i T-5.1 bound`` and the last step ``sup_λ Σ_i T-5.1 bound / eq. 31 bound``
    (``λ(1−λ) ≤ ¼``, ``g`` increasing). Returns a dict with those four and ``total = sup Δ_φ / eq. 31 bound``."""
    F = np.atleast_2d(fixed)
    nf2 = np.einsum("ij,jk,ik->i", F, cov, F)
    e = np.broadcast_to(np.asarray(eta, float), nf2.shape)
    s0, s1, th = sigma_geometry(w0, w1, cov)
    sup = max(float(np.sum(ref_relu_chord(w0, w1, cov, lam))) for lam in lams)
    t51 = max(float(np.sum(ref_relu_chord_bound(w0, w1, cov, lam))) for lam in lams)
    b31 = ref_center_dominated_bound(F, cov, e)
    return dict(theta=float(np.max(th / (2 * np.arcsin(e)))), norms=float(np.max(s0 * s1 / ((1 + e) ** 2 * nf2))),
                t51=sup / t51 if t51 > 0 else 0.0, last=t51 / b31, total=sup / b31)


def tangent_pair(eta, d=2):
    """eq. 31 targeted: ``f = e_1`` and endpoints on the two tangents from 0 to the ball ``B(f, η‖f‖)``:
    ``w = cos α (cos α e_1 ± sin α e_2)``, ``α = arcsin η``, so ``‖w − f‖ = η`` and ``θ = 2 arcsin η`` exactly.
    Returns ``(w0, w1, F)`` (one neuron, ``Σ = I``)."""
    a = math.asin(eta)
    F = np.zeros((1, d))
    F[0, 0] = 1.0
    w0, w1 = np.zeros((1, d)), np.zeros((1, d))
    w0[0, :2] = math.cos(a) * np.array([math.cos(a), math.sin(a)])
    w1[0, :2] = math.cos(a) * np.array([math.cos(a), -math.sin(a)])
    return w0, w1, F
