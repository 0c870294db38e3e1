"""Input checkers shared by every public function (the scikit-learn ``check_array`` idea).

Every public function of :mod:`lmctheory` validates its arguments with these helpers *before*
any Numba kernel runs: a kernel indexes raw memory, so an unchecked shape there is memory
corruption, not an exception. Each checker returns a clean ``float64`` C-contiguous array (or a
plain Python number) and raises ``TypeError`` / ``ValueError`` whose message names the argument
and the expected shape or range.

Tolerances (documented here once, cited by the docstrings):

``BASIS_ORTHONORMAL_ATOL = 1e-6``
    ``basis`` passes when ``max |UᵀU − I_k| ≤ 1e-6``. Loose enough for a basis computed in
    float32 (rounding ≈ 1e-7) and converted, tight enough to reject an un-normalized matrix.
``PSD_RTOL = 1e-10``
    a covariance passes when it is symmetric to ``1e-10 · max|Σ|`` and its smallest eigenvalue
    is ``≥ −1e-10 · max(1, λ_max)``.
``MAX_ABS = 1e100``
    supported magnitude of the array entries of functions that form squares and products of
    entries (chord deviations, sensitivities, subspace PCA, layer measurements): they stay finite in
    float64. Larger entries raise ``ValueError`` (rescale the input) instead of returning NaN.
    Scale-invariant functions (e.g. ``activation_correlation``) accept any finite input.
``MAX_ABS_COSTS = 1e50``
    the same for the inputs of the realization-cost and Gram functions, which invert ``S_i``
    (entries ``~ d²``) and square ``S_i⁻¹`` in the certified Cholesky.
``MIN_SCALE_COSTS = 1e-50``
    the mirror of ``MAX_ABS_COSTS`` for :func:`check_layer` with ``min_scale``: realization costs are quadratic
    in the weights, so a layer whose largest entry of ``(effective, fixed)`` is below it (and not 0) would
    underflow instead of scaling like ``s²``; ``ValueError``.
"""

from __future__ import annotations

import numbers
from typing import Iterable, Sequence

import numpy as np

BASIS_ORTHONORMAL_ATOL = 1e-6
PSD_RTOL = 1e-10
MAX_ABS = 1e100
MAX_ABS_COSTS = 1e50
MIN_SCALE_COSTS = 1e-50

__all__ = [
    "BASIS_ORTHONORMAL_ATOL",
    "PSD_RTOL",
    "MAX_ABS",
    "MAX_ABS_COSTS",
    "MIN_SCALE_COSTS",
    "check_array",
    "check_bool",
    "check_basis",
    "check_same_shape",
    "check_scalar",
    "check_probability",
    "check_lam",
    "check_int",
    "check_psd",
    "check_permutation",
    "check_choice",
    "check_seed",
    "check_weight_list",
    "check_weight_list_pair",
    "check_fixed_basis",
    "check_layer",
]


def _fmt_shape(shape) -> str:
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"array of dtype {x.dtype} and shape {x.shape}"
    return f"{type(x).__name__}"


def _tensor_to_numpy(t, name: str) -> np.ndarray:
    """A torch tensor as a NumPy array, with messages naming ``name`` (no torch import: duck-typed).

    Meta tensors hold no values and sparse ones no dense layout: both are refused by name. Floating
    dtypes NumPy lacks (bfloat16, float8) are widened to float64 exactly.
    """
    if getattr(getattr(t, "device", None), "type", None) == "meta":
        raise ValueError(f"{name} is a meta-device tensor (a shape without values); pass a tensor holding data")
    if str(getattr(t, "layout", "torch.strided")) != "torch.strided":
        raise TypeError(f"{name} must be a dense tensor, got layout {t.layout}; convert it with .to_dense()")
    t = t.detach().cpu()
    if getattr(t, "is_floating_point", lambda: False)() and str(t.dtype) not in (
            "torch.float16", "torch.float32", "torch.float64"):
        t = t.double()  # bfloat16/float8 have no NumPy dtype; widening is exact
    return t.numpy()


