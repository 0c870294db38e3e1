"""Mode-connecting curves between two trained models of any architecture ([MC] §2, docs/theory.md §10).

Independently trained minima ``θ_A``, ``θ_B`` are joined by low-loss curves (Garipov et al. 2018;
Draxler et al. 2018); the straight segment of linear mode connectivity is the special case that needs
the right symmetry alignment. Curves are defined on the models' parameters (every floating-point
``nn.Parameter``, by name) with ``n`` trainable control points ``c_1 … c_n`` between the fixed ends:

``bezier``     ``p(t) = Σ_{i=0}^{n+1} C(n+1, i) tⁱ (1−t)^{n+1−i} P_i`` with ``P = (θ_A, c_1, …, c_n, θ_B)``;
               for one bend ``p(t) = (1−t)²θ_A + 2t(1−t)c + t²θ_B`` (docs/theory.md §10).
``polychain``  the polygon through ``P_0 … P_{n+1}``, bend ``i`` at ``t = i/(n+1)`` (Garipov et al. 2018).
``line``       ``p(t) = (1−t)θ_A + tθ_B`` (no control point; :func:`line_path`).

Control points start on the straight segment (``c_i = (1 − i/(n+1))θ_A + i/(n+1)·θ_B``: the initial
curve *is* the line, for both kinds) and are trained to minimize ``E_{t∼U(0,1)} 𝓛(p(t))`` with one
``t`` drawn per minibatch; the model is evaluated functionally
(:func:`torch.func.functional_call`), so any ``nn.Module`` works without per-architecture code.

Buffers are not curve coordinates. BatchNorm running statistics (and ``num_batches_tracked``) of a
point on the curve do not describe its own activations, so every evaluated point gets them recomputed
on data (:func:`lmctheory.nn.batchnorm.reset_batchnorm`). Every other buffer (e.g. the fixed ``F``/``D``
of :class:`~lmctheory.nn.AsymmetricLinear`) is architecture and must be identical in both models
(``ValueError`` naming it otherwise).

Alignment: the curve joins the models exactly as passed. To connect ``A`` with ``B`` permuted to ``A``::

    match = activation_match(model_a, model_b, X_train)
    curve = fit_curve(to_standard(model_a), to_standard(permute_model(model_b, match)), X, y, epochs=20)
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .._validation import check_bool, check_choice, check_int, check_lam, check_scalar, check_seed
from ._checks import check_labels, check_module, check_targets, check_X, describe, model_dtype
from .batchnorm import batchnorm_layers, reset_batchnorm
from .training import InterpolationResult, _check_pair, _check_xy, _loss_fn, _probe_outputs, barriers

__all__ = ["CURVE_KINDS", "Curve", "CurveEnsemble", "fit_curve", "line_path"]

CURVE_KINDS = ("bezier", "polychain")
_ALL_KINDS = ("line",) + CURVE_KINDS


# -- inputs ---------------------------------------------------------------------------------------

def _is_loader(X) -> bool:
    return not isinstance(X, (torch.Tensor, np.ndarray, str, bytes, dict)) and hasattr(X, "__iter__")


def _check_data(model, X, y, loss, names=("X", "y")):
    """``("tensor", X, y)`` validated as in :func:`~lmctheory.nn.train` (2-D ``X``), or for image-like
    ``X`` of shape ``(N, ...)`` with ≥ 3 dims the same checks on the flattened rows; or
    ``("loader", X, None)`` for an iterable of ``(inputs, targets)`` batches (checked per batch)."""
    xn, yn = names
    if _is_loader(X):
        if y is not None:
            raise ValueError(f"{yn} must be None when {xn} is a DataLoader (it yields (inputs, targets) batches)")
        return "loader", X, None
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"{xn} and {yn} must be torch tensors (or {xn} a DataLoader of (inputs, targets) "
                        f"batches and {yn}=None), got {describe(X)} and {describe(y)}")
    if X.ndim <= 2:
        X, y = _check_xy(model, X, y, loss, names)
        return "tensor", X, y
    if X.shape[0] == 0 or X.numel() == 0:
        raise ValueError(f"{xn} must not be empty, got shape {tuple(X.shape)}")
    shape = tuple(X.shape)
    X = check_X(X.reshape(shape[0], -1), xn, dtype=model_dtype(model), tensor_only=True).reshape(shape)
    n_out = _probe_outputs(model, X)
    if loss == "ce":
        y = check_labels(y, yn, n_rows=shape[0], n_classes=n_out, tensor_only=True)
    else:
        y = check_targets(y, yn, n_rows=shape[0], n_outputs=n_out, tensor_only=True)
    return "tensor", X, y


def _loader_batches(loader, dtype, device, name="X"):
    """``(inputs, targets)`` of every batch, inputs cast to the model's dtype and moved to ``device``."""
    for i, b in enumerate(loader):
        if not (isinstance(b, (tuple, list)) and len(b) >= 2 and isinstance(b[0], torch.Tensor)
                and isinstance(b[1], torch.Tensor)):
            raise TypeError(f"batch {i} of {name} must be an (inputs, targets) pair of torch tensors, "
                            f"got {describe(b)}")
        xb, yb = b[0], b[1]
        if xb.is_floating_point() and not bool(torch.isfinite(xb).all()):
            raise ValueError(f"batch {i} of {name} contains NaN or inf; all inputs must be finite")
        yield xb.to(device=device, dtype=dtype), yb.to(device)


