"""Interruptible drivers of the Numba Monte Carlo kernels (:mod:`lmctheory.kernels.montecarlo`).

A single Numba call cannot be interrupted: Python handles Ctrl-C (``KeyboardInterrupt``) only between
calls. So the work is cut into calls of about :data:`lmctheory._limits.WORK_STEP_SECONDS` each
(estimated from the throughput constants below). Every piece of work has its own seeded generator
(chord: per neuron and chunk of samples; weak additivity: per block of vectors, resumable at a
multiple of :data:`~lmctheory.kernels.montecarlo.WA_STEP_ALIGN` pairs), so the results are
bit-identical to one uncut call and independent of the step size and thread count.
"""

from __future__ import annotations

import numpy as np

from ._limits import WORK_STEP_SECONDS, check_fits, n_threads, warn_if_long

#: chord Monte Carlo: (sample, λ) evaluations per thread-second, plus ``CHORD_SAMPLE_UNITS`` per sample
#: for the normals and endpoint activations (measured on one shared core: ≈ 4.6e8 ReLU, 1.4e8 GELU,
#: 0.8e8 tanh; the constant is below the slowest)
CHORD_RATE = 5e7
CHORD_SAMPLE_UNITS = 4
#: weak-additivity Monte Carlo: coordinate pairs per thread-second (measured ≈ 2.1e8 on one shared core)
WA_RATE = 1e8


def run_chord_mc(l11, l21, l22, lams, act, n_samples, chunk, seed, n_chunks):
    """``(mean, m2)`` of shape ``(n_chunks, m, n)`` as :func:`~lmctheory.kernels.montecarlo.chord_mc`,
    computed in short interruptible calls (checks memory and warns on hour-long budgets first)."""
    from .kernels.montecarlo import ZIG, chord_mc_range

    n, m = l11.shape[0], lams.shape[0]
    # the per-chunk statistics and the reduction's temporaries (≈ 4 arrays of this size)
    check_fits(4.0 * 8 * n_chunks * m * n, f"the per-chunk statistics of {n_chunks} chunks × {m} λ × {n} neurons",
               "n_samples")
    warn_if_long(float(n) * n_samples * (m + CHORD_SAMPLE_UNITS), CHORD_RATE, "CHORD_RATE",
                 "chord_deviation_mc", "n_samples")
    mean = np.zeros((n_chunks, m, n))
    m2 = np.zeros_like(mean)
    threads = n_threads()
    per_thread = WORK_STEP_SECONDS * CHORD_RATE
    g = int(min(m, max(1, per_thread // chunk - CHORD_SAMPLE_UNITS)))  # λ per call: one task stays short
    tasks = max(threads, int(threads * per_thread // (chunk * (g + CHORD_SAMPLE_UNITS))))
    total = n * n_chunks
    for a0 in range(0, m, g):
        for t0 in range(0, total, tasks):
            chord_mc_range(l11, l21, l22, lams, act, n_samples, chunk, seed, *ZIG, mean, m2,
                           t0, min(total, t0 + tasks), a0, min(m, a0 + g))
    return mean, m2


def run_wa_cosine(dim, a, b, c, block, seed, n_vectors):
    """Per-vector weak-additivity cosines (length ``n_vectors``) as
    :func:`~lmctheory.kernels.montecarlo.wa_cosine_mc`, in short interruptible calls."""
    from .kernels.montecarlo import WA_STEP_ALIGN, ZIG, wa_cosine_steps

    check_fits(3.0 * 8 * n_vectors, f"{n_vectors} per-vector cosines", "n_vectors")
    warn_if_long(float(dim) * n_vectors, WA_RATE, "WA_RATE", "weak_additivity_cosine_mc", "n_vectors or dim")
    out = np.empty(n_vectors)
    threads = n_threads()
    per_thread = WORK_STEP_SECONDS * WA_RATE
    block_pairs = min(block, n_vectors) * dim
    if block_pairs <= per_thread:  # whole blocks per call
        budget = -(-block_pairs // WA_STEP_ALIGN) * WA_STEP_ALIGN
        group = max(threads, int(threads * per_thread // block_pairs))
    else:  # huge vectors: every block advances a slice per call
        budget = max(WA_STEP_ALIGN, int(per_thread) // WA_STEP_ALIGN * WA_STEP_ALIGN)
        group = threads
    n_blocks = -(-n_vectors // block)
    group = min(group, n_blocks)
    states = np.zeros((group, 4), dtype=np.uint64)
    sums = np.zeros((group, 3))
    done = np.zeros(group, dtype=np.int64)
    for q0 in range(0, n_blocks, group):
        v0 = (q0 + np.arange(group, dtype=np.int64)) * block
        need = np.clip(n_vectors - v0, 0, block) * np.int64(dim)
        done[:] = 0
        sums[:] = 0.0
        while np.any(done < need):
            wa_cosine_steps(dim, a, b, c, block, seed, *ZIG, q0, states, sums, done, budget, out)
    return out
