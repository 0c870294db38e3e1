"""Graph capture: one ATen-level graph of a model on its example inputs (``torch.export``, non-strict).

``torch.export.export(..., strict=False)`` runs the model's Python code with fake tensors and records
every tensor operation as an ATen operator (``aten.linear.default``, ``aten.conv2d.default``,
``aten.scaled_dot_product_attention.default``, …). The module and functional forms of an operation
become the same node, and a module subclass that overrides ``forward`` (``LayerNorm2d``) is traced
through, so one handler per ATen operation serves every way of writing it. Hugging Face models,
timm and torchvision models survive this capture.

The model is wrapped so that its outputs are flattened with :func:`lmctheory.nn._inputs.flatten_output`
(tensors of tuples, dicts, ``ModelOutput`` dataclasses; cache objects are dropped), and captured in
eval mode without changing the user's module flags. Every parameter/buffer placeholder of the graph
is mapped back to its state-dict name; a tensor shared under several names (tied weights) gets one
*canonical* name (its first state-dict name), and buffers outside the state dict (non-persistent
buffers such as rotary frequency tables) and lifted constants are *constants* (never permuted).

A :class:`CapturedGraph` can re-run its graph on the parameters of *any* model of the same
architecture (:meth:`CapturedGraph.run`), recording the values of chosen nodes: this is how
activation matching reads the activations that :class:`~lmctheory.nn.symmetry.Tap` names.
"""

from __future__ import annotations

import weakref

import torch
import torch.fx as fx
from torch import nn
from torch.export.graph_signature import InputKind

from .._inputs import ModelInputs, as_model_inputs, eval_mode, flatten_output
from .types import UnsupportedOperationError

__all__ = ["CapturedGraph", "capture", "clear_capture_cache", "module_path"]

_PREFIX = "model."


class _Flat(nn.Module):
    """The user's model with its output flattened to a list of tensors."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *args, **kwargs):
        return flatten_output(self.model(*args, **kwargs))


def _strip(name: str) -> str:
    return name[len(_PREFIX):] if name.startswith(_PREFIX) else ("" if name == "model" else name)


def module_path(node: fx.Node) -> str:
    """Path of the innermost user module that ran ``node`` (``""`` for the model itself)."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return _strip(str(path))


