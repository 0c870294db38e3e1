"""Tests of lmctheory.chord (docs/theory.md §7: eq. 198, T-chord-exact, T-5.1, eq. 31, T-D.1, T-5.2)."""

import math

import numba
import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import erf

from lmctheory.chord import (
    ACTIVATION_CURVATURE,
    barrier_bound,
    center_dominance,
    center_dominated_chord_bound,
    chord_deviation,
    chord_deviation_mc,
    gaussian_relu_chord_deviation,
    relu_chord_bound,
    relu_gaussian_moment,
    smooth_chord_bound,
)
from lmctheory.chord import MC_CHUNK
from lmctheory.kernels.montecarlo import ACT_CODES, ZIG, chord_mc, fill_normals, fill_normals_state, seed_state
from tests.naive import naive_chord_mc_chunks, naive_gaussian_relu_chord, naive_normals, naive_relu_moment_cov


def _instance(seed, n, d, rank=None, scale=1.0):
    rng = np.random.default_rng(seed)
    w0 = scale * rng.standard_normal((n, d))
    w1 = scale * rng.standard_normal((n, d))
    r = d if rank is None else rank
    A = rng.standard_normal((d, r))
    return w0, w1, A @ A.T


ACTS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
    "tanh": np.tanh,
    "identity": lambda z: z,
}


# ----- eq. (198) --------------------------------------------------------------------------------


def test_relu_moment_special_values_and_mc():
    assert relu_gaussian_moment(2.0, 3.0, 1.0) == pytest.approx(3.0)  # s_x s_y / 2 at θ = 0
    assert relu_gaussian_moment(2.0, 3.0, -1.0) == pytest.approx(0.0, abs=1e-15)
    assert relu_gaussian_moment(2.0, 3.0, 0.0) == pytest.approx(6.0 / (2 * np.pi))
    # rounding slightly outside [-1, 1] is clipped, not NaN
    assert relu_gaussian_moment(1.0, 1.0, 1.0 + 1e-12) == pytest.approx(0.5)
    out = relu_gaussian_moment(np.array([1.0, 2.0]), 1.0, np.array([[0.3], [-0.5]]))
    assert out.shape == (2, 2)
    rng = np.random.default_rng(0)
    xi, eta = rng.standard_normal((2, 400_000))
    rho = 0.37
    x, y = 1.5 * xi, 0.7 * (rho * xi + np.sqrt(1 - rho**2) * eta)
    s = np.maximum(x, 0) * np.maximum(y, 0)
    assert abs(s.mean() - relu_gaussian_moment(1.5, 0.7, rho)) < 5 * s.std() / np.sqrt(s.size)


# the covariance-form reference squares the scales; keep them where the square does not underflow
_scale = st.one_of(st.just(0.0), st.floats(1e-70, 10))


@settings(max_examples=40, deadline=None)
@given(sx=_scale, sy=_scale, c=st.floats(-1, 1))
def test_relu_moment_matches_naive(sx, sy, c):
    assert relu_gaussian_moment(sx, sy, c) == pytest.approx(
        naive_relu_moment_cov(sx * sx, sy * sy, c * sx * sy), rel=1e-12, abs=1e-14
    )


# ----- T-chord-exact ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 4),
    d=st.integers(1, 5),
    rank=st.integers(1, 5),
    lam=st.floats(0, 1),
)
def test_exact_chord_matches_naive_expansion(seed, n, d, rank, lam):
    w0, w1, cov = _instance(seed, n, d, rank=min(rank, d))
    got = gaussian_relu_chord_deviation(w0, w1, cov, lam)
    ref = naive_gaussian_relu_chord(w0, w1, cov, lam)
    scale = np.einsum("ij,jk,ik->i", w0, cov, w0) + np.einsum("ij,jk,ik->i", w1, cov, w1)
    assert got.shape == (n,)
    assert np.all(got >= 0)
    np.testing.assert_allclose(got, ref, atol=1e-12 * (1 + scale.max()), rtol=1e-9)


