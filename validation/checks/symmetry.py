"""§10 of docs/theory.md: function-preserving symmetries (T-S1..T-S4), checked against torch.
Mirrors ``validation/test_thm_symmetry.py``."""

from __future__ import annotations

import math

import numpy as np

from .chord import ACTIVATIONS
from .common import fail


def check_function_preserved(tid, f_before, f_after, X, *, rtol=1e-10, what="function"):
    """``f_after(X) == f_before(X)`` to ``rtol·max(1, max|f|)``. Returns the relative error."""
    a = np.asarray(f_before(X), float)
    b = np.asarray(f_after(X), float)
    err = float(np.max(np.abs(a - b))) / max(1.0, float(np.max(np.abs(a))))
    if not err <= rtol:
        fail(tid, f"{what} changed by {err:.3g} (rtol {rtol:g})")
    return err


def torch_mlp_forward(W1, b1, W2, X, act="relu"):
    """``W2 σ(W1 x + b1)`` as a float64 torch ``nn.Linear``–σ–``nn.Linear`` stack (rows of ``X``)."""
    import torch

    h, d = W1.shape
    o = W2.shape[0]
    lin1 = torch.nn.Linear(d, h, bias=b1 is not None).double()
    lin2 = torch.nn.Linear(h, o, bias=False).double()
    f = {"relu": torch.relu, "tanh": torch.tanh, "gelu": torch.nn.functional.gelu}[act]
    with torch.no_grad():
        lin1.weight.copy_(torch.as_tensor(np.asarray(W1, float)))
        if b1 is not None:
            lin1.bias.copy_(torch.as_tensor(np.asarray(b1, float)))
        lin2.weight.copy_(torch.as_tensor(np.asarray(W2, float)))
        return lin2(f(lin1(torch.as_tensor(np.asarray(X, float))))).numpy()


def check_permutation_symmetry(permute_fn, W1, b1, W2, perm, X, act="relu", *, rtol=1e-12):
    """T-S1: ``σ(Px) = Pσ(x)`` (torch activation, relative 1e-12) and the permuted block
    ``permute_fn(W1, b1, W2, perm)`` computes the same function (torch float64, ``rtol``); the hidden
    units are really permuted (``W1' = W1[perm]``). Returns the relative error."""
    import torch

    tid = "T-S1"
    Z = np.asarray(X, float) @ W1.T
    f = {"relu": torch.relu, "tanh": torch.tanh, "gelu": torch.nn.functional.gelu}[act]
    # Z[:, perm] comes out Fortran-ordered, and torch's strided GELU kernel differs from its contiguous one by
    # ~2e-14 relative (found by the thorough profile): compare like with like
    a = f(torch.as_tensor(np.ascontiguousarray(Z[:, perm]))).numpy()
    b = f(torch.as_tensor(Z)).numpy()[:, perm]
    # bitwise equality is too strict: a permutation moves entries between torch's SIMD body and scalar tail,
    # whose GELU results differ by up to ~1e-13 relative (8e-14 seen in the thorough profile)
    if not np.allclose(a, b, rtol=1e-12, atol=1e-300):
        fail(tid, "elementwise σ does not commute with the permutation")
    W1p, b1p, W2p = permute_fn(W1, b1, W2, perm)
    if not np.allclose(np.asarray(W1p), W1[perm]):
        fail(tid, "hidden units not permuted: W1' ≠ P W1")
    return check_function_preserved(tid, lambda X_: torch_mlp_forward(W1, b1, W2, X_, act),
                                    lambda X_: torch_mlp_forward(np.asarray(W1p), None if b1p is None else np.asarray(b1p),
                                                                 np.asarray(W2p), X_, act), X, rtol=rtol)


def check_split_symmetry(split_fn, W1, b1, W2, unit, alpha, X, *, rtol=1e-12):
    """T-S2: ``relu(x) = relu(αx) + relu((1−α)x)`` on the preactivations (``rtol``), and the split block
    ``split_fn(W1, b1, W2, unit, α)`` (one unit wider) computes the same ReLU function (torch float64).
    Returns the relative error."""
    tid = "T-S2"
    Z = np.asarray(X, float) @ W1.T
    relu = ACTIVATIONS["relu"]
    e = float(np.max(np.abs(relu(Z) - relu(alpha * Z) - relu((1 - alpha) * Z)))) / max(1.0, float(np.max(np.abs(Z))))
    if e > rtol:
        fail(tid, f"relu(x) ≠ relu(αx) + relu((1−α)x) (α={alpha}): {e:.3g}")
    W1s, b1s, W2s = split_fn(W1, b1, W2, unit, alpha)
    if np.asarray(W1s).shape[0] != W1.shape[0] + 1:
        fail(tid, f"split must add one hidden unit, got width {np.asarray(W1s).shape[0]}")
    return check_function_preserved(tid, lambda X_: torch_mlp_forward(W1, b1, W2, X_),
                                    lambda X_: torch_mlp_forward(np.asarray(W1s), None if b1s is None else np.asarray(b1s),
                                                                 np.asarray(W2s), X_), X, rtol=rtol)