def module_type(node: fx.Node) -> str:
    """Class name of the innermost user module that ran ``node``."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    t = list(stack.values())[-1][1]
    return getattr(t, "__name__", str(t).rsplit(".", 1)[-1])


def _tensor_table(model):
    """``{id(tensor): canonical state-dict name}`` and ``{canonical name: all names}``."""
    canon, aliases = {}, {}
    for name, t in model.state_dict(keep_vars=True).items():
        k = id(t)
        if k not in canon:
            canon[k] = name
            aliases[name] = [name]
        else:
            aliases[canon[k]].append(name)
    return canon, {k: tuple(v) for k, v in aliases.items()}


def _signature(model, inputs: ModelInputs):
    def sig(v):
        if isinstance(v, torch.Tensor):
            return ("T", tuple(v.shape), str(v.dtype), v.device.type)
        return ("V", repr(v)[:200])
    sd = tuple((k, tuple(t.shape), str(t.dtype)) for k, t in model.state_dict(keep_vars=True).items())
    return (hash(sd), tuple(sig(a) for a in inputs.args), tuple((k, sig(v)) for k, v in inputs.kwargs.items()))


class CapturedGraph:
    """An ATen graph of a model on inputs of given shapes (see the module docstring).

    Attributes
    ----------
    exported : torch.export.ExportedProgram
    graph : torch.fx.Graph
        Nodes in execution order; ``node.meta["val"]`` holds a fake tensor with the node's shape.
    params : dict of str -> str
        Placeholder node name -> canonical state-dict name, for parameters and persistent buffers.
    aliases : dict of str -> tuple of str
        Canonical state-dict name -> every state-dict name of that tensor (tied weights share one).
    constants : set of str
        Placeholder node names of constants (lifted tensors, non-persistent buffers).
    constant_values : dict of str -> torch.Tensor
        Their values (a constant that does not vary along an axis does not pin that axis).
    user_inputs : list of str
        Placeholder node names of the model's own inputs (tensors and constants), in order.
    """

    def __init__(self, exported, model):
        self.exported = exported
        self.graph = exported.graph
        canon, self.aliases = _tensor_table(model)
        wrapper_lookup = dict(_Flat(model).named_parameters(remove_duplicate=False))
        wrapper_lookup.update(dict(_Flat(model).named_buffers(remove_duplicate=False)))
        self.params, self.constants, self.user_inputs, self._targets = {}, set(), [], {}
        self.constant_values = {}  # placeholder name -> the constant's value (non-persistent buffers, lifted tensors)
        placeholders = [n for n in self.graph.nodes if n.op == "placeholder"]
        specs = exported.graph_signature.input_specs
        if len(placeholders) != len(specs):
            raise UnsupportedOperationError("internal error: the exported graph's inputs do not match its signature")
        for node, spec in zip(placeholders, specs):
            self._targets[node.name] = (spec.kind, spec.target)
            if spec.kind in (InputKind.PARAMETER, InputKind.BUFFER):
                t = wrapper_lookup.get(spec.target)
                name = canon.get(id(t)) if t is not None else None
                if name is None:
                    self.constants.add(node.name)  # non-persistent buffer: not in the state dict
                    if isinstance(t, torch.Tensor):
                        self.constant_values[node.name] = t
                else:
                    self.params[node.name] = name
            elif spec.kind == InputKind.USER_INPUT:
                self.user_inputs.append(node.name)
            else:
                self.constants.add(node.name)
                c = exported.constants.get(spec.target)
                if isinstance(c, torch.Tensor):
                    self.constant_values[node.name] = c

    @property
    def nodes(self):
        return self.graph.nodes

    def module_path(self, node: fx.Node) -> str:
        return module_path(node)

    def _flat_inputs(self, model, inputs: ModelInputs):
        from torch.fx._pytree import tree_flatten_spec

        leaves = tree_flatten_spec((tuple(inputs.args), dict(inputs.kwargs)), self.exported.call_spec.in_spec)
        named = dict(_Flat(model).named_parameters(remove_duplicate=False))
        named.update(dict(_Flat(model).named_buffers(remove_duplicate=False)))
        dev = next((t.device for t in named.values()), None)
        it = iter(leaves)
        flat = []
        for n in self.graph.nodes:
            if n.op != "placeholder":
                continue
            kind, target = self._targets[n.name]
            if kind in (InputKind.PARAMETER, InputKind.BUFFER):
                if target not in named:
                    raise ValueError(f"the model has no parameter or buffer {_strip(target)!r} (it is not of the "
                                     "captured architecture)")
                flat.append(named[target])
            elif kind == InputKind.USER_INPUT:
                flat.append(next(it))
            else:
                c = self.exported.constants[target]
                flat.append(c.to(dev) if isinstance(c, torch.Tensor) and dev is not None else c)
        return flat

    @torch.no_grad()
    def run(self, model: nn.Module, inputs, keep=None) -> dict:
        """Run the graph with ``model``'s parameters and buffers on ``inputs`` (same shapes as captured).

        Parameters
        ----------
        model : nn.Module
            The captured model or any model of the same architecture.
        inputs : tensor, tuple, dict or ModelInputs
            As :func:`lmctheory.nn._inputs.as_model_inputs` accepts; shapes as at capture time.
        keep : set of str, optional
            Node names whose values to return (default: every node's value, keyed by name).

        Returns
        -------
        dict of str -> value
        """
        inputs = as_model_inputs(inputs, "inputs")
        flat = self._flat_inputs(model, inputs)
        rec = _Recorder(self.exported.graph_module, None if keep is None else set(keep))
        with eval_mode(model):
            rec.run(*flat)
        return rec.values


class _Recorder(fx.Interpreter):
    def __init__(self, gm, keep):
        super().__init__(gm, garbage_collect_values=True)
        self.keep, self.values = keep, {}

    def run_node(self, n):
        out = super().run_node(n)
        if self.keep is None or n.name in self.keep:
            self.values[n.name] = out
        return out


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def capture(model: nn.Module, example_input, *, name: str = "example_input") -> CapturedGraph:
    """Capture ``model`` on ``example_input`` as an ATen graph (``torch.export``, non-strict).

    Parameters
    ----------
    model : nn.Module
    example_input : tensor, tuple or dict
        Positional input(s) or keyword inputs (``{"input_ids": ids}``), as
        :func:`lmctheory.nn._inputs.as_model_inputs` accepts. The graph is specialized to their shapes.

    Returns
    -------
    CapturedGraph
        Cached per model object and input shapes (capturing again costs 0.1–2 s).

    Raises
    ------
    ValueError
        A model or input on the ``meta`` device (no values to run), or inputs that do not bind to ``forward``.
    UnsupportedOperationError
        ``torch.export`` cannot capture the model (data-dependent control flow, unsupported Python).

    References
    ----------
    docs/theory.md#t-s1 (T-S1) (the symmetry groups are read off this graph).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> g = capture(nn.Sequential(nn.Linear(3, 4), nn.ReLU()), torch.randn(2, 3))
    >>> [str(n.target) for n in g.nodes if n.op == "call_function"]
    ['aten.linear.default', 'aten.relu.default']
    >>> sorted(g.params.values())
    ['0.bias', '0.weight']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for k, t in model.state_dict(keep_vars=True).items():
        if t.device.type == "meta":
            raise ValueError(f"model is on the 'meta' device ({k!r} holds no values); materialize it first "
                             "(e.g. model.to_empty(device='cpu') and initialize)")
    inputs = as_model_inputs(example_input, name, model=model)
    key = _signature(model, inputs)
    per_model = _CACHE.setdefault(model, {})
    if key in per_model:
        return per_model[key]
    wrapper = _Flat(model)
    try:
        with eval_mode(model), torch.no_grad():
            ep = torch.export.export(wrapper, tuple(inputs.args), dict(inputs.kwargs), strict=False)
    except UnsupportedOperationError:
        raise
    except Exception as exc:  # torch.export raises many types (UserError, TypeError, RuntimeError, …)
        msg = str(exc).strip().splitlines()
        raise UnsupportedOperationError(f"torch.export could not capture {type(model).__name__}: "
                                        f"{type(exc).__name__}: {msg[0] if msg else ''}") from exc
    cg = CapturedGraph(ep, model)
    if len(per_model) > 8:
        per_model.clear()
    per_model[key] = cg
    return cg


def clear_capture_cache(model: nn.Module | None = None) -> None:
    """Forget the cached captures of ``model`` (of every model if None)."""
    if model is None:
        _CACHE.clear()
    else:
        _CACHE.pop(model, None)
