"""Monte Carlo kernels (:mod:`lmctheory.kernels.montecarlo`) vs vectorized NumPy baselines.

Two estimators (docs/theory.md §7 T-chord-exact, §9 T-WA):

``weak_additivity_cosine_mc``
    ``n_vectors`` cosines of ``dim``-dimensional Gaussian pairs. Baseline: NumPy ``Generator``
    normals for a block of vectors at a time (blocks of ~2²² pairs to bound memory), ``maximum``,
    row sums. Target: 10⁷ coordinate pairs under 2 s.
``chord_deviation_mc``
    ``n`` neurons × ``n_samples`` bivariate Gaussian pairs × ``m`` path positions. Baseline: the
    same sampling per neuron with NumPy arrays, all ``λ`` on the same samples.

Each timing is the best of ``repeats`` calls after a warm-up call (Numba cache load / compile is
excluded and reported in the notes as the first-call time in this process). The notes also give the
agreement of the two estimates in units of their combined standard error (different random
streams, so they agree statistically, not bit for bit).
"""

from __future__ import annotations

import math
import time

import numpy as np

NAME = "montecarlo"


def _best(fn, repeats):
    best = math.inf
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _numpy_wa(dim, n_vectors, seed):
    rng = np.random.default_rng(seed)
    block = max(1, (1 << 22) // dim)
    out = np.empty(n_vectors)
    for s in range(0, n_vectors, block):
        k = min(block, n_vectors - s)
        u = rng.standard_normal((k, dim))
        v = rng.standard_normal((k, dim))
        lft = np.maximum(u + v, 0.0)
        rgt = np.maximum(u, 0.0)
        rgt += np.maximum(v, 0.0)
        out[s : s + k] = np.einsum("ij,ij->i", lft, rgt) / np.sqrt(
            np.einsum("ij,ij->i", lft, lft) * np.einsum("ij,ij->i", rgt, rgt)
        )
    return out


def _numpy_chord(s0, s1, theta, lams, n_samples, seed):
    rng = np.random.default_rng(seed)
    mean = np.empty((lams.size, s0.size))
    sd = np.empty_like(mean)
    for i in range(s0.size):
        xi = rng.standard_normal(n_samples)
        eta = rng.standard_normal(n_samples)
        x = s0[i] * xi
        y = s1[i] * (math.cos(theta[i]) * xi + math.sin(theta[i]) * eta)
        rx, ry = np.maximum(x, 0.0), np.maximum(y, 0.0)
        for a, lam in enumerate(lams):
            h = np.maximum((1 - lam) * x + lam * y, 0.0) - (1 - lam) * rx - lam * ry
            h *= h
            mean[a, i] = h.mean()
            sd[a, i] = h.std(ddof=1)
    return mean, sd


def run(quick: bool = False) -> list[dict]:
    from lmctheory.chord import sigma_geometry, chord_deviation_mc, gaussian_relu_chord_deviation
    from lmctheory.lewc import gaussian_weak_additivity_cosine, weak_additivity_cosine_mc

    repeats = 2 if quick else 3
    rows = []

    # --- weak additivity cosine ---
    dim, nv = (1000, 1000) if quick else (1000, 10_000)
    t0 = time.perf_counter()
    weak_additivity_cosine_mc(10, n_vectors=2, seed=0)
    first = time.perf_counter() - t0
    ours_s, est = _best(lambda: weak_additivity_cosine_mc(dim, n_vectors=nv, seed=1), repeats)
    base_s, ref = _best(lambda: _numpy_wa(dim, nv, 1), repeats)
    se = math.sqrt(est.stderr**2 + ref.var(ddof=1) / ref.size)
    limit = gaussian_weak_additivity_cosine()
    rows.append({
        "name": f"weak_additivity_cosine_mc dim={dim} n_vectors={nv} ({dim * nv:.0e} pairs)",
        "baseline_s": base_s,
        "ours_s": ours_s,
        "ratio": base_s / ours_s,
        "notes": f"mean {est.mean:.6f} ± {est.stderr:.1e} (numpy {ref.mean():.6f}; |diff| = "
                 f"{abs(est.mean - ref.mean()) / se:.1f} se; Gaussian limit {limit:.6f}); "
                 f"first call in process {first:.2f} s; target 1e7 pairs < 2 s",
    })

    # --- chord deviation ---
    n, d, m, ns = (16, 8, 5, 50_000) if quick else (64, 16, 5, 100_000)
    rng = np.random.default_rng(2)
    w0, w1 = rng.standard_normal((2, n, d))
    A = rng.standard_normal((d, d))
    cov = A @ A.T / d
    lams = np.linspace(0.1, 0.9, m)
    t0 = time.perf_counter()
    chord_deviation_mc(w0[:1], w1[:1], cov, lams, n_samples=100, seed=0)
    first = time.perf_counter() - t0
    ours_s, est = _best(lambda: chord_deviation_mc(w0, w1, cov, lams, n_samples=ns, seed=3), repeats)
    s0, s1, theta = sigma_geometry(w0, w1, cov)
    base_s, (ref, sd) = _best(lambda: _numpy_chord(s0, s1, theta, lams, ns, 3), repeats)
    exact = gaussian_relu_chord_deviation(w0, w1, cov, lams)
    z_ours = np.abs(est.mean - exact) / est.stderr
    z_ref = np.abs(ref - exact) / (sd / math.sqrt(ns))
    rows.append({
        "name": f"chord_deviation_mc n={n} m={m} n_samples={ns}",
        "baseline_s": base_s,
        "ours_s": ours_s,
        "ratio": base_s / ours_s,
        "notes": f"vs exact T-chord-exact: max |z| ours {z_ours.max():.2f}, numpy {z_ref.max():.2f} "
                 f"(over {z_ours.size} entries); first call in process {first:.2f} s",
    })
    return rows