def check_array(
    x,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
    min_rows: int = 1,
    min_cols: int = 1,
    allow_nonfinite: bool = False,
    copy: bool = False,
    max_abs: float | None = None,
) -> np.ndarray:
    """Convert ``x`` to a finite float64 C-contiguous array and check its shape.

    Parameters
    ----------
    x : array_like
        Real numeric input (bool, int, float of any width). Complex, object and string input
        raise ``TypeError``.
    name : str
        The argument's name, used in every message.
    ndim : int or sequence of int, optional
        Allowed numbers of dimensions.
    shape : sequence of (int or None), optional
        Expected shape; ``None`` entries are free. Implies ``ndim``.
    min_rows, min_cols : int
        Minimum length of axis 0 (and axis 1 for 2-D input). ``min_rows=2`` is used where a
        *pair* of rows is needed.
    allow_nonfinite : bool
        If False (default), NaN or ±inf raise ``ValueError``.
    copy : bool
        Always return a fresh array.
    max_abs : float or None, default None
        Largest supported ``|entry|`` (``MAX_ABS``, ``MAX_ABS_COSTS``: module doc); ``None``: no limit.
    """
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a numeric array, got {_describe(x)}")
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor: accept, convert on CPU
        x = _tensor_to_numpy(x, name)
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a numeric array, got {_describe(x)}: {exc}") from None
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating)
        or np.issubdtype(arr.dtype, np.integer)
        or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must be a real numeric array, got {_describe(arr)}")
    if shape is not None:
        ndim = len(shape)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{a}-D" for a in allowed)
            exp = f" {_fmt_shape(shape)}" if shape is not None else ""
            raise ValueError(f"{name} must be {want}{exp}, got shape {arr.shape}")
    if shape is not None:
        for axis, (got, want) in enumerate(zip(arr.shape, shape)):
            if want is not None and got != want:
                exp = _fmt_shape(shape)
                raise ValueError(
                    f"{name} must have shape {exp} (axis {axis} = {want}), got shape {arr.shape}"
                )
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if arr.ndim >= 1 and arr.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got shape {arr.shape}")
    if arr.ndim >= 2 and arr.shape[1] < min_cols:
        raise ValueError(f"{name} needs at least {min_cols} columns, got shape {arr.shape}")
    # np.asarray keeps 0-d input 0-d (np.ascontiguousarray would promote it to shape (1,))
    out = np.array(arr, dtype=np.float64, order="C", copy=True) if copy else np.asarray(
        arr, dtype=np.float64, order="C"
    )
    if not allow_nonfinite and not np.all(np.isfinite(out)):
        bad = "NaN" if np.isnan(out).any() else "inf"
        raise ValueError(f"{name} contains {bad}; all entries must be finite")
    if max_abs is not None:
        m = float(np.max(np.abs(out[np.isfinite(out)]), initial=0.0))
        if m > max_abs:
            raise ValueError(f"{name} has entries of magnitude {m:.3g} > {max_abs:g}, beyond the supported range "
                             "(float64 products would overflow); rescale the input")
    return out


def check_basis(basis, name: str = "basis", *, atol: float = BASIS_ORTHONORMAL_ATOL) -> np.ndarray:
    """Check an orthonormal basis ``U`` of shape ``(d, k)`` with ``1 ≤ k ≤ d`` and ``UᵀU = I_k``.

    Orthonormality tolerance: ``max |UᵀU − I_k| ≤ atol`` (default ``1e-6``, see module doc).
    """
    U = check_array(basis, name, ndim=2)
    d, k = U.shape
    if k > d:
        raise ValueError(f"{name} must have shape (d, k) with k <= d, got k={k} > d={d}")
    err = np.max(np.abs(U.T @ U - np.eye(k)))
    if not err <= atol:
        raise ValueError(
            f"{name} must have orthonormal columns (max |UᵀU - I| <= {atol:g}), got {err:.3g}"
        )
    return U


def check_same_shape(arrays: dict, expected: tuple | None = None) -> tuple:
    """Check that the named arrays share one shape; return it."""
    items = list(arrays.items())
    ref_name, ref = items[0]
    ref_shape = expected if expected is not None else ref.shape
    for nm, a in items:
        if a.shape != tuple(ref_shape):
            raise ValueError(
                f"{nm} must have the same shape as {ref_name} {tuple(ref_shape)}, got {a.shape}"
            )
    return tuple(ref_shape)


