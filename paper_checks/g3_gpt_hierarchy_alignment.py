"""G3 — the [GLMC] Table 1 ordering on GPT-2 language models (Hugging Face implementation): learned (hierarchy) < weight matching
(hierarchy) < activation matching < vanilla ([GLMC] §3, Table 1, Tiny Shakespeare column).

Setup and the shared training job: :mod:`lmctheory.experiments.gpt_pairs` (Hugging Face ``GPT2LMHeadModel``s,
random initialization, trained here, LayerNorm and a read-out tied to the token embedding, on a seeded
modular-arithmetic sequence task generated offline; three widths; the same strategies as G2). Also behind figure 15.

Pass condition (fixed before the first run), with ``B_s`` the mean over pairs of the per-token test cross-entropy
barrier ``B_lin`` of strategy ``s`` at the widest width: ``B_learned < B_weight < B_activation < B_vanilla``.
Every strategy and width is reported, with the endpoint accuracies (whether the endpoints learned the task).
"""

from __future__ import annotations

from lmctheory.experiments import gpt_pairs as _exp
from paper_checks.common import ClaimResult, Context
from paper_checks.g2_hierarchy_alignment import CONDITION, describe, evaluate_order

ID = "G3"
TITLE = "GPT-2 language models (Hugging Face): learned (hierarchy) < weight matching < activation matching < vanilla"
PAPER = ("[GLMC] Table 1 (GPT-2, Tiny Shakespeare): loss barriers vanilla 2.02, activation matching 1.43, weight "
         "matching 0.34, learned (permutations only) 0.63, learned (hierarchy) 0.02.")


def config(quick: bool) -> dict:
    """The experiment's configuration (tests monkeypatch this to shrink the claim)."""
    return _exp.config(quick)


def collect(ctx: Context) -> dict:
    return _exp.collect(ctx, config(ctx.quick))


def run(ctx: Context) -> ClaimResult:
    data = collect(ctx)
    passed, ev = evaluate_order(data)
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured=describe(data) + " (per-token B_lin, nats; "
                       + data.get("model", "") + ")", passed=passed, condition=CONDITION,
                       details={"evaluation": ev, "config": data["config"], "seconds": data["seconds"]})