def _check_ts(ts, name="ts"):
    ts = np.linspace(0.0, 1.0, 11) if ts is None else np.sort(np.atleast_1d(check_lam(ts, name)))
    if ts.size == 0:
        raise ValueError(f"{name} must not be empty")
    return ts


def _check_t(t) -> float:
    return check_scalar(t, "t", low=0.0, high=1.0)


# -- the curve --------------------------------------------------------------------------------------

def _stat_names(model) -> set[str]:
    """Buffer names holding BatchNorm running statistics (recomputed at every point, never compared)."""
    out = set()
    for name, _ in batchnorm_layers(model):
        pre = f"{name}." if name else ""
        out |= {pre + "running_mean", pre + "running_var", pre + "num_batches_tracked"}
    return out


def _check_endpoints(model_a, model_b):
    """Same parameters (names, shapes, dtypes) and identical non-statistics buffers; returns the stats names."""
    _check_pair(model_a, model_b)
    pa, pb = dict(model_a.named_parameters()), dict(model_b.named_parameters())
    if pa.keys() != pb.keys():
        raise ValueError(f"model_a and model_b have different parameters: only in model_a "
                         f"{sorted(pa.keys() - pb.keys())}, only in model_b {sorted(pb.keys() - pa.keys())}")
    for n, a in pa.items():
        b = pb[n]
        if a.shape != b.shape or a.dtype != b.dtype:
            raise ValueError(f"parameter {n!r} has shape/dtype {tuple(a.shape)}/{a.dtype} in model_a and "
                             f"{tuple(b.shape)}/{b.dtype} in model_b")
        if not a.is_floating_point():
            raise TypeError(f"parameter {n!r} has dtype {a.dtype}; curves need real floating-point parameters")
        if not (bool(torch.isfinite(a).all()) and bool(torch.isfinite(b).all())):
            raise ValueError(f"parameter {n!r} is not finite in one of the models")
    stats = _stat_names(model_a)
    ba, bb = dict(model_a.named_buffers()), dict(model_b.named_buffers())
    if ba.keys() != bb.keys():
        raise ValueError("model_a and model_b have different buffers: the models do not share an architecture")
    for n, a in ba.items():
        if n in stats:
            continue
        b = bb[n]
        if a.shape != b.shape or a.dtype != b.dtype or not torch.equal(a, b):
            raise ValueError(f"buffer {n!r} differs between model_a and model_b; non-trainable buffers other "
                             "than BatchNorm statistics are architecture and must be identical in both models "
                             "(for AsymmetricLinear F/D: build both with the same mask_seed)")
    return stats


def _bernstein(n: int, t: float) -> list[float]:
    return [math.comb(n, i) * t ** i * (1.0 - t) ** (n - i) for i in range(n + 1)]