def check_scalar(
    x,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_inf: bool = False,
) -> float:
    """Check a real scalar in ``[low, high]`` (open ends if not inclusive); return a float."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Real, np.floating, np.integer)):
        if isinstance(x, np.ndarray) and x.ndim == 0 and np.issubdtype(x.dtype, np.number):
            x = x.item()
        else:
            raise TypeError(f"{name} must be a real number, got {_describe(x)}")
    v = float(x)
    if np.isnan(v) or (np.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {v}")
    lo_br = "[" if low_inclusive else "("
    hi_br = "]" if high_inclusive else ")"
    rng = f"{lo_br}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi_br}"
    if low is not None and (v < low or (v == low and not low_inclusive)):
        raise ValueError(f"{name} must lie in {rng}, got {v}")
    if high is not None and (v > high or (v == high and not high_inclusive)):
        raise ValueError(f"{name} must lie in {rng}, got {v}")
    return v


def check_probability(x, name: str = "delta") -> float:
    """A failure probability in the open interval ``(0, 1)``."""
    return check_scalar(x, name, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)


def check_bool(x, name: str) -> bool:
    """A Python or NumPy bool (no truthy strings or numbers)."""
    if not isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_describe(x)}")
    return bool(x)


def check_lam(lam, name: str = "lam") -> np.ndarray | float:
    """Interpolation weight(s) in ``[0, 1]``: a float for scalar input, else a 1-D float64 array."""
    try:
        nd = np.ndim(lam)
    except Exception as exc:  # ragged lists
        raise TypeError(f"{name} must be a number or a 1-D array of numbers, got {_describe(lam)}: {exc}") from None
    if nd == 0:
        return check_scalar(lam, name, low=0.0, high=1.0)
    arr = check_array(lam, name, ndim=1)
    if np.any(arr < 0.0) or np.any(arr > 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got values in [{arr.min()}, {arr.max()}]")
    return arr


def check_int(x, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """An integer (Python or NumPy) in ``[low, high]``; ``high`` defaults to ``2**62`` (an index-sized
    integer: larger counts and sizes would fail deep inside NumPy/torch with a message not naming them)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {_describe(x)}")
    v = int(x)
    if high is None:
        high = 2**62
    if low is not None and v < low:
        raise ValueError(f"{name} must be >= {low}, got {v}")
    if high is not None and v > high:
        raise ValueError(f"{name} must be <= {high}, got {v}")
    return v


def check_psd(cov, name: str = "cov", *, dim: int | None = None, rtol: float = PSD_RTOL) -> np.ndarray:
    """A symmetric positive semidefinite ``(dim, dim)`` matrix (tolerance: see module doc)."""
    C = check_array(cov, name, shape=(dim, dim) if dim is not None else None, ndim=2, max_abs=MAX_ABS)
    if C.shape[0] != C.shape[1]:
        raise ValueError(f"{name} must be square, got shape {C.shape}")
    scale = max(1.0, float(np.max(np.abs(C))))
    if np.max(np.abs(C - C.T)) > rtol * scale:
        raise ValueError(f"{name} must be symmetric")
    C = 0.5 * (C + C.T)
    lo = float(np.linalg.eigvalsh(C)[0])
    if lo < -rtol * scale:
        raise ValueError(f"{name} must be positive semidefinite, smallest eigenvalue {lo:.3g}")
    return C