def test_exact_chord_endpoints_lam_grid_and_symmetry():
    w0, w1, cov = _instance(1, 5, 4)
    lam = np.linspace(0, 1, 7)
    D = gaussian_relu_chord_deviation(w0, w1, cov, lam)
    assert D.shape == (7, 5)
    np.testing.assert_allclose(D[[0, -1]], 0.0, atol=1e-15)
    np.testing.assert_allclose(D[3], gaussian_relu_chord_deviation(w0, w1, cov, 0.5))
    # swapping the endpoints reverses the path
    np.testing.assert_allclose(gaussian_relu_chord_deviation(w1, w0, cov, lam), D[::-1], rtol=1e-12, atol=1e-15)
    # positive homogeneity: scaling both endpoints by c scales Δ by c²
    np.testing.assert_allclose(gaussian_relu_chord_deviation(3 * w0, 3 * w1, cov, lam), 9 * D, rtol=1e-12, atol=1e-14)
    # parallel rows (same sign) have no chord error
    assert np.all(gaussian_relu_chord_deviation(w0, 2.5 * w0, cov, lam) < 1e-14)
    # a row invisible to a singular Σ (X ≡ 0) has no chord error either; MC agrees
    cov0 = np.diag([1.0, 2.0, 0.0, 0.5])
    e3 = np.array([[0.0, 0.0, 1.0, 0.0]])
    assert gaussian_relu_chord_deviation(e3, w1[:1], cov0, 0.3)[0] == 0.0
    assert chord_deviation_mc(e3, w1[:1], cov0, 0.3, n_samples=1000).mean[0] == 0.0


def test_exact_chord_is_accurate_for_nearly_parallel_rows():
    # the bound T-5.1 is ~θ³; an implementation that cancels would return 0, negative or noise here
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((1, 3))
    cov = np.eye(3)
    for eps in [1e-3, 1e-5, 1e-7]:
        w1 = w0 + eps * rng.standard_normal((1, 3))
        D = gaussian_relu_chord_deviation(w0, w1, cov, 0.5)[0]
        B = relu_chord_bound(w0, w1, cov, 0.5)[0]
        assert 0 < D <= B
        assert D > 1e-3 * B  # same order as the bound (both ∝ θ³)


def _mp_chord(a, b, lam, dps=60):
    """The six-moment expansion of T-chord-exact in 60-digit arithmetic (Σ = I), for one neuron."""
    import mpmath as mp

    mp.mp.dps = dps
    a = [mp.mpf(float(t)) for t in a]
    b = [mp.mpf(float(t)) for t in b]
    lam = mp.mpf(float(lam))
    dot = lambda u, v: mp.fsum(x * y for x, y in zip(u, v))  # noqa: E731

    def K(va, vb, c):
        s = mp.sqrt(va * vb)
        th = mp.acos(max(-1, min(1, c / s)))
        return s / (2 * mp.pi) * (mp.sin(th) + (mp.pi - th) * mp.cos(th))

    vx, vy, cxy = dot(a, a), dot(b, b), dot(a, b)
    mu = 1 - lam
    vz = mu**2 * vx + 2 * lam * mu * cxy + lam**2 * vy
    czx, czy = mu * vx + lam * cxy, mu * cxy + lam * vy
    return float(vz / 2 + mu**2 * vx / 2 + lam**2 * vy / 2 - 2 * mu * K(vz, vx, czx) - 2 * lam * K(vz, vy, czy)
                 + 2 * lam * mu * K(vx, vy, cxy))


