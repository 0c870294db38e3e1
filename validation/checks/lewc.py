"""§9 of docs/theory.md: weak additivity (T-WA) and the LEWC error recursion (T-5.3).
Mirrors ``validation/test_thm_lewc.py``."""

from __future__ import annotations

import math

import numpy as np

from .chord import ACTIVATIONS, ref_relu_cross_moment
from .common import fail


def ref_gaussian_wa(var_u, var_v, corr):
    """T-WA limit by the arc-cosine kernel."""
    cuv = corr * math.sqrt(var_u * var_v)
    vs = var_u + var_v + 2 * cuv
    num = ref_relu_cross_moment(vs, var_u, var_u + cuv) + ref_relu_cross_moment(vs, var_v, var_v + cuv)
    e_s2 = vs / 2
    e_sum2 = var_u / 2 + var_v / 2 + 2 * ref_relu_cross_moment(var_u, var_v, cuv)
    return num / math.sqrt(e_s2 * e_sum2)


def polar_gaussian_wa(var_u, var_v, corr):
    """T-WA limit by the polar form, exact up to rounding and independent of the kernel formula.

    With ``(U, V) = (s_u g_1, s_v(ρg_1 + √(1−ρ²)g_2))`` and ``g = r(cos φ, sin φ)`` standard normal, every moment
    ``E[h(U, V)]`` of a function homogeneous of degree 2 (products of two ReLUs of linear forms) separates:
    ``E[h] = E[r²]·(1/2π)∫₀^{2π} h(cos φ, sin φ) dφ = (1/π)∫₀^{2π} h dφ``. The angular integrand is a trigonometric
    polynomial between the kinks (the angles where ``U``, ``V`` or ``U + V`` vanishes): an entire function on each
    piece, so Gauss–Legendre quadrature per piece converges faster than geometrically (40 nodes; the result must
    agree with 60 nodes to ``1e-14``, else ``RuntimeError``)."""
    su, sv = math.sqrt(var_u), math.sqrt(var_v)
    c = math.sqrt(max(1 - corr**2, 0.0))
    lu = np.array([su, 0.0])
    lv = np.array([sv * corr, sv * c])

    def kinks(l):
        if not np.any(l):
            return []
        a = math.atan2(-l[0], l[1])  # l·(cos a, sin a) = 0
        return [a % (2 * math.pi), (a + math.pi) % (2 * math.pi)]

    pts = sorted(set(kinks(lu) + kinks(lv) + kinks(lu + lv)))
    edges = np.array([0.0] + [p for p in pts if 0.0 < p < 2 * math.pi] + [2 * math.pi])

    def moments(nodes):
        t, w = np.polynomial.legendre.leggauss(nodes)
        lo, hi = edges[:-1, None], edges[1:, None]
        phi = (0.5 * (hi - lo) * t[None, :] + 0.5 * (hi + lo)).ravel()
        wt = (0.5 * (hi - lo) * w[None, :]).ravel()
        x, y = np.cos(phi), np.sin(phi)
        u, v = lu[0] * x + lu[1] * y, lv[0] * x + lv[1] * y
        r = lambda z: np.maximum(z, 0.0)  # noqa: E731
        s_, t_ = r(u + v), r(u) + r(v)
        return np.array([wt @ (s_ * t_), wt @ (s_ * s_), wt @ (t_ * t_)]) / math.pi

    m = moments(40)
    if np.max(np.abs(m - moments(60))) > 1e-14 * max(1.0, float(np.max(np.abs(m)))):
        raise RuntimeError("polar quadrature did not converge")
    num, e_s2, e_sum2 = m
    return float(num / math.sqrt(e_s2 * e_sum2))


def empirical_wa(u, v):
    r = ACTIVATIONS["relu"]
    a, b = r(u + v), r(u) + r(v)
    return float(a @ b / math.sqrt((a @ a) * (b @ b)))


def check_wa_limit(limit_fn, var_u, var_v, corr, dims, reps, seed, *, z=6.0, compare=True):
    """T-WA: ``limit_fn(var_u, var_v, corr)`` equals the kernel formula (``1e-10``, ``compare=True``) and the
    polar form (:func:`polar_gaussian_wa`, ``1e-10``, always); for each ``dim`` the mean of ``reps`` empirical cosines is within
    ``z·SE + 2/dim`` of the limit, and the spread shrinks like ``1/√dim`` (std ratio between
    consecutive dims within ``[0.5, 2]×`` of ``√(dim₂/dim₁)``). Returns the max |mean − limit|/SE."""
    tid = "T-WA"
    lim = float(limit_fn(var_u, var_v, corr))
    ref = ref_gaussian_wa(var_u, var_v, corr)
    if compare and abs(lim - ref) > 1e-10:
        fail(tid, f"WA limit {lim:.12g} differs from the kernel formula {ref:.12g}")
    qd = polar_gaussian_wa(var_u, var_v, corr)
    if not abs(lim - qd) <= 1e-10:
        fail(tid, f"WA limit {lim:.12g} differs from the polar form {qd:.12g}")
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
    ``‖e_ℓ‖ ≤ bound_terms(wa_term, c_ℓ, ‖W^λ‖₂, ‖e_{ℓ−1}‖)`` (the docs/theory.md right side by default);
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