class Curve:
    """A path ``p(t)``, ``t ∈ [0, 1]``, from ``θ_A`` (``t = 0``) to ``θ_B`` (``t = 1``); see the module doc.

    Built by :func:`fit_curve` (Bézier / polychain) or :func:`line_path` (the straight segment, for a
    like-for-like comparison). Attributes: ``kind``, ``n_bends``, ``loss`` (``"ce"``/``"mse"``),
    ``history`` (mean training loss per epoch), ``device``.
    """

    def __init__(self, model_a, model_b, *, kind, n_bends, loss, bn_data, device):
        self.kind, self.n_bends, self.loss = kind, n_bends, loss
        self.device = torch.device(device) if device is not None else next(
            (p.device for p in model_a.parameters()), torch.device("cpu"))
        self._stats = _check_endpoints(model_a, model_b)
        self._template = copy.deepcopy(model_a).to(self.device).eval()
        self._dtype = model_dtype(self._template)
        self._names = [n for n, _ in self._template.named_parameters()]

        def grab(m):
            return {n: p.detach().to(self.device).clone() for n, p in m.named_parameters()}

        self._a, self._b = grab(model_a), grab(model_b)
        sa, sb = dict(model_a.named_buffers()), dict(model_b.named_buffers())
        self._stats_a = {n: sa[n].detach().to(self.device).clone() for n in self._stats if n in sa}
        self._stats_b = {n: sb[n].detach().to(self.device).clone() for n in self._stats if n in sb}
        self._controls = []
        for i in range(1, n_bends + 1):
            s = i / (n_bends + 1)
            self._controls.append({n: ((1.0 - s) * self._a[n] + s * self._b[n]) for n in self._names})
        self._bn_data = bn_data
        self.history: list[float] = []

    # -- geometry
    def coefficients(self, t: float) -> list[tuple[int, float]]:
        """``[(i, w_i)]``: ``p(t) = Σ w_i P_i`` over the points ``P = (θ_A, c_1, …, c_n, θ_B)``; zero weights
        are left out, so ``p(0) = θ_A`` and ``p(1) = θ_B`` exactly."""
        t = _check_t(t)
        n = self.n_bends + 1
        if self.kind == "polychain" or n == 1:
            k = min(int(math.floor(t * n)), n - 1)
            s = t * n - k
            w = [(k, 1.0 - s), (k + 1, s)]
        else:
            w = list(enumerate(_bernstein(n, t)))
        return [(i, float(c)) for i, c in w if c != 0.0]

    def _points(self):
        return [self._a, *self._controls, self._b]

    def _combine(self, t, points=None):
        points = self._points() if points is None else points
        terms = self.coefficients(t)
        out = {}
        for n in self._names:
            acc = None
            for i, w in terms:
                v = points[i][n] if w == 1.0 else w * points[i][n]
                acc = v if acc is None else acc + v
            out[n] = acc
        return out

    @torch.no_grad()
    def parameters_at(self, t: float) -> dict[str, torch.Tensor]:
        """``{name: p(t)[name]}`` for every parameter (detached copies)."""
        return {n: v.detach().clone() for n, v in self._combine(t).items()}

    def control_points(self) -> list[dict[str, torch.Tensor]]:
        """Detached copies of the control points ``c_1 … c_n`` (``[]`` for a line)."""
        return [{n: v.detach().clone() for n, v in c.items()} for c in self._controls]

    # -- models
    def _bn_source(self, bn_data):
        src = self._bn_data if bn_data is None else bn_data
        if src is None:
            raise ValueError("the model has BatchNorm layers, whose statistics must be recomputed at every point "
                             "of the curve: pass bn_data (training inputs, a tensor or a DataLoader)")
        if isinstance(src, torch.Tensor):
            src = src.to(device=self.device, dtype=self._dtype)
        elif _is_loader(src):
            src = (xb for xb, _ in _loader_batches(src, self._dtype, self.device, "bn_data"))
        return src

    @torch.no_grad()
    def _load(self, model, t, reset_bn, bn_data, bn_batch_size):
        params = self._combine(t)
        for n, p in model.named_parameters():
            p.copy_(params[n])
        if self._stats:
            if reset_bn:
                reset_batchnorm(model, self._bn_source(bn_data), batch_size=bn_batch_size)
            else:  # the endpoints' statistics mixed linearly (as `interpolate` does): exact only at t = 0, 1
                bufs = dict(model.named_buffers())
                for n in self._stats:
                    a, b = self._stats_a[n], self._stats_b[n]
                    bufs[n].copy_(((1.0 - t) * a + t * b) if a.is_floating_point() else (a if t < 0.5 else b))
        return model.eval()

    def model_at(self, t: float, *, reset_bn: bool = True, bn_data=None, bn_batch_size: int | None = 256) -> nn.Module:
        """A plain model (a copy of ``model_a``'s module) with parameters ``p(t)``, in eval mode.

        Parameters
        ----------
        t : float in [0, 1]
        reset_bn : bool
            Recompute BatchNorm statistics on ``bn_data`` (no-op without BatchNorm). ``False``: the
            endpoints' running statistics mixed linearly (``num_batches_tracked`` of the nearer end), which
            reproduces ``model_a`` / ``model_b`` exactly at ``t = 0`` / ``1`` but is stale in between.
        bn_data : torch.Tensor ``(N, ...)`` or DataLoader, optional
            Inputs for the statistics (default: the data the curve was fit on / given to :func:`line_path`).
        bn_batch_size : int or None
            Batch size of the statistics pass over a tensor (see :func:`~lmctheory.nn.batchnorm.reset_batchnorm`).
        """
        t = _check_t(t)
        reset_bn = check_bool(reset_bn, "reset_bn")
        return self._load(copy.deepcopy(self._template), t, reset_bn, bn_data, bn_batch_size)

    # -- evaluation
    @torch.no_grad()
    def _outputs(self, model, X):
        return model(X.to(self.device))

    @torch.no_grad()
    def _eval_point(self, model, data):
        kind, X, y = data
        lf = _loss_fn(self.loss)
        if kind == "tensor":
            out = self._outputs(model, X)
            y = y.to(self.device)
            lv = float(lf(out, y))
            acc = float((out.argmax(1) == y).float().mean()) if self.loss == "ce" else float("nan")
            return lv, acc
        tot, hit, n = 0.0, 0.0, 0
        for xb, yb in _loader_batches(X, self._dtype, self.device):
            out = model(xb)
            tot += float(lf(out, yb)) * len(yb)
            if self.loss == "ce":
                hit += float((out.argmax(1) == yb).sum())
            n += len(yb)
        if n == 0:
            raise ValueError("X (a DataLoader) yielded no batch")
        return tot / n, (hit / n if self.loss == "ce" else float("nan"))

    def evaluate(self, X, y=None, ts=None, *, reset_bn: bool = True, bn_data=None,
                 bn_batch_size: int | None = 256) -> InterpolationResult:
        """Loss and accuracy along the curve, with the barriers of :func:`~lmctheory.nn.interpolate`.

        ``B_lin = max_t [𝓛(p(t)) − ((1−t)𝓛(θ_A) + t𝓛(θ_B))]``,
        ``B_max = max_t 𝓛(p(t)) − max(𝓛(θ_A), 𝓛(θ_B))``
        and the accuracy versions (:func:`lmctheory.nn.training.barriers`); the result's ``lams`` are the
        ``ts``. ``t = 1/2`` is evaluated in addition when not on the grid (midpoint numbers).

        Parameters
        ----------
        X, y : torch.Tensor, or a DataLoader of ``(inputs, targets)`` with ``y=None``
            Evaluation data (validated as in :func:`fit_curve`).
        ts : array_like, optional
            Grid in [0, 1] containing 0 and 1 (default ``np.linspace(0, 1, 11)``).
        reset_bn, bn_data, bn_batch_size
            BatchNorm statistics of each point, as in :meth:`model_at` (recomputed by default).

        References
        ----------
        docs/theory.md §10 (barriers, Bézier curve); [MC] §6; Garipov et al. (2018) §3.
        """
        ts = _check_ts(ts)
        if ts[0] != 0.0 or ts[-1] != 1.0:
            raise ValueError("ts must contain the endpoints 0 and 1")
        reset_bn = check_bool(reset_bn, "reset_bn")
        data = _check_data(self._template, X, y, self.loss)
        probe = copy.deepcopy(self._template)

        def at(t):
            return self._eval_point(self._load(probe, float(t), reset_bn, bn_data, bn_batch_size), data)

        L, A = map(np.array, zip(*[at(t) for t in ts]))
        hit = np.isclose(ts, 0.5, atol=1e-12)
        mid_l, mid_a = (L[hit][0], A[hit][0]) if hit.any() else at(0.5)
        b = barriers(ts, L, A)
        return InterpolationResult(
            lams=ts, loss=L, acc=A, barrier_lin=b["barrier_lin"], barrier_max=b["barrier_max"],
            acc_barrier_lin=b["acc_barrier_lin"], acc_barrier_max=b["acc_barrier_max"],
            midpoint_acc_drop=float(100 * ((A[0] + A[-1]) / 2 - mid_a)),
            midpoint_loss_barrier=float(mid_l - (L[0] + L[-1]) / 2),
        )

    @torch.no_grad()
    def ensemble(self, X, y, ts=None, *, reset_bn: bool = True, bn_data=None,
                 bn_batch_size: int | None = 256) -> "CurveEnsemble":
        """Average the softmax probabilities of the models at ``ts`` and compare with the endpoints' ensemble.

        ``p̄(x) = (1/L) Σ_l softmax(f_{p(t_l)}(x))``; NLL ``−mean log p̄_y``, accuracy of ``argmax p̄``. The
        endpoints' ensemble averages ``t = 0`` and ``t = 1`` only (same BatchNorm treatment). Gains:
        ``acc_gain_pp = 100·(acc − endpoint_acc)``, ``nll_gain = endpoint_nll − nll`` (positive = better).

        Parameters
        ----------
        X : torch.Tensor ``(N, ...)``, y : torch.Tensor ``(N,)`` class labels
            Tensors only (members' predictions must be aligned sample by sample). Needs ``loss="ce"``.
        ts : array_like, optional
            Points to ensemble (default ``np.linspace(0, 1, 11)``); any values in [0, 1].

        References
        ----------
        Garipov et al. (2018) §4 (curve ensembling); [MC] §7 "Applications" (efficient ensembling).
        """
        if self.loss != "ce":
            raise ValueError("ensemble averages softmax probabilities: it needs loss='ce', "
                             f"the curve has {self.loss!r}")
        ts = _check_ts(ts)
        reset_bn = check_bool(reset_bn, "reset_bn")
        if _is_loader(X):
            raise TypeError("ensemble needs X and y as torch tensors (member predictions are matched row by row)")
        _, X, y = _check_data(self._template, X, y, "ce")
        y = y.to(self.device)
        probe = copy.deepcopy(self._template)

        def probs(t):
            m = self._load(probe, float(t), reset_bn, bn_data, bn_batch_size)
            return torch.softmax(self._outputs(m, X).double(), dim=1)

        def score(p):
            nll = float(-torch.log(p[torch.arange(len(y)), y].clamp_min(1e-300)).mean())
            return nll, float((p.argmax(1) == y).double().mean())

        members = [probs(t) for t in ts]
        mean = torch.stack(members).mean(0)
        nll, acc = score(mean)
        ends = [members[0] if ts[0] == 0.0 else probs(0.0), members[-1] if ts[-1] == 1.0 else probs(1.0)]
        e_nll, e_acc = score((ends[0] + ends[1]) / 2)
        m_scores = [score(p) for p in members]
        return CurveEnsemble(ts=ts, probs=mean.cpu().numpy(), nll=nll, acc=acc,
                             member_nll=np.array([s[0] for s in m_scores]),
                             member_acc=np.array([s[1] for s in m_scores]),
                             endpoint_nll=e_nll, endpoint_acc=e_acc,
                             acc_gain_pp=100.0 * (acc - e_acc), nll_gain=e_nll - nll)

    def __repr__(self) -> str:
        n = sum(v.numel() for v in self._a.values())
        return f"Curve(kind={self.kind!r}, n_bends={self.n_bends}, n_params={n}, loss={self.loss!r})"


