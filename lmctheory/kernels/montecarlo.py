"""Numba Monte Carlo kernels: chord deviations of Gaussian pairs and the weak-additivity cosine.

Called only from the validated public functions of :mod:`lmctheory.chord` and :mod:`lmctheory.lewc`
(docs/theory.md §7 T-chord-exact, §9 T-WA); every array is float64, C-contiguous, shapes consistent.

Random numbers: each chunk owns a xoshiro256** generator (Blackman & Vigna 2018) whose state is
four SplitMix64 outputs of ``(seed, chunk)``; normals come from a 256-layer ziggurat (Marsaglia &
Tsang 2000, the layout of NumPy's ``standard_normal``: 8 bits of layer, 1 sign bit, 52 bits of
mantissa per draw). This is several times faster than Numba's ``np.random.standard_normal``
(Box–Muller on MT19937) and is fully specified, so ``tests/naive.py`` reproduces it bit for bit.

Reproducibility: the work is cut into *chunks* whose size depends only on the problem, never on the
thread count; each chunk seeds its own generator and writes its own partial result, and the caller
reduces the partial results in a fixed order. So a given ``seed`` gives bit-identical results with
1 or 64 threads.

Activation codes (``act``): 0 relu, 1 gelu (exact, ``x·Φ(x)``), 2 tanh, 3 identity.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

ACT_CODES = {"relu": 0, "gelu": 1, "tanh": 2, "identity": 3}

_INV_SQRT2 = 1.0 / math.sqrt(2.0)


_U64 = np.uint64


def _ziggurat_tables():
    """Layer tables ``(ki, wi, fi)`` of the 256-layer ziggurat for N(0, 1) (Marsaglia & Tsang 2000).

    ``r`` is the start of the tail, ``v`` the common layer area. Built in float64: the rectangle
    thresholds ``ki`` agree with NumPy's (higher-precision) tables to ≤ 2e-10 relative, which shifts
    the acceptance probability by that much — far below any Monte Carlo error reported here.
    """
    r, v, m1 = 3.6541528853610088, 0.00492867323399, 2.0**52
    ki = np.zeros(256, dtype=np.int64)
    wi = np.zeros(256)
    fi = np.zeros(256)
    dn = tn = r
    q = v / math.exp(-0.5 * dn * dn)
    ki[0] = np.int64((dn / q) * m1)
    wi[0], wi[255] = q / m1, dn / m1
    fi[0], fi[255] = 1.0, math.exp(-0.5 * dn * dn)
    for i in range(254, 0, -1):
        dn = math.sqrt(-2.0 * math.log(v / dn + math.exp(-0.5 * dn * dn)))
        ki[i + 1] = np.int64((dn / tn) * m1)
        tn = dn
        fi[i] = math.exp(-0.5 * dn * dn)
        wi[i] = dn / m1
    return ki, wi, fi


#: ziggurat tables, passed to the kernels as arguments (``ZIG = (ki, wi, fi)``)
ZIG = _ziggurat_tables()
ZIG_R = 3.6541528853610088


@njit(cache=True)
def splitmix64(z):
    """One SplitMix64 step: returns ``(new_state, output)``."""
    z = z + _U64(0x9E3779B97F4A7C15)
    x = z
    x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z, x ^ (x >> _U64(31))


@njit(cache=True)
def seed_state(seed, chunk, state):
    """xoshiro256** state of chunk ``chunk``: four SplitMix64 outputs from ``seed·φ64 ⊕ chunk``."""
    z = (_U64(seed) * _U64(0x9E3779B97F4A7C15)) ^ _U64(chunk)
    for j in range(4):
        z, state[j] = splitmix64(z)


@njit(cache=True)
def _rotl(x, k):
    return (x << _U64(k)) | (x >> _U64(64 - k))


@njit(cache=True)
def next_u64(s):
    """xoshiro256** (Blackman & Vigna): next 64-bit output, state ``s`` (4 uint64) updated in place."""
    result = _rotl(s[1] * _U64(5), 7) * _U64(9)
    t = s[1] << _U64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(cache=True)
def next_double(s):
    """Uniform on ``[0, 1)`` with 53 random bits."""
    return float(np.int64(next_u64(s) >> _U64(11))) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _zig_slow(s, fi, idx, rabs, x):
    """Ziggurat draw that missed the rectangle test: tail (layer 0) or wedge test.

    Returns ``(accepted, value)``; when not accepted the caller draws a fresh 64-bit word.
    """
    if idx == 0:
        while True:
            xx = -math.log1p(-next_double(s)) / ZIG_R
            yy = -math.log1p(-next_double(s))
            if yy + yy > xx * xx:
                return True, (-(ZIG_R + xx) if ((rabs >> 8) & 1) == 1 else ZIG_R + xx)
    if (fi[idx - 1] - fi[idx]) * next_double(s) + fi[idx] < math.exp(-0.5 * x * x):
        return True, x
    return False, 0.0


@njit(cache=True)
def fill_normals_state(s, ki, wi, fi, out):
    """Fill ``out`` with the next standard normals of generator ``s`` (256-layer ziggurat).

    Per draw: one xoshiro256** word ``r``; layer ``r & 0xFF``, sign bit ``(r >> 8) & 1``, mantissa
    ``(r >> 9) & (2⁵² − 1)``; accepted at once when the mantissa is below ``ki[layer]`` (≈ 99% of draws),
    else :func:`_zig_slow`. The state lives in registers in the fast loop (several times faster than
    a call per draw); the stream does not depend on how it is cut into calls.
    """
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    n = out.shape[0]
    j = 0
    while j < n:
        m5 = s1 * _U64(5)
        r = ((m5 << _U64(7)) | (m5 >> _U64(57))) * _U64(9)
        t = s1 << _U64(17)
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = (s3 << _U64(45)) | (s3 >> _U64(19))
        idx = np.int64(r & _U64(0xFF))
        rabs = np.int64((r >> _U64(9)) & _U64(0x000FFFFFFFFFFFFF))  # < 2⁵²: exact as int64 and float
        x = float(rabs) * wi[idx]
        if (r >> _U64(8)) & _U64(1):
            x = -x
        if rabs < ki[idx]:
            out[j] = x
            j += 1
            continue
        s[0], s[1], s[2], s[3] = s0, s1, s2, s3
        ok, val = _zig_slow(s, fi, idx, rabs, x)
        s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
        if ok:
            out[j] = val
            j += 1
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3


@njit(cache=True)
def fill_normals(seed, chunk, ki, wi, fi, out):
    """``out[:] =`` the first ``len(out)`` normals of chunk ``chunk`` (used by the tests)."""
    s = np.empty(4, dtype=np.uint64)
    seed_state(seed, chunk, s)
    fill_normals_state(s, ki, wi, fi, out)


#: normals drawn per refill inside the kernels (even: they are consumed in pairs)
_BUF = 512


@njit(cache=True)
def act_fn(x, act):
    if act == 0:
        return x if x > 0.0 else 0.0
    if act == 1:
        return 0.5 * x * (1.0 + math.erf(x * _INV_SQRT2))
    if act == 2:
        return math.tanh(x)
    return x


@njit(cache=True, parallel=True)
def chord_mc_range(l11, l21, l22, lams, act, n_samples, chunk, seed, ki, wi, fi, mean, m2, t0, t1, a0, a1):
    """Per-chunk Welford statistics of ``h² = (σ(Z) − (1−λ)σ(X) − λσ(Y))²`` for tasks ``t0 ≤ t < t1``
    and path positions ``lams[a0:a1]``.

    ``(X, Y) = (l11·ξ, l21·ξ + l22·η)`` with ``ξ, η ~ N(0,1)`` i.i.d. (a factor of neuron ``i``'s pair
    covariance), ``Z = (1−λ)X + λY`` for every ``λ`` in ``lams`` (common random numbers).
    Outputs ``mean, m2`` of shape ``(n_chunks, m, n)`` (chunk ``c`` holds
    ``min(chunk, n_samples − c·chunk)`` samples); task
    ``t = i·n_chunks + c`` is neuron ``i``, chunk ``c`` (generator ``seed_state(seed, t)``; per
    sample ``ξ`` then ``η``). Every task and every ``λ`` is computed independently of the others, so the
    caller may cut the work into any ranges (short calls keep Ctrl-C responsive) and get the same bits.
    """
    n_chunks = mean.shape[0]
    for tt in prange(t1 - t0):
        t = t0 + tt
        i = t // n_chunks
        c = t % n_chunks
        st = np.empty(4, dtype=np.uint64)
        seed_state(seed, t, st)
        buf = np.empty(_BUF)
        pos = _BUF
        start = c * chunk
        stop = min(start + chunk, n_samples)
        mu = np.zeros(a1 - a0)
        s2 = np.zeros(a1 - a0)
        k = 0
        for _ in range(start, stop):
            if pos == _BUF:
                fill_normals_state(st, ki, wi, fi, buf)
                pos = 0
            xi = buf[pos]
            eta = buf[pos + 1]
            pos += 2
            x = l11[i] * xi
            y = l21[i] * xi + l22[i] * eta
            sx = act_fn(x, act)
            sy = act_fn(y, act)
            k += 1
            for a in range(a1 - a0):
                lam = lams[a0 + a]
                h = act_fn((1.0 - lam) * x + lam * y, act) - (1.0 - lam) * sx - lam * sy
                h2 = h * h
                d = h2 - mu[a]
                mu[a] += d / k
                s2[a] += d * (h2 - mu[a])
        for a in range(a1 - a0):
            mean[c, a0 + a, i] = mu[a]
            m2[c, a0 + a, i] = s2[a]


def chord_mc(l11, l21, l22, lams, act, n_samples, chunk, seed, ki, wi, fi, mean, m2):
    """All tasks and positions of :func:`chord_mc_range` in one (uninterruptible) call; used by the tests."""
    chord_mc_range(l11, l21, l22, lams, act, n_samples, chunk, seed, ki, wi, fi, mean, m2,
                   0, l11.shape[0] * mean.shape[0], 0, lams.shape[0])


#: pairs per resumable step are a multiple of this, so a step ends with the normal buffer used up
WA_STEP_ALIGN = _BUF // 2


@njit(cache=True, parallel=True)
def wa_cosine_steps(dim, a, b, c, block, seed, ki, wi, fi, q0, states, sums, done, budget, out):
    """Advance blocks ``q0 … q0 + G − 1`` of the weak-additivity Monte Carlo by ≤ ``budget`` coordinate
    pairs each (``G = len(done)``); resumable, so the caller can keep every call short.

    ``out[k] = cos(relu(u+v), relu(u)+relu(v))`` for i.i.d. coordinate pairs ``u_j = a·ξ_j``,
    ``v_j = b·ξ_j + c·η_j``; NaN where a side is the zero vector. Vectors are processed in blocks of
    ``block``; block ``q`` uses generator ``seed_state(seed, q)``, drawing ``ξ_j, η_j`` alternately, vector
    after vector. Per block ``g`` of the group: ``states[g]`` its generator, ``done[g]`` the pairs drawn
    so far, ``sums[g]`` the running sums of the current vector (start with ``done = 0``). ``budget``
    must be a multiple of :data:`WA_STEP_ALIGN`: a step then ends with the normal buffer exhausted, so
    the stream — and every bit of ``out`` — does not depend on how the work is cut into steps.
    """
    n_vectors = out.shape[0]
    for g in prange(done.shape[0]):
        q = q0 + g
        v0 = q * block
        if v0 >= n_vectors:
            continue
        total = min(block, n_vectors - v0) * dim
        p = done[g]
        if p >= total:
            continue
        st = states[g]
        if p == 0:
            seed_state(seed, q, st)
        stop = min(total, p + budget)
        buf = np.empty(_BUF)
        pos = _BUF
        k = v0 + p // dim
        j = p % dim
        s_num = sums[g, 0]
        s_l = sums[g, 1]
        s_r = sums[g, 2]
        while p < stop:
            if pos == _BUF:
                fill_normals_state(st, ki, wi, fi, buf)
                pos = 0
            xi = buf[pos]
            eta = buf[pos + 1]
            pos += 2
            u = a * xi
            v = b * xi + c * eta
            w = u + v
            lft = w if w > 0.0 else 0.0
            rgt = (u if u > 0.0 else 0.0) + (v if v > 0.0 else 0.0)
            s_num += lft * rgt
            s_l += lft * lft
            s_r += rgt * rgt
            p += 1
            j += 1
            if j == dim:
                if s_l > 0.0 and s_r > 0.0:
                    out[k] = s_num / math.sqrt(s_l * s_r)
                else:
                    out[k] = np.nan
                k += 1
                j = 0
                s_num = 0.0
                s_l = 0.0
                s_r = 0.0
        sums[g, 0] = s_num
        sums[g, 1] = s_l
        sums[g, 2] = s_r
        done[g] = p


def wa_cosine_mc(dim, a, b, c, block, seed, ki, wi, fi, out):
    """All of ``out`` in one (uninterruptible) call of :func:`wa_cosine_steps`; used by the tests."""
    n_blocks = (out.shape[0] + block - 1) // block
    states = np.zeros((n_blocks, 4), dtype=np.uint64)
    sums = np.zeros((n_blocks, 3))
    done = np.zeros(n_blocks, dtype=np.int64)
    wa_cosine_steps(dim, a, b, c, block, seed, ki, wi, fi, 0, states, sums, done, block * dim, out)
