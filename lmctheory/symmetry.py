"""The symmetry hierarchy of [GLMC]: permutation ⊂ semi-permutation ⊂ orthogonal ⊂ invertible (docs/theory.md §10).

Small, exact NumPy implementations of the maps T-S1–T-S4 and of the layers they act on, so that each
invariance can be checked numerically. Conventions: a hidden layer is ``h = σ(W_1 x + b_1)``,
output ``W_2 h``, with ``W_1`` ``(h, d)``, ``b_1`` ``(h,)``, ``W_2`` ``(o, h)``. Residual-stream vectors are
the **last** axis of ``x`` (``(..., D)``); attention inputs are rows, ``X`` ``(N, D)``.
A permutation ``perm`` acts as ``(P x)_i = x[perm[i]]`` (as in :mod:`lmctheory.alignment`).
"""

from __future__ import annotations

import numpy as np

from ._validation import check_array, check_int, check_permutation, check_scalar, check_seed

__all__ = [
    "permute_hidden",
    "split_relu_unit",
    "rmsnorm",
    "layernorm",
    "centering_matrix",
    "random_orthogonal",
    "attention_scores",
    "transform_attention",
    "INVERTIBLE_RCOND",
]

#: matrices with reciprocal condition number below this are rejected as not invertible
INVERTIBLE_RCOND = 1e-12


def _check_mlp(W1, b1, W2):
    W1 = check_array(W1, "W1", ndim=2)
    h = W1.shape[0]
    b1 = None if b1 is None else check_array(b1, "b1", shape=(h,))
    W2 = check_array(W2, "W2", ndim=2)
    if W2.shape[1] != h:
        raise ValueError(f"W2 must have shape (o, {h}) to follow W1 {W1.shape}, got {W2.shape}")
    return W1, b1, W2


def permute_hidden(W1, b1, W2, perm):
    """Permute the hidden units of a two-layer block (T-S1, [GLMC] permutation symmetry).

    ``(W_1, b_1, W_2) → (P W_1, P b_1, W_2 Pᵀ)`` with ``(P x)_i = x[perm[i]]``. Since an elementwise σ
    commutes with ``P`` (``σ(Px) = Pσ(x)``), ``W_2 Pᵀ σ(P W_1 x + P b_1) = W_2 σ(W_1 x + b_1)``.

    Parameters
    ----------
    W1 : array_like, shape (h, d)
    b1 : array_like, shape (h,), or None
    W2 : array_like, shape (o, h)
    perm : array_like of int, shape (h,)
        A permutation of ``0..h−1``.

    Returns
    -------
    (W1', b1', W2') : tuple of ndarray (``b1'`` is None if ``b1`` is)

    References
    ----------
    [GLMC] (permutation symmetry); docs/theory.md#t-s1.

    Examples
    --------
    >>> import numpy as np
    >>> import lmctheory as lt
    >>> rng = np.random.default_rng(0)
    >>> W1, b1, W2, x = (rng.standard_normal(s) for s in [(3, 2), 3, (1, 3), 2])
    >>> net = lambda W1, b1, W2: W2 @ np.maximum(W1 @ x + b1, 0.0)
    >>> bool(np.allclose(net(*lt.permute_hidden(W1, b1, W2, [2, 0, 1])), net(W1, b1, W2)))
    True
    """
    W1, b1, W2 = _check_mlp(W1, b1, W2)
    p = check_permutation(perm, W1.shape[0], "perm")
    return W1[p], (None if b1 is None else b1[p]), np.ascontiguousarray(W2[:, p])


def split_relu_unit(W1, b1, W2, unit, alpha):
    """Split one ReLU unit into two (T-S2, [GLMC] semi-permutations).

    Uses ``relu(x) = relu(αx) + relu((1−α)x)`` for ``α ∈ [0, 1]`` (positive homogeneity): row ``unit`` of
    ``(W_1, b_1)`` is scaled by ``α`` and a new unit with ``(1−α)`` times the incoming weights is appended
    (last position); its outgoing column in ``W_2`` copies that of ``unit``. The function is unchanged and
    the width grows by one.

    Parameters
    ----------
    W1 : array_like, shape (h, d)
    b1 : array_like, shape (h,), or None
    W2 : array_like, shape (o, h)
    unit : int in [0, h)
    alpha : float in [0, 1]

    Returns
    -------
    (W1', b1', W2') : ndarrays of shapes (h+1, d), (h+1,) or None, (o, h+1)

    References
    ----------
    [GLMC] (semi-permutations); docs/theory.md#t-s2.

    Examples
    --------
    >>> import numpy as np
    >>> import lmctheory as lt
    >>> rng = np.random.default_rng(0)
    >>> W1, b1, W2, x = (rng.standard_normal(s) for s in [(3, 2), 3, (1, 3), 2])
    >>> net = lambda W1, b1, W2: W2 @ np.maximum(W1 @ x + b1, 0.0)
    >>> W1s, b1s, W2s = lt.split_relu_unit(W1, b1, W2, 0, 0.3)
    >>> W1s.shape, bool(np.allclose(net(W1s, b1s, W2s), net(W1, b1, W2)))
    ((4, 2), True)
    """
    W1, b1, W2 = _check_mlp(W1, b1, W2)
    h = W1.shape[0]
    unit = check_int(unit, "unit", low=0, high=h - 1)
    alpha = check_scalar(alpha, "alpha", low=0.0, high=1.0)
    W1n = np.vstack([W1, (1.0 - alpha) * W1[unit : unit + 1]])
    W1n[unit] *= alpha
    b1n = None
    if b1 is not None:
        b1n = np.append(b1, (1.0 - alpha) * b1[unit])
        b1n[unit] *= alpha
    W2n = np.hstack([W2, W2[:, unit : unit + 1]])
    return W1n, b1n, W2n


