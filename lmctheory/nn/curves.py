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

Calling convention (docs/calling_convention.md): the data are ``X`` (a tensor, a tuple, a dict of keyword
inputs, or a ``DataLoader`` of ``(inputs, targets)`` with ``y=None``) and ``y``; the grid is ``lams`` (a single
point ``lam``); BatchNorm data are ``reset_bn`` (data, or ``None`` for the endpoints' statistics mixed linearly);
every option is keyword-only.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .._validation import check_bool, check_choice, check_int, check_scalar, check_seed
from ._checks import check_module, describe, model_dtype
from ._inputs import call_model, eval_mode, primary_output
from .batchnorm import batchnorm_layers, reset_batchnorm
from .training import (
    LOSSES,
    InterpolationResult,
    LabelledData,
    check_data,
    check_lams,
    check_pair,
    check_reset_bn,
    evaluate_data,
    loss_value,
    make_optimizer,
)

__all__ = ["CURVE_KINDS", "Curve", "CurveEnsemble", "fit_curve", "line_path"]

CURVE_KINDS = ("bezier", "polychain")
_ALL_KINDS = ("line",) + CURVE_KINDS

#: ``reset_bn`` default of :class:`Curve`'s methods: the BatchNorm data stored on the curve
CURVE_DATA = "curve"


def _check_lam(lam) -> float:
    return check_scalar(lam, "lam", low=0.0, high=1.0)


# -- the curve --------------------------------------------------------------------------------------

def _stat_names(model) -> set[str]:
    """Buffer names holding BatchNorm running statistics (recomputed at every point, never compared)."""
    out = set()
    for name, _ in batchnorm_layers(model):
        pre = f"{name}." if name else ""
        out |= {pre + "running_mean", pre + "running_var", pre + "num_batches_tracked"}
    return out


def _check_endpoints(model_a, model_b):
    """:func:`~lmctheory.nn.training.check_pair`, real floating parameters, and identical buffers other than
    BatchNorm statistics; returns the statistics' names."""
    check_pair(model_a, model_b)
    for n, a in model_a.named_parameters():
        if not a.is_floating_point():
            raise TypeError(f"parameter {n!r} has dtype {a.dtype}; curves need real floating-point parameters")
    stats = _stat_names(model_a)
    bb = dict(model_b.named_buffers())
    for n, a in model_a.named_buffers():
        if n not in stats and not torch.equal(a, bb[n]):
            raise ValueError(f"buffer {n!r} differs between model_a and model_b; non-trainable buffers other "
                             "than BatchNorm statistics are architecture and must be identical in both models "
                             "(for AsymmetricLinear F/D: build both with the same mask_seed)")
    return stats


def _bernstein(n: int, t: float) -> list[float]:
    return [math.comb(n, i) * t ** i * (1.0 - t) ** (n - i) for i in range(n + 1)]


class Curve:
    """A path ``p(λ)``, ``λ ∈ [0, 1]``, from ``θ_A`` (``λ = 0``) to ``θ_B`` (``λ = 1``); see the module doc.

    Usually built by :func:`fit_curve` (Bézier / polychain) or :func:`line_path` (the straight segment).

    Parameters
    ----------
    model_a, model_b : nn.Module
        The fixed ends (one architecture; buffers other than BatchNorm statistics identical). Copied: later
        changes to the models do not move the curve.
    kind : {"line", "bezier", "polychain"}
    n_bends : int
        Number of control points (``0`` for ``"line"``, ``≥ 1`` otherwise).
    loss : {"ce", "mse"}
    controls : list of dict, optional
        ``n_bends`` control points ``{parameter name: tensor}`` (every parameter of ``model_a``, same shapes).
        Default: evenly spaced on the straight segment, ``c_i = (1 − i/(n+1))θ_A + i/(n+1)·θ_B``.
    reset_bn : model inputs or an iterable of batches, optional
        The curve's BatchNorm data: the default of ``reset_bn`` in :meth:`model_at`, :meth:`evaluate` and
        :meth:`ensemble`.
    device : torch.device or str, optional
        Where the curve lives (default: ``model_a``'s device).
    history : sequence of float
        Mean training loss per epoch (set by :func:`fit_curve`).

    Attributes
    ----------
    kind, n_bends, loss, device, dtype, reset_bn, history

    References
    ----------
    docs/theory.md §10 (Bézier curve, barriers); Garipov et al. (2018).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    >>> curve = Curve(a, b, kind="bezier", n_bends=1)  # the control point starts on the line
    >>> mid = curve.parameters_at(0.5)["weight"]
    >>> bool(torch.allclose(mid, (a.weight + b.weight) / 2, atol=1e-6))
    True
    """

    def __init__(self, model_a: nn.Module, model_b: nn.Module, *, kind: str = "line", n_bends: int = 0,
                 loss: str = "ce", controls=None, reset_bn=None, device=None, history=()):
        self.kind = check_choice(kind, "kind", _ALL_KINDS)
        self.n_bends = check_int(n_bends, "n_bends", low=0 if self.kind == "line" else 1,
                                 high=0 if self.kind == "line" else 64)
        self.loss = check_choice(loss, "loss", LOSSES)
        self._stats = _check_endpoints(model_a, model_b)
        self.device = torch.device(device) if device is not None else next(
            (p.device for p in model_a.parameters()), torch.device("cpu"))
        self._template = copy.deepcopy(model_a).to(self.device).eval()
        self.dtype = model_dtype(self._template)
        self._names = [n for n, _ in self._template.named_parameters()]

        def grab(m, names=None):
            src = dict(m.named_parameters()) if names is None else dict(m.named_buffers())
            keep = src if names is None else {n: src[n] for n in names if n in src}
            return {n: p.detach().to(self.device).clone() for n, p in keep.items()}

        self._a, self._b = grab(model_a), grab(model_b)
        self._stats_a, self._stats_b = grab(model_a, self._stats), grab(model_b, self._stats)
        self._controls = self._check_controls(controls)
        self.reset_bn = check_reset_bn(reset_bn, self._template, "reset_bn")
        self.history = [float(h) for h in history]

    def _check_controls(self, controls):
        if controls is None:
            k = self.n_bends + 1
            return [{n: (1.0 - i / k) * self._a[n] + (i / k) * self._b[n] for n in self._names}
                    for i in range(1, k)]
        if not isinstance(controls, (list, tuple)) or len(controls) != self.n_bends:
            raise ValueError(f"controls must be a list of {self.n_bends} control points, got {describe(controls)}")
        out = []
        for i, c in enumerate(controls):
            if not isinstance(c, dict) or set(c) != set(self._names):
                raise ValueError(f"controls[{i}] must map every parameter name of model_a to a tensor")
            for n in self._names:
                if not isinstance(c[n], torch.Tensor) or c[n].shape != self._a[n].shape:
                    raise ValueError(f"controls[{i}][{n!r}] must be a tensor of shape {tuple(self._a[n].shape)}, "
                                     f"got {describe(c[n])}")
            out.append({n: c[n].detach().to(device=self.device, dtype=self._a[n].dtype).clone() for n in self._names})
        return out

    def with_controls(self, controls, *, history=(), reset_bn=CURVE_DATA) -> "Curve":
        """The same curve (ends, kind, loss) with other control points and training history; BatchNorm data
        ``reset_bn`` (default ``"curve"``: this curve's)."""
        new = copy.copy(self)
        new._controls = self._check_controls(controls)
        new.history = [float(h) for h in history]
        if not (isinstance(reset_bn, str) and reset_bn == CURVE_DATA):
            new.reset_bn = check_reset_bn(reset_bn, self._template, "reset_bn")
        return new

    # -- geometry
    def coefficients(self, lam: float) -> list[tuple[int, float]]:
        """``[(i, w_i)]``: ``p(λ) = Σ w_i P_i`` over the points ``P = (θ_A, c_1, …, c_n, θ_B)``; zero weights
        are left out, so ``p(0) = θ_A`` and ``p(1) = θ_B`` exactly."""
        t = _check_lam(lam)
        n = self.n_bends + 1
        if self.kind == "polychain" or n == 1:
            k = min(int(math.floor(t * n)), n - 1)
            s = t * n - k
            w = [(k, 1.0 - s), (k + 1, s)]
        else:
            w = list(enumerate(_bernstein(n, t)))
        return [(i, float(c)) for i, c in w if c != 0.0]

    def combine(self, lam: float, controls=None) -> dict[str, torch.Tensor]:
        """``{name: p(λ)[name]}`` from the ends and ``controls`` (default: the curve's own). Differentiable in
        the control points (used to train them); :meth:`parameters_at` returns detached copies."""
        points = [self._a, *(self._controls if controls is None else controls), self._b]
        terms = self.coefficients(lam)
        out = {}
        for n in self._names:
            acc = None
            for i, w in terms:
                v = points[i][n] if w == 1.0 else w * points[i][n]
                acc = v if acc is None else acc + v
            out[n] = acc
        return out

    @torch.no_grad()
    def parameters_at(self, lam: float) -> dict[str, torch.Tensor]:
        """``{name: p(λ)[name]}`` for every parameter (detached copies)."""
        return {n: v.detach().clone() for n, v in self.combine(lam).items()}

    def control_points(self) -> list[dict[str, torch.Tensor]]:
        """Detached copies of the control points ``c_1 … c_n`` (``[]`` for a line)."""
        return [{n: v.detach().clone() for n, v in c.items()} for c in self._controls]

    # -- models
    def _bn_data(self, reset_bn):
        """``(reset?, data)`` for a ``reset_bn`` argument of the methods (see :meth:`model_at`)."""
        if isinstance(reset_bn, str) and reset_bn == CURVE_DATA:
            if self.reset_bn is None and self._stats:
                raise ValueError("the model has BatchNorm layers and the curve holds no BatchNorm data: pass "
                                 "reset_bn=<inputs> (e.g. the training inputs) to recompute the statistics at every "
                                 "point, or reset_bn=None for the endpoints' statistics mixed linearly")
            return self.reset_bn
        return check_reset_bn(reset_bn, self._template, "reset_bn")

    @torch.no_grad()
    def _load(self, model, lam, bn, bn_batch_size):
        params = self.combine(lam)
        for n, p in model.named_parameters():
            p.copy_(params[n])
        if self._stats:
            if bn is not None:
                reset_batchnorm(model, bn, batch_size=bn_batch_size)
            else:  # the endpoints' statistics mixed linearly (as `interpolate` does): exact only at λ = 0, 1
                bufs = dict(model.named_buffers())
                for n in self._stats:
                    a, b = self._stats_a[n], self._stats_b[n]
                    bufs[n].copy_(((1.0 - lam) * a + lam * b) if a.is_floating_point() else (a if lam < 0.5 else b))
        return model.eval()

    def model_at(self, lam: float, *, reset_bn=CURVE_DATA, bn_batch_size: int | None = 256) -> nn.Module:
        """A plain model (a copy of ``model_a``'s module) with parameters ``p(λ)``, in eval mode.

        Parameters
        ----------
        lam : float in [0, 1]
        reset_bn : "curve", model inputs, an iterable of batches, or None
            BatchNorm statistics of the point (no effect without BatchNorm): recomputed on the curve's own
            BatchNorm data (``"curve"``, the default: what :func:`fit_curve` / :func:`line_path` were given), on
            the data passed, or (``None``) the endpoints' running statistics mixed linearly
            (``num_batches_tracked`` of the nearer end), which reproduces ``model_a`` / ``model_b`` exactly at
            ``λ = 0`` / ``1`` but is stale in between.
        bn_batch_size : int or None
            Batch size of the statistics pass (see :func:`~lmctheory.nn.batchnorm.reset_batchnorm`).
        """
        lam = _check_lam(lam)
        return self._load(copy.deepcopy(self._template), lam, self._bn_data(reset_bn), bn_batch_size)

    # -- evaluation
    def evaluate(self, X, y=None, *, lams=None, reset_bn=CURVE_DATA, bn_batch_size: int | None = 256,
                 batch_size: int | None = None) -> InterpolationResult:
        """Loss and accuracy along the curve, with the barriers of :func:`~lmctheory.nn.interpolate`.

        ``B_lin = max_λ [𝓛(p(λ)) − ((1−λ)𝓛(θ_A) + λ𝓛(θ_B))]``,
        ``B_max = max_λ 𝓛(p(λ)) − max(𝓛(θ_A), 𝓛(θ_B))``
        and the accuracy versions (:func:`lmctheory.nn.training.barriers`). ``λ = 1/2`` is evaluated in
        addition when not on the grid (midpoint numbers).

        Parameters
        ----------
        X, y : model inputs and labels, or a DataLoader of ``(inputs, targets)`` with ``y=None``
            Evaluation data, as for :func:`~lmctheory.nn.interpolate`.
        lams : array_like, optional
            Grid in [0, 1] containing 0 and 1 (default ``np.linspace(0, 1, 11)``).
        reset_bn, bn_batch_size
            BatchNorm statistics of each point, as in :meth:`model_at` (the curve's data by default).
        batch_size : int or None
            Rows per forward pass (``None``: all at once).

        References
        ----------
        docs/theory.md §10 (barriers, Bézier curve); [MC] §6; Garipov et al. (2018) §3.
        """
        lams = check_lams(lams)
        bn = self._bn_data(reset_bn)
        if batch_size is not None:
            batch_size = check_int(batch_size, "batch_size", low=1)
        data = check_data(self._template, X, y, loss=self.loss, allow_loader=True)
        probe = copy.deepcopy(self._template)
        return InterpolationResult.from_path(
            lams, lambda lam: evaluate_data(self._load(probe, lam, bn, bn_batch_size), data, batch_size=batch_size))

    @torch.no_grad()
    def ensemble(self, X, y, *, lams=None, reset_bn=CURVE_DATA, bn_batch_size: int | None = 256) -> "CurveEnsemble":
        """Average the softmax probabilities of the models at ``lams`` and compare with the endpoints' ensemble.

        ``p̄(x) = (1/L) Σ_l softmax(f_{p(λ_l)}(x))`` (over the last output axis); NLL ``−mean log p̄_y``, accuracy
        of ``argmax p̄``. The endpoints' ensemble averages ``λ = 0`` and ``λ = 1`` only (same BatchNorm
        treatment). Gains: ``acc_gain_pp = 100·(acc − endpoint_acc)``, ``nll_gain = endpoint_nll − nll``
        (positive = better).

        Parameters
        ----------
        X, y : model inputs ``(N, ...)`` and labels
            Tensors (or a tuple/dict of inputs) only: members' predictions are matched sample by sample.
            Needs ``loss="ce"``.
        lams : array_like, optional
            Points to ensemble (default ``np.linspace(0, 1, 11)``); any values in [0, 1].
        reset_bn, bn_batch_size
            As in :meth:`model_at`.

        References
        ----------
        Garipov et al. (2018) §4 (curve ensembling); [MC] §7 "Applications" (efficient ensembling).
        """
        if self.loss != "ce":
            raise ValueError("ensemble averages softmax probabilities: it needs loss='ce', "
                             f"the curve has {self.loss!r}")
        lams = check_lams(lams, endpoints=False)
        bn = self._bn_data(reset_bn)
        data = check_data(self._template, X, y, loss="ce", allow_loader=True)
        if data.loader is not None:
            raise TypeError("ensemble needs X and y as tensors (member predictions are matched row by row), "
                            "not a DataLoader")
        y = data.y
        probe = copy.deepcopy(self._template)

        def probs(lam):
            m = self._load(probe, float(lam), bn, bn_batch_size)
            with eval_mode(m):
                return torch.softmax(primary_output(call_model(m, data.inputs)).double(), dim=-1)

        def score(p):
            py = torch.gather(p, -1, y.unsqueeze(-1)).squeeze(-1)
            return float(-torch.log(py.clamp_min(1e-300)).mean()), float((p.argmax(-1) == y).double().mean())

        members = [probs(lam) for lam in lams]
        mean = torch.stack(members).mean(0)
        nll, acc = score(mean)
        ends = [members[0] if lams[0] == 0.0 else probs(0.0), members[-1] if lams[-1] == 1.0 else probs(1.0)]
        e_nll, e_acc = score((ends[0] + ends[1]) / 2)
        m_scores = [score(p) for p in members]
        return CurveEnsemble(lams=lams, probs=mean.cpu().numpy(), nll=nll, acc=acc,
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
    lams : ndarray (L,)
    probs : ndarray (N, K) (or (N, …, K) for per-position outputs)
        Ensemble probabilities ``p̄`` (float64).
    nll, acc : float
        Ensemble NLL (nats) and accuracy (fraction).
    member_nll, member_acc : ndarray (L,)
        Each member's own NLL / accuracy.
    endpoint_nll, endpoint_acc : float
        The two-model ensemble of ``λ = 0`` and ``λ = 1``.
    acc_gain_pp, nll_gain : float
        ``100·(acc − endpoint_acc)`` and ``endpoint_nll − nll``.
    """

    lams: np.ndarray
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

def line_path(model_a: nn.Module, model_b: nn.Module, *, loss: str = "ce", reset_bn=None, device=None) -> Curve:
    """The straight segment ``p(λ) = (1−λ)θ_A + λθ_B`` as a :class:`Curve` (nothing to train).

    Its :meth:`~Curve.evaluate` equals :func:`~lmctheory.nn.interpolate` for models without BatchNorm and,
    given ``reset_bn`` data, recomputes BatchNorm statistics at every point exactly as for a fitted curve, so line
    and curve compare like for like. ``reset_bn``: the curve's BatchNorm data (needed only with BatchNorm).

    References
    ----------
    docs/theory.md §7 eq. (29), §10 (the linear path and its barriers).

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
    return Curve(model_a, model_b, kind="line", n_bends=0, loss=loss, reset_bn=reset_bn, device=device)


@dataclass(frozen=True)
class _FitOptions:
    epochs: int
    lr: float
    weight_decay: float
    batch_size: int
    optimizer: str
    momentum: float
    seed: int
    progress: bool


def _fit_options(*, epochs, lr, weight_decay, batch_size, optimizer, momentum, seed, progress) -> _FitOptions:
    return _FitOptions(
        epochs=check_int(epochs, "epochs", low=0),
        lr=check_scalar(lr, "lr", low=0.0, low_inclusive=False),
        weight_decay=check_scalar(weight_decay, "weight_decay", low=0.0),
        batch_size=check_int(batch_size, "batch_size", low=1),
        optimizer=check_choice(optimizer, "optimizer", ("adamw", "sgd")),
        momentum=check_scalar(momentum, "momentum", low=0.0, high=1.0),
        seed=check_seed(seed),
        progress=check_bool(progress, "progress"),
    )


def _train_controls(curve: Curve, data: LabelledData, opts: _FitOptions, frozen: set) -> tuple[list, list]:
    """Minimize ``E_{λ∼U(0,1)} 𝓛(p(λ))`` over the control points, one ``λ`` per minibatch; returns the trained
    control points and the mean loss per epoch."""
    from torch.func import functional_call
    from tqdm.auto import tqdm

    from .training import check_labels_for_output

    gen = torch.Generator().manual_seed(opts.seed)
    ctrl = [{n: nn.Parameter(v, requires_grad=n not in frozen) for n, v in c.items()}
            for c in curve.control_points()]
    params = [p for c in ctrl for p in c.values() if p.requires_grad]
    opt = make_optimizer(params, opts.optimizer, lr=opts.lr, weight_decay=opts.weight_decay, momentum=opts.momentum)
    net = curve.model_at(0.0, reset_bn=None).train()  # scratch module: its buffers absorb BatchNorm updates
    history = []
    with torch.enable_grad():  # also when called under torch.no_grad()
        for _ in tqdm(range(opts.epochs), disable=not opts.progress, desc="fit_curve", leave=False):
            total, count = 0.0, 0
            order = None if data.loader is not None else torch.randperm(data.n, generator=gen)
            for i, (inputs, yb) in enumerate(data.batches(opts.batch_size, order=order, device=curve.device)):
                lam = float(torch.rand((), generator=gen, dtype=torch.float64))
                opt.zero_grad(set_to_none=True)
                out = primary_output(functional_call(net, curve.combine(lam, ctrl), inputs.args, inputs.kwargs))
                if data.loader is not None:
                    yb = check_labels_for_output(yb, (1,) + tuple(out.shape[1:]), inputs.batch_size, curve.loss,
                                                 f"the targets of batch {i} of {data.name}", data.name)
                lv = loss_value(out, yb, curve.loss)
                lv.backward()
                opt.step()
                total += float(lv.detach()) * inputs.batch_size
                count += inputs.batch_size
            history.append(total / max(count, 1))
    return [{n: p.detach() for n, p in c.items()} for c in ctrl], history


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
    reset_bn="X",
    device=None,
    progress: bool = False,
) -> Curve:
    """Train the control point(s) of a Bézier curve or polygonal chain between two fixed models.

    Minimizes ``E_{λ∼U(0,1)} 𝓛(p(λ))`` by minibatch descent with one ``λ`` drawn uniformly per minibatch
    (Garipov et al. 2018); ``p(0) = θ_A`` and ``p(1) = θ_B`` stay fixed. For one bend the Bézier curve is
    ``p(λ) = (1−λ)²θ_A + 2λ(1−λ)c + λ²θ_B``. The model runs in train mode (BatchNorm uses batch statistics)
    through :func:`torch.func.functional_call` on a copy of ``model_a``; neither input model is changed.

    Parameters
    ----------
    model_a, model_b : nn.Module
        One architecture (same parameter names, shapes and dtypes, same module hyper-parameters, finite
        weights); buffers other than BatchNorm statistics must be equal (``ValueError``). Pass an already
        aligned ``model_b`` to connect ``A`` with aligned ``B`` (module doc). Parameters with
        ``requires_grad=False`` in ``model_a`` keep their control-point entries on the straight segment.
    X, y : model inputs and labels
        Training data as in :func:`~lmctheory.nn.train` (a tensor ``(N, ...)``, a tuple or a dict of inputs;
        labels ``(N,)``, token targets ``(N, t)`` or regression targets). Or ``X`` a DataLoader yielding
        ``(inputs, targets)`` and ``y=None`` (``batch_size`` then unused).
    kind : {"bezier", "polychain"}
    epochs : int
        Passes over the data.
    n_bends : int
        Number of control points (``≥ 1``; Bézier degree ``n_bends + 1``).
    lr, weight_decay, batch_size, optimizer, momentum, seed
        As in :func:`~lmctheory.nn.train`; ``seed`` fixes the minibatch order and the ``λ`` draws.
    loss : {"ce", "mse"}
    reset_bn : "X", model inputs, an iterable of batches, or None
        The curve's BatchNorm data, used by default when its points are evaluated (:meth:`Curve.model_at`):
        ``"X"`` (default) the training inputs ``X``; ``None`` none stored.
    device : torch.device or str, optional
        Where the curve lives (default: ``model_a``'s device); batches are moved there.
    progress : bool
        tqdm bar over epochs.

    Returns
    -------
    Curve
        ``evaluate(X, y, lams=…)`` → :class:`~lmctheory.nn.InterpolationResult`; ``model_at(lam)`` → a plain
        model; ``ensemble(X, y, lams=…)`` → :class:`CurveEnsemble`; ``history`` = mean loss per epoch.

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
    >>> res = curve.evaluate(X, y, lams=[0.0, 0.5, 1.0])
    >>> res.loss.shape, bool(torch.equal(curve.model_at(0.0)[0].weight, a[0].weight))
    ((3,), True)
    """
    check_module(model_a, "model_a")
    check_module(model_b, "model_b")
    kind = check_choice(kind, "kind", CURVE_KINDS)
    opts = _fit_options(epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size,
                        optimizer=optimizer, momentum=momentum, seed=seed, progress=progress)
    n_bends = check_int(n_bends, "n_bends", low=1, high=64)
    curve = Curve(model_a, model_b, kind=kind, n_bends=n_bends, loss=loss, device=device)
    data = check_data(curve.model_at(0.0, reset_bn=None), X, y, loss=curve.loss, allow_loader=True)
    if isinstance(reset_bn, str) and reset_bn == "X":
        reset_bn = X if data.loader is not None else data.inputs
    frozen = {n for n, p in model_a.named_parameters() if not p.requires_grad}
    controls, history = _train_controls(curve, data, opts, frozen)
    return curve.with_controls(controls, history=history, reset_bn=reset_bn)