@dataclass(frozen=True)
class CurveEnsemble:
    """Result of :meth:`Curve.ensemble`.

    Attributes
    ----------
    ts : ndarray (L,)
    probs : ndarray (N, K)
        Ensemble probabilities ``p̄`` (float64).
    nll, acc : float
        Ensemble NLL (nats) and accuracy (fraction).
    member_nll, member_acc : ndarray (L,)
        Each member's own NLL / accuracy.
    endpoint_nll, endpoint_acc : float
        The two-model ensemble of ``t = 0`` and ``t = 1``.
    acc_gain_pp, nll_gain : float
        ``100·(acc − endpoint_acc)`` and ``endpoint_nll − nll``.
    """

    ts: np.ndarray
    probs: np.ndarray
    nll: float
    acc: float
    member_nll: np.ndarray
    member_acc: np.ndarray
    endpoint_nll: float
    endpoint_acc: float
    acc_gain_pp: float
    nll_gain: float

    def to_dict(self, include_probs: bool = False) -> dict:
        """JSON-able dict (arrays as lists; ``probs`` only if asked)."""
        d = asdict(self)
        if not include_probs:
            d.pop("probs")
        return {k: (v.tolist() if isinstance(v, np.ndarray) else float(v)) for k, v in d.items()}


# -- construction ------------------------------------------------------------------------------------

