"""G2 — [GLMC] Table 1 ordering on ViT pairs: learned (hierarchy) < weight matching (hierarchy) < activation
matching < vanilla averaging ([GLMC] §3, Table 1; docs/theory.md T-S1, T-S3, T-S4).

Setup and the shared training job: :func:`lmctheory.experiments.vit_pairs.collect_strategies` (standard ViTs with
gainless RMSNorm on digits, 2×2 patches, depth 2, 4 heads, at three widths; per pair every strategy of
:data:`lmctheory.experiments.vit_pairs.STRATEGY_CURVES` through :func:`lmctheory.nn.hierarchy.align`: vanilla,
activation matching of the permutations, weight matching at the permutation level and over the whole hierarchy,
learned matching at the permutation level and over the whole hierarchy). Also behind figure 15.

Pass condition (fixed before the first run), with ``B_s`` the mean over pairs of the test cross-entropy barrier
``B_lin`` of strategy ``s`` at the widest width: ``B_learned < B_weight < B_activation < B_vanilla``. Every
strategy and width is reported; a violated inequality is a miss, reported with its numbers.
"""

from __future__ import annotations

from lmctheory.experiments import vit_pairs as _exp
from paper_checks.common import ClaimResult, Context, fmt

ID = "G2"
TITLE = "ViTs: learned (hierarchy) < weight matching (hierarchy) < activation matching < vanilla"
PAPER = ("[GLMC] Table 1 (ViT, CIFAR-10): loss barriers vanilla 1.69, activation matching 1.27, weight matching "
         "0.36, learned (permutations only) 0.45, learned (hierarchy) 0.00.")
CONDITION = "Mean test-loss barrier over pairs at the widest width: learned < weight < activation < vanilla."
ORDER = ("learned", "weight", "activation", "vanilla")


def config(quick: bool) -> dict:
    """The experiment's configuration (tests monkeypatch this to shrink the claim)."""
    return _exp.strategies_config(quick)


def collect(ctx: Context) -> dict:
    return _exp.collect_strategies(ctx, config(ctx.quick))


def evaluate_order(data: dict) -> tuple[bool | None, dict]:
    """The ordering at the widest width; ``None`` if a barrier is missing or not finite."""
    widths = data["widths"]
    w = max(widths, key=lambda k: float(k))
    b = {s: widths[w][s]["loss_barrier_lin_mean"] for s in ORDER if s in widths[w]}
    if len(b) < len(ORDER) or not all(v == v for v in b.values()):
        return None, {"width": w, "barriers": b}
    holds = [b[ORDER[i]] < b[ORDER[i + 1]] for i in range(len(ORDER) - 1)]
    return bool(all(holds)), {"width": w, "barriers": b,
                              "pairs_holding": {f"{ORDER[i]}<{ORDER[i + 1]}": h for i, h in enumerate(holds)}}


def describe(data: dict) -> str:
    parts = []
    for w, row in sorted(data["widths"].items(), key=lambda kv: float(kv[0])):
        bs = ", ".join(f"{s} {fmt(row[s]['loss_barrier_lin_mean'], 2)}±{fmt(row[s]['loss_barrier_lin_std'], 2)}"
                       for s, _, _ in _exp.STRATEGY_CURVES if s in row)
        acc = 100 * sum(row["endpoint_test_acc"]) / max(1, len(row["endpoint_test_acc"]))
        parts.append(f"width {w} (end acc {acc:.0f}%): {bs}")
    return "; ".join(parts)


def run(ctx: Context) -> ClaimResult:
    data = collect(ctx)
    passed, ev = evaluate_order(data)
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured=describe(data) + " (B_lin, nats)", passed=passed,
                       condition=CONDITION, details={"evaluation": ev, "config": data["config"],
                                                    "seconds": data["seconds"]})
