"""Slow, obvious NumPy references for every Numba kernel (the STUMPY ``naive.py`` idea).

Each function here computes the same quantity as a fast kernel in :mod:`lmctheory.kernels`, in
the most direct way the formula in docs/theory.md allows (Python loops, ``np.linalg.pinv``, explicit
sums). Tests compare the two on many generated inputs. Sections belong to one kernel family each.
"""

import numpy as np

# ===== costs / gram (lmctheory.kernels.costs) ===============================================

_COST_EIG_TOL_C = 10.0  # must equal lmctheory.costs.EIG_TOL_C (docs/theory.md §12 convention)


def naive_pack_outer(X):
    """Rows ``[x_p x_q for p <= q]`` (upper triangle, row by row)."""
    n, k = X.shape
    iu = np.triu_indices(k)
    return np.stack([np.outer(x, x)[iu] for x in X])


def naive_unpack_sym(packed, k):
    iu = np.triu_indices(k)
    out = np.zeros((packed.shape[0], k, k))
    for i, row in enumerate(packed):
        out[i][iu] = row
        out[i] = out[i] + np.triu(out[i], 1).T
    return out


def naive_gram_matrices(diag, U):
    """``S_i = Σ_j d_ij² u_j u_jᵀ`` by an explicit sum over coordinates."""
    n, d = diag.shape
    k = U.shape[1]
    S = np.zeros((n, k, k))
    for i in range(n):
        for j in range(d):
            S[i] += diag[i, j] ** 2 * np.outer(U[j], U[j])
    return S


def naive_pinv_and_null(S):
    """``S†`` and an orthonormal null basis with the §12 tolerance ``10·k·ε·λ_max``."""
    k = S.shape[0]
    lam, Q = np.linalg.eigh(S)
    tol = _COST_EIG_TOL_C * k * np.finfo(float).eps * max(lam[-1], 0.0)
    keep = lam > tol
    P = (Q[:, keep] / lam[keep]) @ Q[:, keep].T
    return P, Q[:, ~keep]


def naive_cost_row(S, v):
    """Row ``[pack₂(S†), −2S†v, vᵀS†v]`` of the GEMM form (off-diagonals of the triangle doubled)."""
    k = S.shape[0]
    P, _ = naive_pinv_and_null(S)
    iu = np.triu_indices(k)
    tri = np.where(iu[0] == iu[1], 1.0, 2.0) * P[iu]
    return np.concatenate([tri, -2.0 * P @ v, [v @ P @ v]])


def naive_realization_costs(effective, fixed, diag, U, rtol=1e-8):
    """``C[i,j] = (a_j − v_i)ᵀS_i†(a_j − v_i)`` or ``inf`` (null component ``> rtol·(‖w̃_j‖ + ‖f_i‖)``),
    one entry at a time; diagonal from ``r_i = Uᵀ(w̃_i − f_i)``."""
    n = effective.shape[0]
    A = effective @ U
    V = fixed @ U
    Rr = (effective - fixed) @ U
    S = naive_gram_matrices(diag, U)
    C = np.empty((n, n))
    for i in range(n):
        P, N = naive_pinv_and_null(S[i])
        for j in range(n):
            x = Rr[i] if i == j else A[j] - V[i]
            if np.linalg.norm(N.T @ x) > rtol * (np.linalg.norm(effective[j]) + np.linalg.norm(fixed[i])):
                C[i, j] = np.inf
            else:
                C[i, j] = x @ P @ x
    return C


# The straightforward method (pinv of every S_i, then einsum over the (k, n, n) tensor of differences,
# as in the paper's released code) lives with the benchmark that times it; re-exported for the tests.
from lmctheory.bench.costs import einsum_pinv_costs  # noqa: E402,F401


# ===== subspace / gaps / sensitivity (lmctheory.kernels.gaps) ================================


def naive_pairwise_gaps(X):
    """``G[i, j] = ‖x_i − x_j‖₂`` by a double loop (``math.dist``: no under/overflow of squares)."""
    import math

    n = X.shape[0]
    G = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            G[i, j] = math.dist(X[i], X[j])
    return G


def naive_min_gap(X):
    """``(δ_min, set of all pairs (i<j) attaining it)`` by brute force over all pairs."""
    G = naive_pairwise_gaps(X)
    n = X.shape[0]
    iu = np.triu_indices(n, 1)
    m = G[iu].min()
    pairs = {(int(i), int(j)) for i, j in zip(*iu) if G[i, j] == m}
    return m, pairs


def naive_swap_cost(V, A, S, i, j):
    """``Δ_ij = C[i,j] + C[j,i] − C[i,i] − C[j,j]`` with ``C[i,j] = (a_j − v_i)ᵀ S_i⁺ (a_j − v_i)`` (pinv)."""
    def c(a, b):
        x = A[b] - V[a]
        return x @ np.linalg.pinv(S[a]) @ x
    return c(i, j) + c(j, i) - c(i, i) - c(j, j)


def naive_pair_min_sum(rho):
    """``Σ_{i<j} min(ρ_i, ρ_j)`` by a double loop."""
    n = len(rho)
    return sum(min(rho[i], rho[j]) for i in range(n) for j in range(i + 1, n))

# ===== chord / weak additivity Monte Carlo (lmctheory.kernels.montecarlo) ====================


