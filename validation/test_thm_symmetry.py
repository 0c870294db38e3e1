"""§10 of docs/theory.md: the symmetry hierarchy (T-S1 permutation, T-S2 semi-permutation, T-S3 orthogonal,
T-S4 invertible), checked on random torch layers (``nn.Linear``, ``nn.LayerNorm``, softmax attention) in float64.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import checks
import strategies as S
from lmctheory import symmetry as sym


@pytest.mark.theorem("T-S1")
@given(blk=S.two_layer_blocks(), data=st.data(), act=st.sampled_from(["relu", "tanh", "gelu"]))
def test_T_S1_permutation(blk, data, act, theorem_report):
    """T-S1: ``σ(Px) = Pσ(x)`` (relative 1e-12: torch's SIMD and scalar GELU paths differ by ~1e-13) and ``(W_1, b_1, W_2) → (PW_1, Pb_1, W_2Pᵀ)`` (``permute_hidden``)
    leaves the torch network function unchanged (relative 1e-12)."""
    W1, b1, W2, X = blk
    perm = data.draw(S.permutations(W1.shape[0], non_identity=False))
    e = checks.check_permutation_symmetry(sym.permute_hidden, W1, b1, W2, perm, X, act)
    theorem_report.error("T-S1", e, key=act)
    assert e <= 1e-12


@pytest.mark.theorem("T-S2")
@given(blk=S.two_layer_blocks(), data=st.data(), alpha=st.floats(0.0, 1.0))
def test_T_S2_split_relu_unit(blk, data, alpha, theorem_report):
    """T-S2: ``relu(x) = relu(αx) + relu((1−α)x)`` for ``α ∈ [0, 1]``; splitting a hidden unit
    (``split_relu_unit``) leaves the torch ReLU network unchanged (relative 1e-12)."""
    W1, b1, W2, X = blk
    unit = data.draw(st.integers(0, W1.shape[0] - 1))
    e = checks.check_split_symmetry(sym.split_relu_unit, W1, b1, W2, unit, alpha, X)
    theorem_report.error("T-S2", e, key="split unit")
    assert e <= 1e-12


@pytest.mark.theorem("T-S3")
@given(D=st.integers(2, 12), seed=S.seeds, scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_T_S3_orthogonal_norms(D, seed, scale, theorem_report):
    """T-S3: ``rmsnorm`` = ``x/√mean(x²)`` and ``RMSNorm(Ox) = O·RMSNorm(x)`` for Haar ``O``; ``layernorm`` equals
    ``torch.nn.LayerNorm(eps=0)`` and ``gain ⊙ RMSNorm(Mx) + bias`` with ``M = centering_matrix(D)``; with
    constant gain, ``bias ∝ 1`` and ``O1 = 1`` (``random_orthogonal(fix_ones=True)``) ``LN(Ox) = O·LN(x)``
    (relative 1e-10). ``random_orthogonal`` is orthogonal (1e-12)."""
    rng = np.random.default_rng(seed)
    X = scale * rng.standard_normal((20, D))
    O = np.asarray(sym.random_orthogonal(D, seed=seed))
    Of = np.asarray(sym.random_orthogonal(D, seed=seed + 1, fix_ones=True))
    for Q in (O, Of):
        assert np.max(np.abs(Q @ Q.T - np.eye(D))) <= 1e-12, "random_orthogonal is not orthogonal"
    assert np.max(np.abs(Of @ np.ones(D) - np.ones(D))) <= 1e-12, "fix_ones=True must fix the all-ones vector"
    M = np.asarray(sym.centering_matrix(D))
    assert np.max(np.abs(M - (np.eye(D) - np.ones((D, D)) / D))) <= 1e-15, "centering_matrix ≠ I − 11ᵀ/D"
    e1 = checks.check_rmsnorm_equivariance(sym.rmsnorm, X, O)
    gain, bias = rng.standard_normal(D), rng.standard_normal(D)
    e2 = checks.check_layernorm(sym.layernorm, sym.rmsnorm, X, gain, bias, Of)
    theorem_report.error("T-S3", e1, key="RMSNorm equivariance")
    theorem_report.error("T-S3", e2, key="LayerNorm = RMSNorm(Mx), O1 = 1 equivariance")
    assert max(e1, e2) <= 1e-10


@pytest.mark.theorem("T-S4")
@given(D=st.integers(1, 8), dk=st.integers(1, 6), dv=st.integers(1, 6), seed=S.seeds,
       cond=st.sampled_from([1.0, 10.0, 1e3]))
def test_T_S4_attention_invertible(D, dk, dv, seed, cond, theorem_report):
    """T-S4: ``(XW_QA)(XW_KA^{−ᵀ})ᵀ = XW_QW_KᵀXᵀ`` and ``(XW_VB)(B^{−1}W_O) = XW_VW_O`` for invertible ``A, B`` of
    condition number up to ``1e3`` (``transform_attention``); scores and torch softmax attention output unchanged
    (relative 1e-9)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((7, D))
    WQ, WK = rng.standard_normal((D, dk)), rng.standard_normal((D, dk))
    WV, WO = rng.standard_normal((D, dv)), rng.standard_normal((dv, D))

    def inv_mat(m):
        Q1, _ = np.linalg.qr(rng.standard_normal((m, m)))
        Q2, _ = np.linalg.qr(rng.standard_normal((m, m)))
        return Q1 @ np.diag(np.geomspace(1.0, cond, m)) @ Q2

    e = checks.check_attention_symmetry(sym.transform_attention, sym.attention_scores, X, WQ, WK, WV, WO,
                                        inv_mat(dk), inv_mat(dv))
    theorem_report.error("T-S4", e, key="attention (A, B)")
    assert e <= 1e-9
