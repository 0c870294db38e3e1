"""All-pairs realization costs: :func:`lmctheory.costs.realization_costs` vs the einsum-over-pinv baseline.

Baseline (``einsum_pinv_costs``, what the paper's released code does): build every ``S_i``, take
``np.linalg.pinv`` of each, then ``einsum("kij,ikK,Kij->ij")`` over the ``(k, n, n)`` tensor of
differences ``a_j − v_i`` (NumPy's default ``optimize=False``), plus the range test from the residual
``(I − S_iS_i†)(a_j − v_i)``. ``O(n²k²)`` time and ``k·n²`` numbers of memory.

Measurements (each method in its own fresh subprocess, inputs loaded from a ``.npy`` file):
wall time of one call (after a warm-up call of ours on a tiny input so that the Numba cache is
loaded), and peak memory as ``ru_maxrss`` (peak resident set size, which sees NumPy, BLAS and Numba
allocations alike) minus the RSS just before the call. Accuracy: max relative difference of the
finite off-diagonal entries, the diagonal separately (ours is computed directly, the baseline's
suffers the cancellation ``a_i − v_i``), and agreement of the ``+inf`` patterns. First-call JIT
time: a fresh process with an empty ``NUMBA_CACHE_DIR`` (compile) and with the cache warm (load).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

NAME = "costs"

#: (n, d, k) of the comparison with the baseline and of the large run, per mode.
SIZES = {
    False: {"compare": (1024, 1024, 128), "large": (4096, 2048, 256)},
    True: {"compare": (256, 256, 32), "large": (1024, 512, 64)},
}
MEASURE_COLD_JIT = {False: True, True: False}

_EIG_TOL_C = 10.0  # lmctheory.costs.EIG_TOL_C: the same pseudo-inverse cutoff for both methods


def einsum_pinv_costs(effective, fixed, diag, U, rtol=1e-8, optimize=False):
    """The straightforward method: ``pinv`` of every ``S_i`` then one ``einsum`` over ``(k, n, n)``.

    ``C[i,j] = Σ_{k,K} X[k,i,j] S_i†[k,K] X[K,i,j]`` with ``X[k,i,j] = a_j[k] − v_i[k]``; ``+inf``
    where ``‖(I − S_iS_i†)X[:,i,j]‖ > rtol·max(1, ‖X[:,i,j]‖)``. Pseudo-inverse cutoff
    ``10·k·ε·λ_max`` (``rcond``), as in :mod:`lmctheory.costs`.
    """
    A = effective @ U
    V = fixed @ U
    S = np.einsum("jp,ij,jq->ipq", U, diag * diag, U)
    k = U.shape[1]
    P = np.linalg.pinv(S, rcond=_EIG_TOL_C * k * np.finfo(float).eps, hermitian=True)
    X = A.T[:, None, :] - V.T[:, :, None]  # X[k, i, j] = a_j[k] − v_i[k]
    C = np.einsum("kij,ikK,Kij->ij", X, P, X, optimize=optimize)
    proj = np.einsum("ipq,iqr->ipr", S, P)
    res = X - np.einsum("ipq,qij->pij", proj, X, optimize=optimize)
    rn = np.sqrt(np.einsum("kij,kij->ij", res, res))
    xn = np.sqrt(np.einsum("kij,kij->ij", X, X))
    C[rn > rtol * np.maximum(1.0, xn)] = np.inf
    return C


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _child(method: str, inp: str, out: str | None) -> dict:
    """Run one method on the saved inputs in this (fresh) process; return timing and memory."""
    from lmctheory.costs import realization_costs

    if method == "jit":
        t0 = time.perf_counter()
        from lmctheory.synthetic import asymmetric_layer, random_basis

        lay = asymmetric_layer(6, 8, "wasym", seed=0)
        U = random_basis(8, 3, seed=0)
        t1 = time.perf_counter()
        realization_costs(lay.effective, lay.fixed, lay.diag, U)
        # a dense-path call too: both branches of the per-neuron kernel are compiled together
        realization_costs(lay.effective, lay.fixed, np.full((6, 8), 0.5), U)
        return {"seconds": time.perf_counter() - t1, "import_s": t1 - t0}
    E, F, D, U = (np.load(f"{inp}_{x}.npy") for x in "EFDU")
    if method == "ours":  # load the Numba cache outside the timing
        realization_costs(E[:4], F[:4], D[:4], U)
    rss0, max0 = _rss_mb(), _maxrss_mb()
    prof = {}
    t0 = time.perf_counter()
    if method == "ours":
        import lmctheory.costs as cm

        cm._PROFILE = prof
        C = realization_costs(E, F, D, U)
        cm._PROFILE = None
    elif method == "baseline":
        C = einsum_pinv_costs(E, F, D, U)
    else:
        raise ValueError(f"unknown method {method!r}")
    sec = time.perf_counter() - t0
    peak = _maxrss_mb()
    if out:
        np.save(out, C)
    return {"seconds": sec, "rss_before_mb": rss0, "peak_rss_mb": peak,
            "peak_delta_mb": peak - rss0, "peak_before_call_mb": max0, "stages": prof}


def _spawn(method: str, inp: str = "", out: str = "", env: dict | None = None) -> dict:
    cmd = [sys.executable, "-m", "lmctheory.bench.costs", "--child", method, inp or "-", out or "-"]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if res.returncode != 0:
        raise RuntimeError(f"benchmark child {method} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _save_inputs(tmp: str, n: int, d: int, k: int, seed: int = 0) -> str:
    from lmctheory.synthetic import asymmetric_layer, random_basis

    lay = asymmetric_layer(n, d, "wasym", seed=seed)
    U = random_basis(d, k, seed=seed + 1)
    stem = os.path.join(tmp, f"in_{n}_{d}_{k}")
    for x, arr in zip("EFDU", (lay.effective, lay.fixed, lay.diag, U)):
        np.save(f"{stem}_{x}.npy", arr)
    return stem


def _gemm_gflops(n: int, width: int, seed: int = 0) -> float:
    """NumPy GEMM rate on this machine for the same product shape ``(n × w)·(w × n)`` (best of 2)."""
    rng = np.random.default_rng(seed)
    L = rng.standard_normal((n, width))
    R = rng.standard_normal((n, width))  # not L itself: NumPy would use SYRK (half the flops) for L @ L.T
    best = np.inf
    for _ in range(2):
        t0 = time.perf_counter()
        L @ R.T
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n * n * width / best / 1e9


def _stages(res: dict) -> str:
    st = res.get("stages") or {}
    parts = [f"{k} {v:.2f}s" for k, v in st.items() if k not in ("total", "recomputed_entries")]
    return ", ".join(parts) + f", recomputed entries {int(st.get('recomputed_entries', 0))}"


def _load() -> str:
    try:
        return "load avg %.1f/%.1f/%.1f" % os.getloadavg()
    except OSError:  # pragma: no cover
        return ""


def run(quick: bool = False) -> list[dict]:
    """Benchmark rows: comparison with the baseline, the large run, first-call JIT time."""
    rows = []
    n, d, k = SIZES[quick]["compare"]
    width = k * (k + 1) // 2 + k + 1
    with tempfile.TemporaryDirectory(prefix="lmct_bench_") as tmp:
        stem = _save_inputs(tmp, n, d, k)
        base = _spawn("baseline", stem, os.path.join(tmp, "base.npy"))
        ours = _spawn("ours", stem, os.path.join(tmp, "ours.npy"))
        Cb = np.load(os.path.join(tmp, "base.npy"))
        Co = np.load(os.path.join(tmp, "ours.npy"))
        off = ~np.eye(n, dtype=bool)
        fin = off & np.isfinite(Co) & np.isfinite(Cb)
        same_inf = bool(np.array_equal(np.isfinite(Co[off]), np.isfinite(Cb[off])))
        rel_off = float(np.max(np.abs(Co[fin] - Cb[fin]) / np.abs(Cb[fin]))) if fin.any() else 0.0
        dg_b, dg_o = np.diag(Cb), np.diag(Co)
        okd = np.isfinite(dg_b) & np.isfinite(dg_o)
        rel_diag = float(np.max(np.abs(dg_o[okd] - dg_b[okd]) / np.abs(dg_o[okd]))) if okd.any() else 0.0
        gemm = _gemm_gflops(n, width)
        achieved = 2.0 * n * n * width / ours["seconds"] / 1e9
        rows.append({
            "name": f"realization_costs n={n} d={d} k={k} wasym",
            "baseline_s": base["seconds"], "ours_s": ours["seconds"],
            "ratio": base["seconds"] / ours["seconds"],
            "max_rel_diff_offdiag": rel_off, "max_rel_diff_diag": rel_diag, "same_inf_pattern": same_inf,
            "peak_mem_baseline_mb": base["peak_delta_mb"], "peak_mem_ours_mb": ours["peak_delta_mb"],
            "gemm_equiv_gflops": achieved, "numpy_gemm_gflops": gemm, "stages_s": ours["stages"],
            "notes": (f"max rel diff off-diag {rel_off:.1e}, diag {rel_diag:.1e}, inf pattern equal {same_inf}; "
                      f"peak RSS over call: baseline {base['peak_delta_mb']:.0f} MiB, ours {ours['peak_delta_mb']:.0f} MiB; "
                      f"ours {achieved:.1f} GFLOP/s GEMM-equivalent (2n²(K+k+1)/t) vs numpy GEMM "
                      f"{gemm:.1f} GFLOP/s on the same shape; stages {_stages(ours)}; {_load()}"),
        })
        del Cb, Co
        n2, d2, k2 = SIZES[quick]["large"]
        stem2 = _save_inputs(tmp, n2, d2, k2)
        big = _spawn("ours", stem2)
        w2 = k2 * (k2 + 1) // 2 + k2 + 1
        rows.append({
            "name": f"realization_costs n={n2} d={d2} k={k2} wasym (ours only)",
            "baseline_s": None, "ours_s": big["seconds"], "ratio": None,
            "peak_mem_ours_mb": big["peak_delta_mb"], "peak_rss_total_mb": big["peak_rss_mb"],
            "stages_s": big["stages"],
            "gemm_equiv_gflops": 2.0 * n2 * n2 * w2 / big["seconds"] / 1e9,
            "notes": (f"peak RSS over call {big['peak_delta_mb']:.0f} MiB (process total {big['peak_rss_mb']:.0f} MiB); "
                      f"{2.0 * n2 * n2 * w2 / big['seconds'] / 1e9:.1f} GFLOP/s GEMM-equivalent; "
                      f"stages {_stages(big)}; {_load()}"),
        })
    warm = _spawn("jit")
    note = f"first call with the on-disk Numba cache warm: {warm['seconds']:.2f} s"
    cold_s = None
    if MEASURE_COLD_JIT[quick]:
        with tempfile.TemporaryDirectory(prefix="lmct_numba_") as cache:
            cold = _spawn("jit", env={"NUMBA_CACHE_DIR": cache})
        cold_s = cold["seconds"]
        note = f"cold compile (empty NUMBA_CACHE_DIR) {cold_s:.1f} s; " + note
    rows.append({"name": "realization_costs first-call JIT", "baseline_s": None,
                 "ours_s": cold_s if cold_s is not None else warm["seconds"], "ratio": None,
                 "jit_cold_s": cold_s, "jit_warm_s": warm["seconds"], "notes": note})
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _, _, method, inp, out = sys.argv
        print(json.dumps(_child(method, None if inp == "-" else inp, None if out == "-" else out)))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=1, default=str))
