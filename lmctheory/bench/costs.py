"""All-pairs realization costs: :func:`lmctheory.costs.realization_costs` against the straightforward method.

Baseline (``torch_einsum_pinv_costs``, the formula as the [NI] release runs it, in torch): build every
``S_i``, take ``torch.linalg.pinv`` of each, then ``torch.einsum("kij,ikK,Kij->ij")`` over the
``(k, n, n)`` tensor of differences ``a_j − v_i``, plus the range test from the residual
``(I − S_iS_i†)(a_j − v_i)``; float64, the same inputs, ``torch.set_num_threads`` = the threads ours
uses. ``pinv`` gets ``hermitian=True`` and our cutoff ``10·k·ε`` (same ``+inf`` pattern as ours, and
faster than the default SVD ``pinv``: the ratio is conservative). ``O(n²k²)`` time and ``k·n²`` numbers of memory. The same formula with NumPy's ``einsum``
(``einsum_pinv_costs``, default ``optimize=False``) is reported as a second line only (one call: it
is ~7× slower than torch's).

Roofline: a NumPy GEMM of the shape the GEMM form needs, ``(n × w)·(w × n)`` with
``w = k(k+1)/2 + k + 1``, timed in the same process between the other calls; ours is reported as
``2n²w / t`` (its "GEMM-equivalent" rate) and as a percentage of that GEMM's rate. The whole call
counts (validation, projections, per-neuron inverses, packing, GEMM, range tests, recomputation).

Measurements: one child process per comparison, the methods interleaved ``reps`` times, best of
each (the headline ratio: best against best); the ratio of the first calls of each method in that
process (what a user who runs it once sees) is reported too; peak memory as ``ru_maxrss`` growth over the call (ours is called first, then the baseline).
The large run (ours only) gets its own fresh process. First-call JIT time: a fresh process with an
empty ``NUMBA_CACHE_DIR`` (compile) and with the cache warm (load). The BLAS kernel (threadpoolctl's
``architecture``) is reported: ``OPENBLAS_CORETYPE`` pins it for the baseline GEMM and ours alike.
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

NAME = "costs"

#: (n, d, k) of the comparison with the baseline and of the large run, per mode.
SIZES = {
    False: {"compare": (1024, 1024, 128), "large": (4096, 2048, 256)},
    True: {"compare": (256, 256, 32), "large": (1024, 512, 64)},
}
REPS = {False: 5, True: 2}  # interleaved GEMM/ours pairs (the torch baseline runs min(3, REPS) times)
MEASURE_COLD_JIT = {False: True, True: False}
NUMPY_BASELINE = {False: True, True: True}

_EIG_TOL_C = 10.0  # lmctheory.costs.EIG_TOL_C: the same pseudo-inverse cutoff for every method


def einsum_pinv_costs(effective, fixed, diag, U, rtol=1e-8, optimize=False):
    """The straightforward method in NumPy: ``pinv`` of every ``S_i`` then one ``einsum`` over ``(k, n, n)``.

    ``C[i,j] = Σ_{k,K} X[k,i,j] S_i†[k,K] X[K,i,j]`` with ``X[k,i,j] = a_j[k] − v_i[k]``; ``+inf``
    where ``‖(I − S_iS_i†)X[:,i,j]‖ > rtol·(‖w̃_j‖ + ‖f_i‖)``. Pseudo-inverse cutoff ``10·k·ε·λ_max``
    (``rcond``), as in :mod:`lmctheory.costs`.
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
    floor = np.linalg.norm(effective, axis=1)[None, :] + np.linalg.norm(fixed, axis=1)[:, None]
    C[rn > rtol * floor] = np.inf
    return C


def torch_einsum_pinv_costs(effective, fixed, diag, U, rtol=1e-8):
    """The same method in torch (float64), as the [NI] release computes it: ``torch.linalg.pinv`` + ``torch.einsum``.

    Inputs and output are NumPy arrays; the work runs on CPU torch with its current thread count.
    """
    import torch

    E, F, D, Ut = (torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float64) for x in (effective, fixed, diag, U))
    k = Ut.shape[1]
    A = E @ Ut
    V = F @ Ut
    S = torch.einsum("jp,ij,jq->ipq", Ut, D * D, Ut)
    P = torch.linalg.pinv(S, rtol=_EIG_TOL_C * k * float(np.finfo(float).eps), hermitian=True)
    X = A.T[:, None, :] - V.T[:, :, None]
    C = torch.einsum("kij,ikK,Kij->ij", X, P, X)
    proj = torch.einsum("ipq,iqr->ipr", S, P)
    res = X - torch.einsum("ipq,qij->pij", proj, X)
    rn = torch.sqrt(torch.einsum("kij,kij->ij", res, res))
    floor = torch.linalg.vector_norm(E, dim=1)[None, :] + torch.linalg.vector_norm(F, dim=1)[:, None]
    C[rn > rtol * floor] = float("inf")
    return C.numpy()


