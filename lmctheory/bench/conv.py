"""Realization costs of a convolution at a realistic size: streamed/subsampled patches vs materializing them.

Layer: :class:`lmctheory.nn.AsymmetricConv2d` (W-asymmetric, ``σ_F = 1``), 256 output channels, 128 input
channels, 3×3 kernel, padding 1 — rows of length ``d = 128·9 = 1152``. Inputs: feature maps
``(64, 128, 16, 16)`` whose channels mix 16 random spatial fields plus 5% noise (trained features are
low-dimensional; purely random maps would need ``k ≈ 0.9·d`` directions), i.e. 16 384 patches.

Methods, each in its own fresh subprocess (:func:`lmctheory.nn.estimate.estimate_realization_costs`):

- baseline ``all``: every patch unfolded at once (16 384 × 1152 float64 = 144 MiB) and the exact SVD
  (``max_samples`` above the patch count);
- ours ``stream`` (the default for more than ``max_samples`` patches): exact covariance accumulated over
  chunks of patches unfolded on the fly (memory ``O(d² + chunk)``), eigendecomposition;
- ours ``subsample``: exact SVD of the default ``max_samples`` patches (3640 = 2²²//d) drawn
  uniformly (seeded). ``--quick``: a small layer, ``max_samples`` a quarter of its patches.

Reported: wall time of one call (after a warm-up call on a tiny layer, so the Numba cache is loaded),
the part of it spent in :func:`lmctheory.realization_costs`, peak memory as ``ru_maxrss`` minus the RSS
just before the call (as :mod:`lmctheory.bench.costs`), ``k``, and agreement with the baseline: the sine
of the largest principal angle between the smaller basis' span and the larger one's
(``‖U − U_b U_bᵀ U‖₂``) and the max relative difference of finite costs (large when ``k`` differs:
then the costs live on different bases).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from ._measure import load_average, maxrss_mb, rss_mb

NAME = "conv"

#: (N images, C_in, H=W, C_out, kernel, mixed fields) per mode.
SIZES = {False: (64, 128, 16, 256, 3, 16), True: (16, 16, 8, 32, 3, 4)}


def _child(method: str, stem: str) -> dict:
    import torch

    import lmctheory as lt
    from lmctheory.nn import AsymmetricConv2d
    from lmctheory.nn.estimate import estimate_realization_costs

    torch.set_num_threads(1)
    cfg = json.load(open(f"{stem}.json"))
    maps = np.load(f"{stem}_maps.npy")
    torch.manual_seed(0)  # the same trainable weights in every child
    conv = AsymmetricConv2d(cfg["cin"], cfg["cout"], cfg["k"], padding=cfg["k"] // 2, mode="wasym", sigma_f=1.0,
                            mask_seed=0)
    # warm-up: load the Numba cache outside the timing
    estimate_realization_costs(AsymmetricConv2d(2, 4, 3), np.random.default_rng(0).standard_normal((4, 2, 5, 5)))
    cap = cfg["max_samples"]
    kw = {"all": dict(max_samples=10**12), "stream": dict(large="stream", max_samples=cap),
          "subsample": dict(large="subsample", seed=0, max_samples=cap)}[method]
    rss0 = rss_mb()
    t0 = time.perf_counter()
    est = estimate_realization_costs(conv, maps, 0.9, **kw)
    sec = time.perf_counter() - t0
    peak = maxrss_mb()
    E, F, D = conv.export()
    t1 = time.perf_counter()
    lt.realization_costs(E, F, D, est.basis)
    costs_s = time.perf_counter() - t1
    np.save(f"{stem}_{method}_U.npy", est.basis)
    np.save(f"{stem}_{method}_C.npy", est.costs)
    return {"seconds": sec, "costs_s": costs_s, "rss_before_mb": rss0, "peak_rss_mb": peak,
            "peak_delta_mb": peak - rss0, "k": est.k, "ratio": est.ratio, "sampling": est.sampling,
            "n_samples": est.n_samples, "n_available": est.n_available}


def _spawn(method: str, stem: str) -> dict:
    cmd = [sys.executable, "-m", "lmctheory.bench.conv", "--child", method, stem]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"benchmark child {method} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _save_inputs(tmp: str, quick: bool, seed: int = 0) -> tuple[str, dict]:
    N, cin, hw, cout, k, r = SIZES[quick]
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((N, r, hw, hw))
    A = rng.standard_normal((cin, r)) / np.sqrt(r)
    maps = np.einsum("cr,nrhw->nchw", A, Z) + 0.05 * rng.standard_normal((N, cin, hw, hw))
    stem = os.path.join(tmp, "conv")
    np.save(f"{stem}_maps.npy", maps.astype(np.float32))
    # full size: the package's default max_samples (2²²//d = 3640 patches); quick: a quarter of the patches
    cfg = dict(N=N, cin=cin, hw=hw, cout=cout, k=k, r=r, d=cin * k * k, patches=N * hw * hw,
               max_samples=(N * hw * hw) // 4 if quick else None)
    json.dump(cfg, open(f"{stem}.json", "w"))
    return stem, cfg


def _agreement(stem: str, method: str) -> tuple[float, float]:
    Ub, Cb = np.load(f"{stem}_all_U.npy"), np.load(f"{stem}_all_C.npy")
    U, C = np.load(f"{stem}_{method}_U.npy"), np.load(f"{stem}_{method}_C.npy")
    small, big = (U, Ub) if U.shape[1] <= Ub.shape[1] else (Ub, U)
    dist = float(np.linalg.norm(small - big @ (big.T @ small), 2))  # sin of the largest principal angle
    fin = np.isfinite(C) & np.isfinite(Cb)
    rel = float(np.max(np.abs(C[fin] - Cb[fin]) / np.maximum(np.abs(Cb[fin]), 1e-300))) if fin.any() else 0.0
    return dist, rel


def run(quick: bool = False) -> list[dict]:
    """Rows: streamed covariance vs materialized patches; seeded subsample vs materialized patches."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="lmct_bench_conv_") as tmp:
        stem, cfg = _save_inputs(tmp, quick)
        base = _spawn("all", stem)
        size = (f"C_out={cfg['cout']} C_in={cfg['cin']} {cfg['k']}x{cfg['k']} (d={cfg['d']}), "
                f"{cfg['patches']} patches")
        for method in ("stream", "subsample"):
            ours = _spawn(method, stem)
            dist, rel = _agreement(stem, method)
            rows.append({
                "name": f"conv estimate {method} vs all, {size}",
                "baseline_s": base["seconds"], "ours_s": ours["seconds"], "ratio": base["seconds"] / ours["seconds"],
                "peak_mem_baseline_mb": base["peak_delta_mb"], "peak_mem_ours_mb": ours["peak_delta_mb"],
                "k_baseline": base["k"], "k_ours": ours["k"], "n_samples": ours["n_samples"],
                "basis_distance": dist, "max_rel_cost_diff": rel,
                "costs_s_baseline": base["costs_s"], "costs_s_ours": ours["costs_s"],
                "notes": (f"{ours['sampling']}: {ours['n_samples']} of {ours['n_available']} patches, k={ours['k']} "
                          f"(all: k={base['k']}); peak RSS over call: all {base['peak_delta_mb']:.0f} MiB, "
                          f"{method} {ours['peak_delta_mb']:.0f} MiB; sin θ_max(U, U_b)={dist:.1e}, max rel cost "
                          f"diff {rel:.1e}; of which realization_costs {ours['costs_s']:.2f} s; {load_average()}"),
            })
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], sys.argv[3])))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=1, default=str))