@pytest.mark.parametrize("eps", [1e-1, 1e-3, 1e-5])
def test_exact_chord_full_relative_accuracy(eps):
    # against a 60-digit evaluation of the expansion: the closed form keeps every digit even when
    # Δ ~ θ³ is tiny (the float64 expansion loses them all to cancellation)
    rng = np.random.default_rng(14)
    w0 = rng.standard_normal((3, 4))
    w1 = w0 + eps * rng.standard_normal((3, 4))
    for lam in [0.1, 0.5, 0.9]:
        got = gaussian_relu_chord_deviation(w0, w1, np.eye(4), lam)
        ref = np.array([_mp_chord(w0[i], w1[i], lam) for i in range(3)])
        np.testing.assert_allclose(got, ref, rtol=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_chord_matches_monte_carlo(seed):
    w0, w1, cov = _instance(seed, 6, 4, rank=3)
    lam = np.array([0.1, 0.5, 0.8])
    exact = gaussian_relu_chord_deviation(w0, w1, cov, lam)
    mc = chord_deviation_mc(w0, w1, cov, lam, n_samples=100_000, seed=seed)
    assert mc.mean.shape == mc.stderr.shape == (3, 6)
    z = (mc.mean - exact) / mc.stderr
    assert np.max(np.abs(z)) < 5.0, z
    # and the MC is not trivially exact: it has sampling noise of the size it reports
    assert 0.2 < np.sqrt(np.mean(z**2)) < 3.0


def test_empirical_chord_on_gaussian_data_matches_exact():
    w0, w1, cov = _instance(3, 4, 3)
    rng = np.random.default_rng(4)
    X = rng.multivariate_normal(np.zeros(3), cov, size=200_000)
    emp = chord_deviation(w0, w1, X, 0.4)
    exact = gaussian_relu_chord_deviation(w0, w1, cov, 0.4)
    P0, P1 = X @ w0.T, X @ w1.T
    h = np.maximum(0.6 * P0 + 0.4 * P1, 0) - 0.6 * np.maximum(P0, 0) - 0.4 * np.maximum(P1, 0)
    se = (h**2).std(axis=0) / np.sqrt(X.shape[0])
    assert np.all(np.abs(emp - exact) < 5 * se)


@pytest.mark.parametrize("act", ["relu", "gelu", "tanh", "identity"])
def test_empirical_chord_matches_direct_formula(act):
    w0, w1, _ = _instance(5, 3, 4)
    X = np.random.default_rng(6).standard_normal((50, 4))
    lam = np.array([0.0, 0.3, 1.0])
    got = chord_deviation(w0, w1, X, lam, activation=act)
    f = ACTS[act]
    for a, lm in enumerate(lam):
        for i in range(3):
            r = [(f((1 - lm) * w0[i] @ x + lm * w1[i] @ x) - (1 - lm) * f(w0[i] @ x) - lm * f(w1[i] @ x)) ** 2 for x in X]
            assert got[a, i] == pytest.approx(np.mean(r), rel=1e-10, abs=1e-14)
    if act == "identity":
        assert np.all(got < 1e-20)


# ----- the Monte Carlo kernel ------------------------------------------------------------------


def test_normal_stream_matches_naive_bit_for_bit():
    for seed, chunk in [(0, 0), (7, 3), (2**63 - 1, 10**6)]:
        out = np.empty(3000)
        fill_normals(seed, chunk, *ZIG, out)
        np.testing.assert_array_equal(out, naive_normals(seed, chunk, 3000, *ZIG))
    # the stream does not depend on how it is cut into refills
    s = np.empty(4, dtype=np.uint64)
    seed_state(7, 3, s)
    parts = [np.empty(k) for k in (1, 999, 2000)]
    for p in parts:
        fill_normals_state(s, *ZIG, p)
    out = np.empty(3000)
    fill_normals(7, 3, *ZIG, out)
    np.testing.assert_array_equal(np.concatenate(parts), out)


def test_normal_stream_is_standard_normal():
    out = np.empty(400_000)
    fill_normals(11, 0, *ZIG, out)
    assert scipy.stats.kstest(out, "norm").pvalue > 1e-4
    # the tail (layer 0, |x| > r ≈ 3.654) has the right mass: binomial count within 5 sd
    p = 2 * scipy.stats.norm.sf(3.6541528853610088)
    k = np.sum(np.abs(out) > 3.6541528853610088)
    assert abs(k - p * out.size) < 5 * np.sqrt(p * out.size)
    assert abs(np.mean(out**4) - 3.0) < 5 * np.sqrt(96 / out.size)
    other = np.empty(1000)
    fill_normals(11, 1, *ZIG, other)
    assert abs(np.corrcoef(out[:1000], other)[0, 1]) < 0.15  # chunks are independent streams


@pytest.mark.parametrize("act", ["relu", "gelu", "tanh", "identity"])
def test_chord_kernel_matches_naive_on_same_stream(act):
    rng = np.random.default_rng(3)
    l11, l21, l22 = rng.standard_normal((3, 3))
    lams = np.array([0.0, 0.3, 0.75])
    n_samples, chunk = 230, 100
    mean = np.zeros((3, 3, 3))
    m2 = np.zeros_like(mean)
    chord_mc(l11, l21, l22, lams, ACT_CODES[act], n_samples, chunk, 5, *ZIG, mean, m2)
    rmean, rm2 = naive_chord_mc_chunks(l11, l21, l22, lams, ACTS[act], n_samples, chunk, 5, ZIG)
    np.testing.assert_allclose(mean, rmean, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(m2, rm2, rtol=1e-8, atol=1e-300)


def test_chord_mc_pooling_matches_single_pass():
    # chunked Welford + Chan pooling = plain mean / ddof=1 std over all samples of the same stream
    w0, w1, cov = _instance(4, 2, 3)
    n_samples = 2 * MC_CHUNK + 123
    mc = chord_deviation_mc(w0, w1, cov, 0.4, n_samples=n_samples, seed=2)
    s0 = np.sqrt(np.einsum("ij,jk,ik->i", w0, cov, w0))
    s1 = np.sqrt(np.einsum("ij,jk,ik->i", w1, cov, w1))
    c = np.einsum("ij,jk,ik->i", w0, cov, w1) / (s0 * s1)
    n_chunks = 3
    for i in range(2):
        h2 = []
        for ch in range(n_chunks):
            cnt = min(MC_CHUNK, n_samples - ch * MC_CHUNK)
            g = np.empty(2 * cnt)
            fill_normals(2, i * n_chunks + ch, *ZIG, g)
            x = s0[i] * g[0::2]
            y = s1[i] * (c[i] * g[0::2] + np.sqrt(1 - c[i] ** 2) * g[1::2])
            h2.append((np.maximum(0.6 * x + 0.4 * y, 0) - 0.6 * np.maximum(x, 0) - 0.4 * np.maximum(y, 0)) ** 2)
        h2 = np.concatenate(h2)
        assert mc.mean[i] == pytest.approx(h2.mean(), rel=1e-6)
        assert mc.std[i] == pytest.approx(h2.std(ddof=1), rel=1e-6)
        assert mc.stderr[i] == pytest.approx(h2.std(ddof=1) / np.sqrt(n_samples), rel=1e-6)


def test_mc_identity_activation_is_zero():
    w0, w1, cov = _instance(8, 3, 3)
    mc = chord_deviation_mc(w0, w1, cov, 0.3, n_samples=1000, activation="identity")
    assert np.all(mc.mean < 1e-25)


def test_mc_is_reproducible_across_seeds_and_threads():
    w0, w1, cov = _instance(9, 3, 3)
    n_threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = chord_deviation_mc(w0, w1, cov, 0.5, n_samples=40_000, seed=3)
        numba.set_num_threads(max(2, n_threads) if numba.config.NUMBA_NUM_THREADS >= 2 else 1)
        b = chord_deviation_mc(w0, w1, cov, 0.5, n_samples=40_000, seed=3)
    finally:
        numba.set_num_threads(n_threads)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.stderr, b.stderr)
    c = chord_deviation_mc(w0, w1, cov, 0.5, n_samples=40_000, seed=4)
    assert not np.array_equal(a.mean, c.mean)
    assert a.n_samples == 40_000


# ----- bounds ----------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 4), d=st.integers(1, 4), lam=st.floats(0, 1))
def test_relu_bound_dominates_exact(seed, n, d, lam):
    w0, w1, cov = _instance(seed, n, d)
    D = gaussian_relu_chord_deviation(w0, w1, cov, lam)
    B = relu_chord_bound(w0, w1, cov, lam)
    Bc = relu_chord_bound(w0, w1, cov, lam, form="cubic")
    tol = 1e-12 * (1 + np.abs(B))
    assert np.all(D <= B + tol)
    assert np.all(B <= Bc + tol)


def test_relu_bound_bites():
    # the bound is tight within a constant: half of it is violated somewhere (a halved constant is caught)
    w0, w1, cov = _instance(10, 30, 3)
    lam = np.linspace(0.05, 0.95, 19)
    D = gaussian_relu_chord_deviation(w0, w1, cov, lam)
    B = relu_chord_bound(w0, w1, cov, lam)
    assert np.any(D > 0.5 * B)
    # and the exact formula with the wrong (1−λ)/λ assignment would differ
    assert np.max(np.abs(D - D[::-1])) > 1e-3 * D.max()


def test_center_dominance_and_bound():
    rng = np.random.default_rng(12)
    n, d = 8, 5
    F = 3.0 * rng.standard_normal((n, d))
    A = rng.standard_normal((d, d))
    cov = A @ A.T + 0.1 * np.eye(d)
    lam = np.linspace(0, 1, 41)
    prev = 0.0
    for scale in [0.01, 0.05, 0.2]:
        w0 = F + scale * rng.standard_normal((n, d))
        w1 = F + scale * rng.standard_normal((n, d))
        eta = center_dominance(w0, w1, F, cov)
        assert eta.shape == (n,)
        snorm = lambda M: np.sqrt(np.einsum("ij,jk,ik->i", M, cov, M))  # noqa: E731
        np.testing.assert_allclose(eta, np.maximum(snorm(w0 - F), snorm(w1 - F)) / snorm(F))
        sup = gaussian_relu_chord_deviation(w0, w1, cov, lam).sum(axis=1).max()
        B_scalar = center_dominated_chord_bound(F, cov, float(eta.max()))
        B_vec = center_dominated_chord_bound(F, cov, eta)
        assert sup <= B_vec * (1 + 1e-12) <= B_scalar * (1 + 1e-12)
        assert B_scalar > prev  # increasing in η
        prev = B_scalar
    assert center_dominated_chord_bound(F, cov, 0.0) == 0.0
    # zero center with non-zero trainable part is not center-dominated
    eta = center_dominance(np.ones((1, 2)), np.ones((1, 2)), np.zeros((1, 2)), np.eye(2))
    assert eta[0] == np.inf


@pytest.mark.parametrize("act", ["gelu", "tanh"])
def test_smooth_bound_dominates_mc(act):
    w0, w1, cov = _instance(13, 5, 3, scale=0.5)
    lam = np.array([0.2, 0.5])
    mc = chord_deviation_mc(w0, w1, cov, lam, n_samples=50_000, seed=2, activation=act)
    B = smooth_chord_bound(w0, w1, cov, lam, act)
    assert np.all(mc.mean - 4 * mc.stderr <= B)
    np.testing.assert_allclose(B, smooth_chord_bound(w0, w1, cov, lam, ACTIVATION_CURVATURE[act]))
    D = w1 - w0
    s = np.einsum("ij,jk,ik->i", D, cov, D)
    b = ACTIVATION_CURVATURE[act]
    assert B[1, 0] == pytest.approx(0.75 * b**2 * 0.25**2 * s[0] ** 2)


def test_activation_curvature_constants():
    x = np.linspace(-6, 6, 200_001)
    phi = np.exp(-x * x / 2) / np.sqrt(2 * np.pi)
    gelu2 = phi * (2 - x * x)
    t = np.tanh(x)
    tanh2 = -2 * t * (1 - t * t)
    sig = 1 / (1 + np.exp(-x))
    soft2 = sig * (1 - sig)
    for name, curv in [("gelu", gelu2), ("tanh", tanh2), ("softplus", soft2)]:
        assert ACTIVATION_CURVATURE[name] == pytest.approx(np.max(np.abs(curv)), rel=1e-8)


def test_barrier_bound():
    assert barrier_bound(np.array([0.0, 0.25, 0.04])) == pytest.approx(math.sqrt(2) * 0.5)
    assert barrier_bound([0.0, 4.0], lipschitz=1.0) == pytest.approx(2.0)
    assert barrier_bound(0.09, lipschitz=2.0) == pytest.approx(0.6)


# ----- bad input -------------------------------------------------------------------------------


def test_bad_inputs():
    w0, w1, cov = _instance(0, 3, 2)
    with pytest.raises(ValueError, match="w1"):
        gaussian_relu_chord_deviation(w0, w1[:, :1], cov, 0.5)
    with pytest.raises(ValueError, match="cov"):
        gaussian_relu_chord_deviation(w0, w1, np.eye(3), 0.5)
    with pytest.raises(ValueError, match="symmetric"):
        gaussian_relu_chord_deviation(w0, w1, np.array([[1.0, 0.5], [0.0, 1.0]]), 0.5)
    with pytest.raises(ValueError, match="semidefinite"):
        relu_chord_bound(w0, w1, -np.eye(2), 0.5)
    with pytest.raises(ValueError, match="lam"):
        gaussian_relu_chord_deviation(w0, w1, cov, 1.5)
    with pytest.raises(ValueError, match="lam"):
        chord_deviation_mc(w0, w1, cov, np.array([0.2, -0.1]))
    with pytest.raises(ValueError, match="NaN"):
        chord_deviation(w0, np.full_like(w1, np.nan), np.ones((4, 2)), 0.5)
    with pytest.raises(ValueError, match="X"):
        chord_deviation(w0, w1, np.ones((4, 3)), 0.5)
    with pytest.raises(ValueError, match="activation"):
        chord_deviation(w0, w1, np.ones((4, 2)), 0.5, activation="sigmoid")
    with pytest.raises(TypeError, match="activation"):
        chord_deviation_mc(w0, w1, cov, 0.5, activation=None)
    with pytest.raises(ValueError, match="n_samples"):
        chord_deviation_mc(w0, w1, cov, 0.5, n_samples=1)
    with pytest.raises(ValueError, match="seed"):
        chord_deviation_mc(w0, w1, cov, 0.5, seed=-3)
    with pytest.raises(ValueError, match="form"):
        relu_chord_bound(w0, w1, cov, 0.5, form="quartic")
    with pytest.raises(ValueError, match="s_x"):
        relu_gaussian_moment(-1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="cos_theta"):
        relu_gaussian_moment(1.0, 1.0, np.nan)
    with pytest.raises(ValueError, match="broadcast"):
        relu_gaussian_moment(np.ones(2), np.ones(3), 0.0)
    with pytest.raises(ValueError, match="eta"):
        center_dominated_chord_bound(w0, cov, 1.0)
    with pytest.raises(ValueError, match="eta"):
        center_dominated_chord_bound(w0, cov, np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="fixed"):
        center_dominance(w0, w1, w0[:2], cov)
    with pytest.raises(ValueError, match="beta"):
        smooth_chord_bound(w0, w1, cov, 0.5, -1.0)
    with pytest.raises(ValueError, match="beta"):
        smooth_chord_bound(w0, w1, cov, 0.5, "relu")
    with pytest.raises(ValueError, match="output_chord"):
        barrier_bound(np.array([0.1, -0.2]))
    with pytest.raises(ValueError, match="output_chord"):
        barrier_bound(np.array([]))
    with pytest.raises(TypeError, match="w0"):
        gaussian_relu_chord_deviation("abc", w1, cov, 0.5)
    with pytest.raises(ValueError, match="w0"):
        gaussian_relu_chord_deviation(w0[0], w1[0], cov, 0.5)


def test_center_dominated_smooth_bound_is_smooth_bound_at_worst_endpoints():
    from lmctheory.chord import center_dominated_smooth_chord_bound, smooth_chord_bound

    rng = np.random.default_rng(0)
    F = rng.standard_normal((4, 3))
    cov = np.diag([1.0, 2.0, 0.5])
    eta = np.array([0.0, 0.1, 0.4, 0.9])
    got = center_dominated_smooth_chord_bound(F, cov, eta, "tanh")
    want = smooth_chord_bound((1 - eta)[:, None] * F, (1 + eta)[:, None] * F, cov, 0.5, "tanh")
    np.testing.assert_allclose(got, want, rtol=1e-13)
    with pytest.raises(ValueError, match="eta"):
        center_dominated_smooth_chord_bound(F, cov, 1.0, 1.0)
    with pytest.raises(ValueError, match="beta"):
        center_dominated_smooth_chord_bound(F, cov, 0.5, -1.0)
    with pytest.raises(ValueError, match="beta"):
        center_dominated_smooth_chord_bound(F, cov, 0.5, "relu")