def _rms(x, name):
    ms = np.mean(x * x, axis=-1, keepdims=True)
    if np.any(ms == 0.0):
        raise ValueError(f"{name} has a zero vector along the last axis: RMSNorm (ε = 0) is undefined there")
    return np.sqrt(ms)


def rmsnorm(x):
    """RMSNorm without gain and with ``ε = 0``: ``RMSNorm(x) = x / √(mean(x²))`` over the last axis (T-S3).

    Equivariant under orthogonal maps: ``RMSNorm(Ox) = O·RMSNorm(x)`` (``‖Ox‖ = ‖x‖``).

    Parameters
    ----------
    x : array_like, shape (..., D)

    Returns
    -------
    ndarray, shape (..., D)

    References
    ----------
    [GLMC] (orthogonal symmetry of the residual stream); docs/theory.md#t-s3.

    Examples
    --------
    >>> import numpy as np
    >>> import lmctheory as lt
    >>> x = np.random.default_rng(0).standard_normal(5)
    >>> O = lt.random_orthogonal(5, seed=1)
    >>> bool(np.allclose(lt.rmsnorm(O @ x), O @ lt.rmsnorm(x)))
    True
    """
    X = check_array(x, "x")
    if X.ndim == 0:
        raise ValueError("x must have at least 1 dimension (..., D)")
    # scale first so mean(x²) neither overflows nor underflows
    m = np.max(np.abs(X), axis=-1, keepdims=True)
    Xs = X / np.where(m == 0, 1.0, m)
    return Xs / _rms(Xs, "x")


def layernorm(x, gain=None, bias=None):
    """LayerNorm with population variance and ``ε = 0``: ``LN(x) = gain ⊙ RMSNorm(Mx) + bias`` (T-S3).

    ``M = I − 11ᵀ/D`` centers over the last axis, so ``RMSNorm(Mx) = (x − mean x)/std(x)`` exactly.
    Hence LayerNorm is equivariant under the orthogonal maps commuting with ``M`` (those fixing the
    all-ones direction), when ``gain`` is constant and ``bias ∝ 1``.

    Parameters
    ----------
    x : array_like, shape (..., D)
    gain, bias : array_like, shape (D,), optional
        Defaults: ones and zeros.

    Returns
    -------
    ndarray, shape (..., D)
    """
    X = check_array(x, "x")
    if X.ndim == 0:
        raise ValueError("x must have at least 1 dimension (..., D)")
    D = X.shape[-1]
    g = np.ones(D) if gain is None else check_array(gain, "gain", shape=(D,))
    b = np.zeros(D) if bias is None else check_array(bias, "bias", shape=(D,))
    m = np.max(np.abs(X), axis=-1, keepdims=True)
    Xs = X / np.where(m == 0, 1.0, m)
    Xc = Xs - Xs.mean(axis=-1, keepdims=True)
    # a constant vector centers to rounding residue: treat it as zero (LayerNorm is 0/0 there)
    tiny = np.max(np.abs(Xc), axis=-1, keepdims=True) <= 1e-13
    if np.any(tiny):
        raise ValueError("x has a constant vector along the last axis: LayerNorm (ε = 0) is undefined there")
    return g * (Xc / _rms(Xc, "x")) + b


def centering_matrix(D: int) -> np.ndarray:
    """The centering matrix ``M = I_D − 11ᵀ/D`` (T-S3): symmetric, idempotent, ``M1 = 0``.

    Parameters
    ----------
    D : int, ``≥ 1``

    Returns
    -------
    ndarray, shape (D, D)
    """
    D = check_int(D, "D", low=1)
    return np.eye(D) - np.full((D, D), 1.0 / D)