def check_rmsnorm_equivariance(rms_fn, X, O, *, rtol=1e-10):
    """T-S3: ``rms_fn(x) = x/√mean(x²)`` (torch reference ``x * rsqrt(mean(x²))``) and
    ``rms_fn(Ox) = O·rms_fn(x)`` for orthogonal ``O`` (rows of ``X``; ``rtol``). Returns the error."""
    import torch

    tid = "T-S3"
    Xt = torch.as_tensor(np.asarray(X, float))
    ref = (Xt * torch.rsqrt(torch.mean(Xt * Xt, dim=-1, keepdim=True))).numpy()
    e1 = check_function_preserved(tid, lambda X_: ref, rms_fn, X, rtol=rtol, what="RMSNorm vs x/√mean(x²)")
    e2 = check_function_preserved(tid, lambda X_: np.asarray(rms_fn(X_)) @ O.T, lambda X_: rms_fn(X_ @ O.T), X,
                                  rtol=rtol, what="RMSNorm(Ox) vs O·RMSNorm(x)")
    return max(e1, e2)


def check_layernorm(ln_fn, rms_fn, X, gain, bias, O_fix, *, rtol=1e-10):
    """T-S3: ``ln_fn(x, gain, bias)`` equals ``torch.nn.LayerNorm`` (ε = 0, population variance) and
    ``gain ⊙ RMSNorm(Mx) + bias``; with constant gain, ``bias ∝ 1`` and ``O`` fixing the all-ones vector,
    ``LN(Ox) = O·LN(x)`` (``rtol``). Returns the error."""
    import torch

    tid = "T-S3"
    X = np.asarray(X, float)
    D = X.shape[1]
    ln = torch.nn.LayerNorm(D, eps=0.0).double()
    with torch.no_grad():
        ln.weight.copy_(torch.as_tensor(gain))
        ln.bias.copy_(torch.as_tensor(bias))
        ref = ln(torch.as_tensor(X)).numpy()
    M = np.eye(D) - np.ones((D, D)) / D
    e1 = check_function_preserved(tid, lambda X_: ref, lambda X_: ln_fn(X_, gain, bias), X, rtol=rtol, what="LayerNorm vs torch")
    e2 = check_function_preserved(tid, lambda X_: ref, lambda X_: gain * np.asarray(rms_fn(X_ @ M.T)) + bias, X, rtol=rtol,
                                  what="LayerNorm vs gain ⊙ RMSNorm(Mx) + bias")
    g, b = float(gain[0]), float(bias[0])
    gc, bc = np.full(D, g), np.full(D, b)
    e3 = check_function_preserved(tid, lambda X_: np.asarray(ln_fn(X_, gc, bc)) @ O_fix.T, lambda X_: ln_fn(X_ @ O_fix.T, gc, bc),
                                  X, rtol=rtol, what="LN(Ox) vs O·LN(x) for O1 = 1")
    return max(e1, e2, e3)


def torch_attention(X, WQ, WK, WV, WO):
    """Single-head softmax attention ``softmax(QKᵀ/√d_k) V W_O`` with torch, ``Q = XW_Q`` etc."""
    import torch

    Xt = torch.as_tensor(np.asarray(X, float))
    Q, K, V = Xt @ torch.as_tensor(WQ), Xt @ torch.as_tensor(WK), Xt @ torch.as_tensor(WV)
    att = torch.softmax(Q @ K.T / math.sqrt(WQ.shape[1]), dim=-1)
    return (att @ V @ torch.as_tensor(WO)).numpy()


def check_attention_symmetry(transform_fn, scores_fn, X, WQ, WK, WV, WO, A, B, *, rtol=1e-9):
    """T-S4: ``scores_fn(X, W_Q, W_K) = (XW_Q)(XW_K)ᵀ``; after ``transform_fn(W_Q, W_K, W_V, W_O, A, B)`` the
    scores and the full torch softmax attention output are unchanged (``rtol``). Returns the error."""
    tid = "T-S4"
    X = np.asarray(X, float)
    e0 = check_function_preserved(tid, lambda X_: (X_ @ WQ) @ (X_ @ WK).T, lambda X_: scores_fn(X_, WQ, WK), X,
                                  rtol=1e-12, what="attention scores")
    Q2, K2, V2, O2 = (np.asarray(t, float) for t in transform_fn(WQ, WK, WV, WO, A, B))
    e1 = check_function_preserved(tid, lambda X_: scores_fn(X_, WQ, WK), lambda X_: scores_fn(X_, Q2, K2), X, rtol=rtol,
                                  what="attention scores under (W_Q A, W_K A^{−ᵀ})")
    e2 = check_function_preserved(tid, lambda X_: torch_attention(X_, WQ, WK, WV, WO),
                                  lambda X_: torch_attention(X_, Q2, K2, V2, O2), X, rtol=rtol,
                                  what="attention output under (A, B)")
    return max(e0, e1, e2)
