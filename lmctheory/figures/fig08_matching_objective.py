"""Figure 8 — activation-matching objective of optimal, identity and random permutations vs σ_F
([NI] Fig. 3; paper_checks C2)."""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._trained import arr, collect, need
from .style import new_figure

NAME = "fig08_matching_objective"
EXPERIMENT = "mlp_pairs.collect_matching"
KINDS = (("optimal", "optimal permutation (linear_sum_assignment)", "o", "-"),
         ("identity", "identity (no permutation)", "s", "-"),
         ("random", "random permutations", "^", "--"))


@register(8, NAME, "Activation-matching objective vs σ_F ([NI] Fig. 3, C2)", "trained")
def make(ctx: FigureContext) -> FigureOutput:
    data = collect(EXPERIMENT, ctx)
    cfg = data.get("config", {})
    sf = arr(need(data, "sigma_f", source=EXPERIMENT))
    rows = {c: [] for c in ("kind", "sigma_f", "layer", "value", "std")}

    def add(*vals):
        for key, v in zip(rows, vals):
            rows[key].append(v)

    fig, axes = new_figure("wide", 1, 2)
    ax, ax2 = axes[0]
    for c, (kind, label, marker, ls) in enumerate(KINDS):
        mean = arr(need(data, f"{kind}_mean", source=EXPERIMENT))
        std = arr(data.get(f"{kind}_std", np.full(sf.shape, np.nan)))
        ax.errorbar(sf, mean, yerr=np.nan_to_num(std), color=f"C{c}", marker=marker, ls=ls, ms=5, capsize=2,
                    label=label)
        for s, m, e in zip(sf, mean, std):
            add(f"objective_{kind}", s, np.nan, m, e)
    ax.set_xlabel("fixed weight scale σ_F   [std of the fixed entries]")
    ax.set_ylabel("⟨P, C⟩_F / width   [mean Pearson correlation]")
    ax.set_title("Matching objective (mean over pairs and hidden layers)", fontsize="small")
    ax.legend(fontsize="x-small", loc="best", title="± 1 s.d.", title_fontsize="x-small")

    ratio = arr(need(data, "identity_over_optimal", source=EXPERIMENT))
    rnd = arr(need(data, "random_over_optimal", source=EXPERIMENT))
    ax2.plot(sf, ratio, color="C1", marker="s", label="identity / optimal")
    ax2.plot(sf, rnd, color="C2", marker="^", ls="--", label="random / optimal")
    for s, r1, r2 in zip(sf, ratio, rnd):
        add("identity_over_optimal", s, np.nan, r1, np.nan)
        add("random_over_optimal", s, np.nan, r2, np.nan)
    per_layer = data.get("per_layer", {})
    n_layers = 0
    for s in sf:
        pl = per_layer.get(str(float(s))) or per_layer.get(f"{s:g}")
        if not pl:
            continue
        opt, ide = arr(pl["optimal"]), arr(pl["identity"])
        n_layers = max(n_layers, opt.size)
        for ell, (o, i_) in enumerate(zip(opt, ide)):
            add("identity_over_optimal_layer", s, ell + 1, i_ / o, np.nan)
    for ell in range(n_layers):
        xs, ys = [], []
        for s in sf:
            pl = per_layer.get(str(float(s))) or per_layer.get(f"{s:g}")
            if pl and ell < len(pl["optimal"]):
                xs.append(s)
                ys.append(arr(pl["identity"])[ell] / arr(pl["optimal"])[ell])
        ax2.plot(xs, ys, color="C1", lw=0.8, alpha=0.35 + 0.5 * ell / max(n_layers, 1),
                 label="identity / optimal, per hidden layer (light → deep)" if ell == 0 else None)
    ax2.axhline(1.0, color="0.3", ls=":", lw=1.0)
    ax2.set_ylim(min(0.0, float(np.nanmin(rnd)) - 0.05), 1.05)
    ax2.set_xlabel("fixed weight scale σ_F   [std of the fixed entries]")
    ax2.set_ylabel("objective ratio   [dimensionless]")
    ax2.set_title("Is the identity already the best matching?", fontsize="small")
    ax2.legend(fontsize="x-small", loc="best")

    accs = arr(data.get("endpoint_test_acc", [np.nan] * sf.size))
    for s, a in zip(sf, accs):
        add("endpoint_test_acc", s, np.nan, a, np.nan)
    acc_txt = ", ".join(f"{a * 100:.1f}%" for a in accs)
    caption = (
        "Figure 8 ([NI] Q2, Fig. 3; paper_checks C2). Activation matching between two independently trained "
        "W-MLPs per fixed weight scale σ_F: C is the Pearson correlation matrix between the units of a hidden "
        "layer of the two models (training set) and the objective ⟨P, C⟩_F / width is the mean correlation of "
        "matched units, for the optimal permutation, the identity and random permutations (mean of 100). "
        "Left: objectives, mean ± 1 s.d. over pairs and hidden layers. Right: identity/optimal and "
        "random/optimal ratios (thin lines: identity/optimal per hidden layer). "
        f"{cfg.get('n_layers', '?')} linear layers, hidden {cfg.get('hidden', '?')}, dataset "
        f"{cfg.get('dataset', '?')}, {cfg.get('epochs', '?')} epochs, {cfg.get('pairs', '?')} pairs per σ_F; "
        f"mean endpoint test accuracy per σ_F: {acc_txt}. Measured with lmctheory.experiments.mlp_pairs "
        f"(quick = {ctx.mode != 'full'}), seed {ctx.seed}."
    )
    return FigureOutput(fig, rows, caption, size="wide")