def random_orthogonal(D: int, seed: int = 0, fix_ones: bool = False) -> np.ndarray:
    """Haar-random orthogonal ``D×D`` matrix (QR of a Gaussian matrix, signs fixed) (T-S3).

    With ``fix_ones=True``: Haar-random among the orthogonal ``O`` with ``O1 = 1``, i.e. the maps that
    commute with the centering matrix ``M`` (``OM = MO``) — the residual-stream symmetries of
    LayerNorm. Built as ``O = Q diag(1, R) Qᵀ`` with ``Q = [1/√D, basis of 1^⊥]`` and ``R`` Haar on ``O(D−1)``.

    Parameters
    ----------
    D : int, ``≥ 1``
    seed : int
    fix_ones : bool, default False

    Returns
    -------
    ndarray, shape (D, D)
    """
    D = check_int(D, "D", low=1)
    rng = np.random.default_rng(check_seed(seed))
    if not isinstance(fix_ones, (bool, np.bool_)):
        raise TypeError(f"fix_ones must be a bool, got {type(fix_ones).__name__}")

    def haar(k):
        q, r = np.linalg.qr(rng.standard_normal((k, k)))
        s = np.sign(np.diag(r))
        s[s == 0] = 1.0
        return q * s

    if not fix_ones:
        return haar(D)
    if D == 1:
        return np.ones((1, 1))
    # orthonormal basis whose first vector is 1/√D
    A = np.eye(D)
    A[:, 0] = 1.0
    Q, _ = np.linalg.qr(A)
    Q[:, 0] = np.abs(Q[:, 0])  # QR may return −1/√D
    R = np.eye(D)
    R[1:, 1:] = haar(D - 1)
    return Q @ R @ Q.T


def attention_scores(X, W_Q, W_K):
    """Unnormalized attention scores ``(X W_Q)(X W_K)ᵀ`` (T-S4), before scaling and softmax.

    Parameters
    ----------
    X : array_like, shape (N, D)
        Token representations, one per row.
    W_Q, W_K : array_like, shape (D, d_k)

    Returns
    -------
    ndarray, shape (N, N)
    """
    X = check_array(X, "X", ndim=2)
    Q = check_array(W_Q, "W_Q", shape=(X.shape[1], None))
    K = check_array(W_K, "W_K", shape=(X.shape[1], Q.shape[1]))
    return (X @ Q) @ (X @ K).T


def _check_invertible(A, name, k):
    A = check_array(A, name, shape=(k, k))
    s = np.linalg.svd(A, compute_uv=False)
    if not s[-1] > INVERTIBLE_RCOND * s[0]:
        raise ValueError(f"{name} must be invertible (σ_min/σ_max > {INVERTIBLE_RCOND:g}), got {s[-1] / s[0]:.3g}")
    return A


def transform_attention(W_Q, W_K, W_V, W_O, A, B):
    """Apply the invertible symmetries of attention (T-S4, [GLMC]).

    ``(W_Q, W_K, W_V, W_O) → (W_Q A, W_K A^{−ᵀ}, W_V B, B^{−1} W_O)``. Then
    ``(XW_Q A)(XW_K A^{−ᵀ})ᵀ = XW_Q W_Kᵀ Xᵀ`` (scores unchanged) and ``(XW_V B)(B^{−1}W_O) = XW_V W_O``.

    Parameters
    ----------
    W_Q, W_K : array_like, shape (D, d_k)
    W_V : array_like, shape (D, d_v)
    W_O : array_like, shape (d_v, D_out)
    A : array_like, shape (d_k, d_k), invertible
    B : array_like, shape (d_v, d_v), invertible

    Returns
    -------
    (W_Q', W_K', W_V', W_O') : tuple of ndarray, same shapes as the inputs

    References
    ----------
    [GLMC] (invertible symmetry of attention); docs/theory.md#t-s4.

    Examples
    --------
    >>> import numpy as np
    >>> import lmctheory as lt
    >>> rng = np.random.default_rng(0)
    >>> X, WQ, WK, WV, WO = (rng.standard_normal(s) for s in [(4, 6), (6, 3), (6, 3), (6, 2), (2, 6)])
    >>> A, B = rng.standard_normal((3, 3)), rng.standard_normal((2, 2))
    >>> WQ2, WK2, WV2, WO2 = lt.transform_attention(WQ, WK, WV, WO, A, B)
    >>> bool(np.allclose(lt.attention_scores(X, WQ2, WK2), lt.attention_scores(X, WQ, WK)))
    True
    >>> bool(np.allclose(X @ WV2 @ WO2, X @ WV @ WO))
    True
    """
    Q = check_array(W_Q, "W_Q", ndim=2)
    K = check_array(W_K, "W_K", shape=Q.shape)
    V = check_array(W_V, "W_V", shape=(Q.shape[0], None))
    O = check_array(W_O, "W_O", shape=(V.shape[1], None))
    A = _check_invertible(A, "A", Q.shape[1])
    B = _check_invertible(B, "B", V.shape[1])
    K2 = np.linalg.solve(A, K.T).T  # W_K A^{−ᵀ} = (A^{−1} W_Kᵀ)ᵀ
    O2 = np.linalg.solve(B, O)
    return Q @ A, K2, V @ B, O2