def _n_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def _blas_kernel() -> str:
    try:
        from threadpoolctl import threadpool_info

        archs = sorted({str(i.get("architecture")) for i in threadpool_info() if i.get("internal_api") == "openblas"})
        return "/".join(archs) or "unknown"
    except Exception:  # pragma: no cover - threadpoolctl missing
        return "unknown"


def _gemm_seconds(n: int, width: int, threads: int, seed: int = 0) -> float:
    """One NumPy GEMM ``(n × w)·(w × n)`` with ``threads`` BLAS threads (the roofline of the GEMM form)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    L = rng.standard_normal((n, width))
    R = rng.standard_normal((n, width))  # not L itself: NumPy would use SYRK (half the flops) for L @ L.T
    with threadpool_limits(threads, user_api="blas"):
        t0 = time.perf_counter()
        L @ R.T
        return time.perf_counter() - t0


def _inputs(inp: str):
    return tuple(np.load(f"{inp}_{x}.npy") for x in "EFDU")


def _child_compare(inp: str, reps: int, numpy_baseline: bool) -> dict:
    """Interleave baseline(s), roofline GEMM and ours on the saved inputs; best of ``reps``."""
    import torch

    import lmctheory.costs as cm

    threads = _n_threads()
    torch.set_num_threads(threads)
    E, F, D, U = _inputs(inp)
    n, k = E.shape[0], U.shape[1]
    width = k * (k + 1) // 2 + k + 1
    cm.realization_costs(E[:4], F[:4], D[:4], U)  # load the Numba cache outside the timing
    res = {"threads": threads, "torch_threads": torch.get_num_threads(), "blas_kernel": _blas_kernel()}
    rss0 = rss_mb()
    t0 = time.perf_counter()
    C = cm.realization_costs(E, F, D, U)
    ours_first = time.perf_counter() - t0
    res["peak_ours_mb"] = maxrss_mb() - rss0
    t0 = time.perf_counter()
    Cb = torch_einsum_pinv_costs(E, F, D, U)
    base = [time.perf_counter() - t0]
    res["peak_baseline_mb"] = maxrss_mb() - rss0
    ours, gemm, stages = [ours_first], [], []
    for rep in range(reps):
        gemm.append(_gemm_seconds(n, width, threads, seed=rep))
        prof = {}
        cm._PROFILE = prof
        t0 = time.perf_counter()
        cm.realization_costs(E, F, D, U)
        ours.append(time.perf_counter() - t0)
        cm._PROFILE = None
        stages.append(prof)
        if rep < min(3, reps) - 1:
            t0 = time.perf_counter()
            torch_einsum_pinv_costs(E, F, D, U)
            base.append(time.perf_counter() - t0)
    res.update(baseline_s=min(base), baseline_all_s=base, ours_s=min(ours), ours_all_s=ours,
               gemm_s=min(gemm), gemm_all_s=gemm, stages=min(stages, key=lambda p: p.get("total", np.inf)))
    if numpy_baseline:
        t0 = time.perf_counter()
        Cn = einsum_pinv_costs(E, F, D, U)
        res["numpy_baseline_s"] = time.perf_counter() - t0
        res.update({f"numpy_{key}": val for key, val in _accuracy(C, Cn).items()})
    res.update(_accuracy(C, Cb))
    return res


def _accuracy(Co: np.ndarray, Cb: np.ndarray) -> dict:
    """Max relative differences of the finite entries (off-diagonal; diagonal separately) and inf agreement."""
    n = Co.shape[0]
    off = ~np.eye(n, dtype=bool)
    fin = off & np.isfinite(Co) & np.isfinite(Cb)
    same_inf = bool(np.array_equal(np.isfinite(Co[off]), np.isfinite(Cb[off])))
    rel_off = float(np.max(np.abs(Co[fin] - Cb[fin]) / np.abs(Cb[fin]))) if fin.any() else 0.0
    dg_b, dg_o = np.diag(Cb), np.diag(Co)
    okd = np.isfinite(dg_b) & np.isfinite(dg_o) & (dg_o > 0)
    rel_diag = float(np.max(np.abs(dg_o[okd] - dg_b[okd]) / np.abs(dg_o[okd]))) if okd.any() else 0.0
    return {"max_rel_diff_offdiag": rel_off, "max_rel_diff_diag": rel_diag, "same_inf_pattern": same_inf,
            "n_inf": int(np.isinf(Co).sum())}


def _child_large(inp: str) -> dict:
    import lmctheory.costs as cm

    E, F, D, U = _inputs(inp)
    cm.realization_costs(E[:4], F[:4], D[:4], U)
    rss0 = rss_mb()
    prof = {}
    cm._PROFILE = prof
    t0 = time.perf_counter()
    cm.realization_costs(E, F, D, U)
    sec = time.perf_counter() - t0
    peak = maxrss_mb()
    return {"seconds": sec, "peak_delta_mb": peak - rss0, "peak_rss_mb": peak, "stages": prof,
            "blas_kernel": _blas_kernel(), "threads": _n_threads()}


def _child_jit() -> dict:
    t0 = time.perf_counter()
    from lmctheory.costs import realization_costs
    from lmctheory.synthetic import asymmetric_layer, random_basis

    lay = asymmetric_layer(6, 8, "wasym", seed=0)
    U = random_basis(8, 3, seed=0)
    t1 = time.perf_counter()
    realization_costs(lay.effective, lay.fixed, lay.diag, U)
    # a dense-path call too: both branches of the per-neuron kernel are compiled together
    realization_costs(lay.effective, lay.fixed, np.full((6, 8), 0.5), U)
    return {"seconds": time.perf_counter() - t1, "import_s": t1 - t0}


def _spawn(args: list[str], env: dict | None = None) -> dict:
    cmd = [sys.executable, "-m", "lmctheory.bench.costs", "--child", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if res.returncode != 0:
        raise RuntimeError(f"benchmark child {args[0]} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _save_inputs(tmp: str, n: int, d: int, k: int, mask: str = "wasym", seed: int = 0) -> str:
    from lmctheory.synthetic import asymmetric_layer, random_basis

    lay = asymmetric_layer(n, d, "wasym", seed=seed)
    D = lay.diag
    if mask == "dense":  # every entry of D different from 1: no low-rank shortcut, the dense Gram GEMM
        D = np.random.default_rng(seed + 7).uniform(0.2, 1.5, (n, d))
    U = random_basis(d, k, seed=seed + 1)
    stem = os.path.join(tmp, f"in_{mask}_{n}_{d}_{k}")
    for x, arr in zip("EFDU", (lay.fixed + D * lay.trainable, lay.fixed, D, U)):
        np.save(f"{stem}_{x}.npy", arr)
    return stem


def _stages(st: dict) -> str:
    parts = [f"{k} {v:.3f}s" for k, v in st.items() if k not in ("total", "recomputed_entries")]
    return ", ".join(parts) + f", recomputed entries {int(st.get('recomputed_entries', 0))}"


def _compare_row(tmp: str, n: int, d: int, k: int, mask: str, quick: bool) -> dict:
    stem = _save_inputs(tmp, n, d, k, mask)
    r = _spawn(["compare", stem, str(REPS[quick]),
                str(int(NUMPY_BASELINE[quick] and mask == "wasym"))])
    width = k * (k + 1) // 2 + k + 1
    flops = 2.0 * n * n * width
    gemm_rate, ours_rate = flops / r["gemm_s"] / 1e9, flops / r["ours_s"] / 1e9
    m = int(np.count_nonzero(np.load(f"{stem}_D.npy")[0] != 1.0))
    row = {
        "name": f"realization_costs n={n} d={d} k={k} {mask} mask vs torch einsum+pinv",
        "baseline_s": r["baseline_s"], "ours_s": r["ours_s"], "ratio": r["baseline_s"] / r["ours_s"],
        "gemm_s": r["gemm_s"], "gemm_gflops": gemm_rate, "ours_gemm_equiv_gflops": ours_rate,
        "pct_of_gemm": 100.0 * ours_rate / gemm_rate, "masked_per_row": m,
        "first_call_ratio": r["baseline_all_s"][0] / r["ours_all_s"][0], **r,
    }
    note = (f"{r['threads']} threads (torch {r['torch_threads']}), BLAS kernel {r['blas_kernel']}; "
            f"ratio of the first calls in the process (as a user runs it once: the baseline's 3.5 GB of "
            f"temporaries are touched for the first time) {row['first_call_ratio']:.1f}×; "
            f"best of {len(r['baseline_all_s'])}/{REPS[quick]}/{REPS[quick]}: torch baseline {min(r['baseline_all_s']):.2f}–{max(r['baseline_all_s']):.2f} s, "
            f"ours {min(r['ours_all_s']):.3f}–{max(r['ours_all_s']):.3f} s, GEMM {min(r['gemm_all_s']):.3f}–"
            f"{max(r['gemm_all_s']):.3f} s; ours {ours_rate:.1f} GFLOP/s GEMM-equivalent = {row['pct_of_gemm']:.0f}% of the "
            f"NumPy GEMM ({gemm_rate:.1f} GFLOP/s, shape {n}×{width}·{width}×{n}); max rel diff vs baseline "
            f"off-diag {r['max_rel_diff_offdiag']:.1e}, diag {r['max_rel_diff_diag']:.1e}, inf pattern equal "
            f"{r['same_inf_pattern']} ({r['n_inf']} inf); peak RSS growth: ours {r['peak_ours_mb']:.0f} MiB, baseline "
            f"{r['peak_baseline_mb']:.0f} MiB; stages {_stages(r['stages'])}; {load_average()}")
    if "numpy_baseline_s" in r:
        note += f"; NumPy einsum baseline {r['numpy_baseline_s']:.1f} s (×{r['numpy_baseline_s'] / r['ours_s']:.0f})"
    row["notes"] = note
    return row


def run(quick: bool = False) -> list[dict]:
    """Benchmark rows: W-asymmetric and dense masks vs the torch baseline, the large run, first-call JIT."""
    rows = []
    n, d, k = SIZES[quick]["compare"]
    with tempfile.TemporaryDirectory(prefix="lmct_bench_") as tmp:
        rows.append(_compare_row(tmp, n, d, k, "wasym", quick))
        if "numpy_baseline_s" in rows[-1]:
            r = rows[-1]
            rows.append({"name": "  same, vs NumPy einsum+pinv (optimize=False)", "baseline_s": r["numpy_baseline_s"],
                         "ours_s": r["ours_s"], "ratio": r["numpy_baseline_s"] / r["ours_s"],
                         "notes": f"one call; max rel diff off-diag {r['numpy_max_rel_diff_offdiag']:.1e}, "
                                  f"inf pattern equal {r['numpy_same_inf_pattern']}"})
        rows.append(_compare_row(tmp, n, d, k, "dense", quick))
        rows[-1]["notes"] += (f"; dense/W-asymmetric time {rows[-1]['ours_s'] / rows[0]['ours_s']:.2f}×")
        n2, d2, k2 = SIZES[quick]["large"]
        big = _spawn(["large", _save_inputs(tmp, n2, d2, k2)])
        w2 = k2 * (k2 + 1) // 2 + k2 + 1
        rate = 2.0 * n2 * n2 * w2 / big["seconds"] / 1e9
        rows.append({
            "name": f"realization_costs n={n2} d={d2} k={k2} wasym (ours only)",
            "baseline_s": None, "ours_s": big["seconds"], "ratio": None,
            "peak_mem_ours_mb": big["peak_delta_mb"], "peak_rss_total_mb": big["peak_rss_mb"],
            "stages_s": big["stages"], "gemm_equiv_gflops": rate,
            "notes": (f"{big['threads']} threads, BLAS kernel {big['blas_kernel']}; peak RSS growth over the call "
                      f"{big['peak_delta_mb']:.0f} MiB (process total {big['peak_rss_mb']:.0f} MiB); "
                      f"{rate:.1f} GFLOP/s GEMM-equivalent; stages {_stages(big['stages'])}; {load_average()}"),
        })
    warm = _spawn(["jit"])
    note = f"first call with the on-disk Numba cache warm: {warm['seconds']:.2f} s"
    cold_s = None
    if MEASURE_COLD_JIT[quick]:
        with tempfile.TemporaryDirectory(prefix="lmct_numba_") as cache:
            cold = _spawn(["jit"], env={"NUMBA_CACHE_DIR": cache})
        cold_s = cold["seconds"]
        note = f"cold compile (empty NUMBA_CACHE_DIR) {cold_s:.1f} s; " + note
    rows.append({"name": "realization_costs first-call JIT", "baseline_s": None,
                 "ours_s": cold_s if cold_s is not None else warm["seconds"], "ratio": None,
                 "jit_cold_s": cold_s, "jit_warm_s": warm["seconds"], "notes": note})
    return rows


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--child":
        kind = sys.argv[2]
        if kind == "compare":
            out = _child_compare(sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1")
        elif kind == "large":
            out = _child_large(sys.argv[3])
        elif kind == "jit":
            out = _child_jit()
        else:
            raise SystemExit(f"unknown child {kind!r}")
        print(json.dumps(out))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=1, default=str))