def line_path(model_a: nn.Module, model_b: nn.Module, *, loss: str = "ce", bn_data=None, device=None) -> Curve:
    """The straight segment ``p(t) = (1−t)θ_A + tθ_B`` as a :class:`Curve` (nothing to train).

    Its :meth:`~Curve.evaluate` equals :func:`~lmctheory.nn.interpolate` for models without BatchNorm and
    recomputes BatchNorm statistics at every point otherwise, exactly as for a fitted curve, so line and
    curve compare like for like. ``bn_data``: inputs for those statistics (needed only with BatchNorm).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    >>> line = line_path(a, b)
    >>> bool(torch.equal(line.parameters_at(1.0)["weight"], b.weight))
    True
    """
    check_module(model_a, "model_a")
    check_module(model_b, "model_b")
    loss = check_choice(loss, "loss", ("ce", "mse"))
    return Curve(model_a, model_b, kind="line", n_bends=0, loss=loss, bn_data=bn_data, device=device)


def fit_curve(
    model_a: nn.Module,
    model_b: nn.Module,
    X,
    y=None,
    *,
    kind: str = "bezier",
    epochs: int,
    n_bends: int = 1,
    lr: float = 1e-3,
    weight_decay: float = 1e-2,
    batch_size: int = 128,
    optimizer: str = "adamw",
    loss: str = "ce",
    seed: int = 0,
    momentum: float = 0.9,
    bn_data=None,
    device=None,
    progress: bool = False,
) -> Curve:
    """Train the control point(s) of a Bézier curve or polygonal chain between two fixed models.

    Minimizes ``E_{t∼U(0,1)} 𝓛(p(t))`` by minibatch descent with one ``t`` drawn uniformly per minibatch
    (Garipov et al. 2018); ``p(0) = θ_A`` and ``p(1) = θ_B`` stay fixed. For one bend the Bézier curve is
    ``p(t) = (1−t)²θ_A + 2t(1−t)c + t²θ_B``. The model runs in train mode (BatchNorm uses batch statistics)
    through :func:`torch.func.functional_call` on a copy of ``model_a``; neither input model is changed.

    Parameters
    ----------
    model_a, model_b : nn.Module
        One architecture (same parameter names and shapes); buffers other than BatchNorm statistics must
        be equal (``ValueError``). Pass an already aligned ``model_b`` to connect ``A`` with aligned ``B``
        (module doc). Parameters with ``requires_grad=False`` in ``model_a`` keep their control-point
        entries on the straight segment (not trained).
    X, y : torch.Tensor
        Training data as in :func:`~lmctheory.nn.train`: ``X`` ``(N, d)`` (or ``(N, C, H, W)`` …) real
        and finite, ``y`` ``(N,)`` class labels (``"ce"``) or targets (``"mse"``). Or ``X`` a DataLoader
        yielding ``(inputs, targets)`` and ``y=None`` (``batch_size`` then unused).
    kind : {"bezier", "polychain"}
    epochs : int
        Passes over the data.
    n_bends : int
        Number of control points (``≥ 1``; Bézier degree ``n_bends + 1``).
    lr, weight_decay, batch_size, optimizer, momentum, seed
        As in :func:`~lmctheory.nn.train`; ``seed`` fixes the minibatch order and the ``t`` draws.
    loss : {"ce", "mse"}
    bn_data : torch.Tensor or DataLoader, optional
        Inputs for recomputing BatchNorm statistics at evaluated points (default ``X``).
    device : torch.device or str, optional
        Where the curve lives (default: ``model_a``'s device); batches are moved there.
    progress : bool
        tqdm bar over epochs.

    Returns
    -------
    Curve
        ``evaluate(X, y, ts)`` → :class:`~lmctheory.nn.InterpolationResult`; ``model_at(t)`` → a plain
        model; ``ensemble(X, y, ts)`` → :class:`CurveEnsemble`; ``history`` = mean loss per epoch.

    References
    ----------
    docs/theory.md §10 (Bézier curve, barriers); [MC] §2.1–2.2 and §4 "Constructing connecting paths";
    Garipov et al. (2018) eq. (2)–(4); Draxler et al. (2018).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> X, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    >>> def net():
    ...     return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> a, b = net(), net()
    >>> curve = fit_curve(a, b, X, y, epochs=2, batch_size=32)
    >>> res = curve.evaluate(X, y, ts=[0.0, 0.5, 1.0])
    >>> res.loss.shape, bool(torch.equal(curve.model_at(0.0)[0].weight, a[0].weight))
    ((3,), True)
    """
    check_module(model_a, "model_a")
    check_module(model_b, "model_b")
    kind = check_choice(kind, "kind", CURVE_KINDS)
    loss = check_choice(loss, "loss", ("ce", "mse"))
    epochs = check_int(epochs, "epochs", low=0)
    n_bends = check_int(n_bends, "n_bends", low=1, high=64)
    lr = check_scalar(lr, "lr", low=0.0, low_inclusive=False)
    weight_decay = check_scalar(weight_decay, "weight_decay", low=0.0)
    batch_size = check_int(batch_size, "batch_size", low=1)
    optimizer = check_choice(optimizer, "optimizer", ("adamw", "sgd"))
    momentum = check_scalar(momentum, "momentum", low=0.0, high=1.0)
    progress = check_bool(progress, "progress")
    gen = torch.Generator().manual_seed(check_seed(seed))
    data = _check_data(model_a, X, y, loss)
    curve = Curve(model_a, model_b, kind=kind, n_bends=n_bends, loss=loss,
                  bn_data=(bn_data if bn_data is not None else X), device=device)
    frozen = {n for n, p in model_a.named_parameters() if not p.requires_grad}
    ctrl = [{n: nn.Parameter(v, requires_grad=n not in frozen) for n, v in c.items()} for c in curve._controls]
    curve._controls = ctrl
    params = [p for c in ctrl for p in c.values() if p.requires_grad]
    if optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=momentum)
    net = copy.deepcopy(curve._template).train()  # scratch module: its buffers absorb BatchNorm updates
    lf = _loss_fn(loss)
    from torch.func import functional_call
    from tqdm.auto import tqdm

    def batches():
        if data[0] == "loader":
            yield from _loader_batches(data[1], curve._dtype, curve.device)
            return
        Xt, yt = data[1], data[2]
        N = Xt.shape[0]
        perm = torch.randperm(N, generator=gen)
        for s in range(0, N, batch_size):
            idx = perm[s:s + batch_size]
            yield Xt[idx].to(curve.device), yt[idx].to(curve.device)

    with torch.enable_grad():  # also when called under torch.no_grad()
        for _ in tqdm(range(epochs), disable=not progress, desc="fit_curve", leave=False):
            total, count = 0.0, 0
            for xb, yb in batches():
                t = float(torch.rand((), generator=gen, dtype=torch.float64))
                opt.zero_grad(set_to_none=True)
                out = functional_call(net, curve._combine(t), (xb,))
                lv = lf(out, yb)
                lv.backward()
                opt.step()
                total += float(lv.detach()) * len(yb)
                count += len(yb)
            curve.history.append(total / max(count, 1))
    curve._controls = [{n: p.detach() for n, p in c.items()} for c in ctrl]
    return curve