def naive_relu_moment_cov(va, vb, cab):
    """``E[relu(A)relu(B)]`` for centered Gaussians from variances and covariance (eq. 198), by ``arccos``."""
    if va <= 0.0 or vb <= 0.0:
        return 0.0
    s = np.sqrt(va * vb)
    c = np.clip(cab / s, -1.0, 1.0)
    th = np.arccos(c)
    return s / (2 * np.pi) * (np.sin(th) + (np.pi - th) * c)


def naive_gaussian_relu_chord(w0, w1, cov, lam):
    """T-chord-exact by expanding the square into the six ReLU moments (one neuron at a time)."""
    out = np.empty(w0.shape[0])
    for i in range(w0.shape[0]):
        a, b = w0[i], w1[i]
        vx, vy, cxy = a @ cov @ a, b @ cov @ b, a @ cov @ b
        vz = (1 - lam) ** 2 * vx + 2 * lam * (1 - lam) * cxy + lam**2 * vy
        czx = (1 - lam) * vx + lam * cxy
        czy = (1 - lam) * cxy + lam * vy
        K = naive_relu_moment_cov
        out[i] = (
            vz / 2 + (1 - lam) ** 2 * vx / 2 + lam**2 * vy / 2
            - 2 * (1 - lam) * K(vz, vx, czx) - 2 * lam * K(vz, vy, czy) + 2 * lam * (1 - lam) * K(vx, vy, cxy)
        )
    return out


def naive_chord_mc_chunks(l11, l21, l22, lams, act, n_samples, chunk, seed, zig):
    """Per-chunk ``(mean, m2)`` of ``h²`` exactly as :func:`lmctheory.kernels.montecarlo.chord_mc`
    draws them (task ``t = i·n_chunks + c`` uses stream ``(seed, t)``, pairs ``ξ, η``), by NumPy
    on the same normals; ``m2`` is the sum of squared deviations from the chunk mean."""
    n, m = len(l11), len(lams)
    n_chunks = -(-n_samples // chunk)
    mean = np.zeros((n_chunks, m, n))
    m2 = np.zeros_like(mean)
    for i in range(n):
        for c in range(n_chunks):
            cnt = min(chunk, n_samples - c * chunk)
            g = naive_normals(seed, i * n_chunks + c, 2 * cnt, *zig).reshape(cnt, 2)
            x = l11[i] * g[:, 0]
            y = l21[i] * g[:, 0] + l22[i] * g[:, 1]
            for a, lam in enumerate(lams):
                h2 = (act((1 - lam) * x + lam * y) - (1 - lam) * act(x) - lam * act(y)) ** 2
                mean[c, a, i] = h2.mean()
                m2[c, a, i] = np.sum((h2 - h2.mean()) ** 2)
    return mean, m2


def naive_wa_cosines(dim, n_vectors, a, b, c, block, seed, zig):
    """Per-vector ``cos(relu(u+v), relu(u)+relu(v))``, ``u = aξ``, ``v = bξ + cη``, on the kernels'
    normal stream (block ``q`` of ``block`` vectors uses stream ``(seed, q)``, ``ξ_j, η_j`` alternating)."""
    out = []
    for q in range(-(-n_vectors // block)):
        cnt = min(block, n_vectors - q * block)
        g = naive_normals(seed, q, 2 * dim * cnt, *zig).reshape(cnt, dim, 2)
        u, v = a * g[..., 0], b * g[..., 0] + c * g[..., 1]
        lft = np.maximum(u + v, 0.0)
        rgt = np.maximum(u, 0.0) + np.maximum(v, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.sum(lft * rgt, axis=1) / np.sqrt(np.sum(lft**2, axis=1) * np.sum(rgt**2, axis=1)))
    return np.concatenate(out)


_M64 = (1 << 64) - 1


def naive_seed_state(seed, chunk):
    """xoshiro256** state of a chunk: four SplitMix64 outputs from ``seed·φ64 ⊕ chunk`` (Python ints)."""
    z = ((seed * 0x9E3779B97F4A7C15) & _M64) ^ chunk
    out = []
    for _ in range(4):
        z = (z + 0x9E3779B97F4A7C15) & _M64
        x = z
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
        out.append(x ^ (x >> 31))
    return out


def naive_xoshiro_next(s):
    rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & _M64  # noqa: E731
    result = (rotl((s[1] * 5) & _M64, 7) * 9) & _M64
    t = (s[1] << 17) & _M64
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 45)
    return result


def naive_normals(seed, chunk, n, ki, wi, fi, r_tail=3.6541528853610088):
    """The kernels' normal stream, one draw at a time in pure Python (ziggurat on xoshiro256**)."""
    import math

    s = naive_seed_state(seed, chunk)
    u01 = lambda: (naive_xoshiro_next(s) >> 11) / 2.0**53  # noqa: E731
    out = []
    while len(out) < n:
        r = naive_xoshiro_next(s)
        idx = r & 0xFF
        sign = (r >> 8) & 1
        rabs = (r >> 9) & ((1 << 52) - 1)
        x = rabs * float(wi[idx])
        if sign:
            x = -x
        if rabs < int(ki[idx]):
            out.append(x)
        elif idx == 0:
            while True:
                xx = -math.log1p(-u01()) / r_tail
                yy = -math.log1p(-u01())
                if yy + yy > xx * xx:
                    out.append(-(r_tail + xx) if (rabs >> 8) & 1 else r_tail + xx)
                    break
        elif (fi[idx - 1] - fi[idx]) * u01() + fi[idx] < math.exp(-0.5 * x * x):
            out.append(x)
    return np.array(out)
