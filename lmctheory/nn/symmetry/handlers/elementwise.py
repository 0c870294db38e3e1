"""Elementwise operations with broadcasting, activation functions, factories reading a tensor's shape.

Broadcasting merges the matching axes of all tensor operands with the output's axes. An operand that
cannot be permuted (an input, a constant such as a rotary ``cos``/``sin`` table or a relative position
bias, a buffer outside the state dict) and has size > 1 along an axis therefore pins that axis: this
is exactly what makes rotary embeddings restrict the within-head q/k permutations, and what keeps
attention masks and position tables fixed. A parameter operand (layer scale, an affine ``addcmul``,
an RMSNorm gain) ties its axis to the activation's.
"""

from __future__ import annotations

from ..registry import register_handler

# values are computed position by position from the operands at the same position
BINARY = ["add", "sub", "rsub", "mul", "div", "true_divide", "floor_divide", "remainder", "fmod", "pow", "maximum",
          "minimum", "fmax", "fmin", "atan2", "hypot", "eq", "ne", "lt", "le", "gt", "ge", "logical_and",
          "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor", "__and__", "__or__", "__xor__",
          "where", "masked_fill", "addcmul", "addcdiv", "lerp", "clamp", "clip", "clamp_min", "clamp_max",
          "copysign", "xlogy", "heaviside", "threshold", "hardtanh", "leaky_relu", "elu", "celu", "selu",
          "softplus", "copy", "fill", "nan_to_num"]
ACTIVATIONS = ["relu", "relu6", "gelu", "silu", "tanh", "sigmoid", "hardswish", "hardsigmoid", "mish", "softsign",
               "logsigmoid", "log_sigmoid", "elu", "celu", "selu", "leaky_relu", "hardtanh", "softplus",
               "rrelu", "threshold", "tanhshrink", "hardshrink", "softshrink", "swish"]
UNARY = ["neg", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "abs", "sqrt", "rsqrt", "square",
         "reciprocal", "sign", "sgn", "erf", "erfc", "erfinv", "sin", "cos", "tan", "asin", "acos", "atan", "sinh",
         "cosh", "asinh", "acosh", "atanh", "floor", "ceil", "round", "trunc", "frac", "logical_not",
         "bitwise_not", "isnan", "isinf", "isfinite", "signbit", "positive", "sigmoid", "logit", "angle", "i0",
         "nan_to_num", "relu"]


def elementwise(ctx, tier=2, residual_tag=True):
    out = ctx.out
    targs = ctx.tensor_args()
    name = str(ctx.node.target).split(".")[1].rstrip("_")
    resid = []
    if residual_tag and name in ("add", "sub"):
        # a residual sum adds activations whose axes were distinct classes before the sum (x + f(x));
        # a sum of two functions of the same activation (x + c·x³ inside an activation) is not one
        acts = [n for n in targs if ctx.param(n) is None]
        for i, s in enumerate(out.shape):
            roots = set()
            for n in acts:
                v = ctx.val(n)
                j = i - (out.ndim - v.ndim)
                if s > 1 and j >= 0 and v.shape[j] == s:
                    roots.add(tuple(ctx.cl.find(c) for c in ctx.cl.expand(ctx.lay(n)[j])))
            if len(roots) >= 2:
                resid.append(i)
    res = ctx.broadcast([(ctx.lay(n), ctx.val(n).shape) for n in targs], out.shape)
    for i in resid:
        ctx.tag(res[i], "residual")
    return ctx.tap(res, 1 if resid else tier)


def _names(names):
    out = []
    for n in names:
        out += [f"aten.{n}", f"aten.{n}_"]
    return out


@register_handler(*_names(sorted(set(BINARY + UNARY) - set(ACTIVATIONS))))
def _elementwise(ctx):
    if ctx.out is None or not hasattr(ctx.out, "shape"):
        ctx.fail("elementwise operation with a non-tensor result")
    return elementwise(ctx)


@register_handler(*_names(sorted(ACTIVATIONS)))
def _activation(ctx):
    return elementwise(ctx, tier=0, residual_tag=False)


@register_handler("aten.zeros_like", "aten.ones_like", "aten.empty_like", "aten.full_like", "aten.rand_like",
                  "aten.randn_like", "aten.new_zeros", "aten.new_ones", "aten.new_empty", "aten.new_full",
                  "aten.new_tensor", "aten.scalar_tensor", "aten.zeros", "aten.ones", "aten.full", "aten.empty",
                  "aten.arange", "aten.eye", "aten.tril", "aten.triu", "aten.sym_size", "aten.sym_numel",
                  "aten.sym_stride", "aten.size", "aten.dim", "aten.numel")
def _factory(ctx):
    """Tensors built from a tensor's shape only (values independent of any activation): pinned."""
    name = str(ctx.node.target).split(".")[1]
    out = ctx.out
    if name in ("tril", "triu"):
        x = ctx.arg(0)
        xl = ctx.lay(x)
        ctx.pin(xl[-1], "triangular mask")
        ctx.pin(xl[-2], "triangular mask")
        return list(xl[:-2]) + ctx.fresh(out.shape[-2:], "triangular mask")
    if not hasattr(out, "shape"):
        return None
    return ctx.fresh(out.shape, "tensor built from a shape")


@register_handler("aten.prelu", "aten._prelu_kernel")
def _prelu(ctx):
    """PReLU: one slope per channel (axis 1 of an ``(N, C, …)`` input), or a single shared slope."""
    x, w = ctx.arg(0), ctx.arg(1)
    xl, xv, wv = ctx.lay(x), ctx.val(x), ctx.val(w)
    if wv.numel() > 1:
        ch = 1 if xv.ndim >= 2 else 0
        if wv.ndim != 1 or wv.shape[0] != xv.shape[ch]:
            ctx.fail("prelu with a slope tensor that is not one value per channel")
        ctx.tie(xl[ch], ctx.lay(w)[0])
    return ctx.tap(list(xl), 0)


@register_handler("aten.glu")
def _glu(ctx):
    """GLU along ``dim``: the axis is read as (2 halves, n/2); the halves share one permutation."""
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    d = ctx.arg(1, "dim", -1)
    d = d + xv.ndim if d < 0 else d
    cut = ctx.cl.cut(xl[d], [2, xv.shape[d] // 2], "glu halves")
    res = list(xl)
    if cut is None:
        res[d] = ctx.cl.new(xv.shape[d] // 2, f"{ctx.node.name}:{d}", pinned="glu")
    else:
        ctx.pin(cut[0], "glu: which half")
        res[d] = cut[1]
    return ctx.tap(res, 0)