def check_permutation(perm, n: int, name: str = "perm") -> np.ndarray:
    """A permutation of ``range(n)`` as an int64 array of shape ``(n,)``."""
    arr = np.asarray(perm)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array (a permutation of 0..{n - 1}), got {_describe(arr)}")
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    if not np.array_equal(np.sort(arr), np.arange(n)):
        raise ValueError(f"{name} must be a permutation of 0..{n - 1}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_choice(x, name: str, choices: Iterable[str]) -> str:
    """One of a fixed set of strings."""
    choices = tuple(choices)
    if not isinstance(x, str):
        raise TypeError(f"{name} must be a string, one of {choices}, got {_describe(x)}")
    if x not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {x!r}")
    return x


def check_seed(seed, name: str = "seed") -> int:
    """A non-negative integer seed (explicit seeds keep every Monte Carlo result reproducible)."""
    return check_int(seed, name, low=0, high=2**63 - 1)


def check_weight_list(weights, name: str = "weights", *, min_layers: int = 1, in_dim: int | None = None) -> list:
    """The weight matrices ``[W_1, …, W_L]`` of an MLP, each ``(out, in)``, with chained shapes.

    ``W_ℓ.shape[1] == W_{ℓ−1}.shape[0]``; ``in_dim`` (if given) fixes ``W_1.shape[1]``. Returns a new
    list of float64 arrays (a single 2-D array is not accepted: wrap it in a list).
    """
    if isinstance(weights, np.ndarray) or not isinstance(weights, (list, tuple)):
        raise TypeError(f"{name} must be a list of 2-D weight matrices (out, in), got {_describe(weights)}")
    if len(weights) < min_layers:
        raise ValueError(f"{name} must hold at least {min_layers} weight matrices, got {len(weights)}")
    out = []
    for ell, w in enumerate(weights):
        W = check_array(w, f"{name}[{ell}]", ndim=2, max_abs=MAX_ABS)
        want_in = in_dim if ell == 0 else out[-1].shape[0]
        if want_in is not None and W.shape[1] != want_in:
            raise ValueError(
                f"{name}[{ell}] must have shape (?, {want_in}) to chain with the previous layer/input, got {W.shape}"
            )
        out.append(W)
    return out


def check_weight_list_pair(weights_a, weights_b, names=("weights_a", "weights_b")) -> tuple[list, list]:
    """Two MLPs' weight lists (see :func:`check_weight_list`) with the same number of layers and equal shapes."""
    na, nb = names
    Wa = check_weight_list(weights_a, na)
    Wb = check_weight_list(weights_b, nb)
    if len(Wa) != len(Wb):
        raise ValueError(f"{na} and {nb} must have the same number of layers, got {len(Wa)} and {len(Wb)}")
    for ell, (x, y) in enumerate(zip(Wa, Wb)):
        if x.shape != y.shape:
            raise ValueError(f"{nb}[{ell}] must have the shape of {na}[{ell}] {x.shape}, got {y.shape}")
    return Wa, Wb


# -- composite checkers: the argument tuples that several modules share ---------------------------

def check_fixed_basis(fixed, basis, *, max_abs: float = MAX_ABS) -> tuple[np.ndarray, np.ndarray]:
    """Fixed centers ``F`` ``(n, d)`` and an orthonormal basis ``U`` ``(d, k)`` of the same ``d``.

    Returns ``(F, U)`` as float64 arrays (:func:`check_array`, :func:`check_basis`).
    """
    U = check_basis(basis)
    F = check_array(fixed, "fixed", ndim=2, max_abs=max_abs)
    if F.shape[1] != U.shape[0]:
        raise ValueError(
            f"fixed must have shape (n, {U.shape[0]}) to match basis (d, k) = {U.shape}, got {F.shape}"
        )
    return F, U


def check_layer(effective, fixed, diag, basis, *, min_scale: float | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One asymmetric layer for the realization costs: ``effective``, ``fixed``, ``diag`` ``(n, d)`` and an
    orthonormal ``basis`` ``(d, k)``.

    Entries up to :data:`MAX_ABS_COSTS` (the layer feeds ``S_i = Uᵀdiag(d_i)²U`` and its inverse, in
    :mod:`lmctheory.costs` and everything built on it). With ``min_scale`` (e.g. :data:`MIN_SCALE_COSTS`), the
    largest magnitude of ``(effective, fixed)`` must be 0 or at least ``min_scale``. Returns ``(E, F, D, U)`` as
    float64 arrays.
    """
    U = check_basis(basis, "basis")
    d = U.shape[0]
    E = check_array(effective, "effective", ndim=2, max_abs=MAX_ABS_COSTS)
    if E.shape[1] != d:
        raise ValueError(f"effective must have shape (n, {d}) to match basis (d, k) = {U.shape}, got {E.shape}")
    F = check_array(fixed, "fixed", ndim=2, max_abs=MAX_ABS_COSTS)
    D = check_array(diag, "diag", ndim=2, max_abs=MAX_ABS_COSTS)
    for name, X in (("fixed", F), ("diag", D)):
        if X.shape != E.shape:
            raise ValueError(f"{name} must have the same shape as effective {E.shape}, got {X.shape}")
    if min_scale is not None and E.size:
        # two passes, no temporary |E|
        scale = max(float(E.max()), -float(E.min()), float(F.max()), -float(F.min()))
        if 0.0 < scale < min_scale:
            raise ValueError(
                f"effective and fixed have largest magnitude {scale:.3g} < {min_scale:g} (MIN_SCALE_COSTS): "
                "realization costs scale as s² and would underflow; rescale the weights (costs of s·W are s² "
                "times those of W)")
    return E, F, D, U
