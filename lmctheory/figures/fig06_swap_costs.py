"""Figure 6 — pairwise neuron swap costs of trained W-MLPs vs σ_F and k ([NI] Fig. 5; paper_checks C3)."""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._trained import arr, collect, need
from .style import new_figure

NAME = "fig06_swap_costs"
EXPERIMENT = "wmlp_swap_costs.collect"
LAYER = 1  # first layer: its input support (the generating basis) is known exactly


def _key(grid: dict, sf: float) -> str | None:
    for key in grid:
        if float(key) == sf:
            return key
    return None


@register(6, NAME, "Pairwise swap costs of trained W-MLPs ([NI] Fig. 5, C3)", "trained")
def make(ctx: FigureContext) -> FigureOutput:
    data = collect(EXPERIMENT, ctx)
    grid = need(data, "grid", source=EXPERIMENT)
    cfg = data.get("config", {})
    sfs = sorted(float(s) for s in grid)
    ks = sorted({int(k) for rows in grid.values() for k in rows})
    tau = float(cfg.get("tau", 0.1))
    ref_sf = _key(grid, 1.0) or _key(grid, max(sfs))

    rows = {c: [] for c in ("kind", "sigma_f", "k", "layer", "i", "j", "value", "normalized")}

    def add(*vals):
        for key, v in zip(rows, vals):
            rows[key].append(v)

    size = "grid" if len(ks) <= 3 else "xgrid"
    fig, axes = new_figure(size, len(sfs), len(ks) + 1)
    for r, sf in enumerate(sfs):
        skey = _key(grid, sf)
        for c, k in enumerate(ks):
            ax = axes[r, c]
            cell = need(grid, skey, str(k), source=EXPERIMENT)
            layer = need(cell, "layers", source=EXPERIMENT)[LAYER - 1]
            M = arr(need(layer, "matrix", source=EXPERIMENT))
            lim = float(np.nanquantile(np.abs(M), 0.99)) or 1.0
            # symmetric range: white is a zero-cost swap in every panel
            im = ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest", aspect="auto")
            cb = fig.colorbar(im, ax=ax, pad=0.02)
            cb.ax.tick_params(labelsize="xx-small")
            cb.set_label("Δ_ij  [‖w‖²]", fontsize="xx-small")
            drop = cell.get("drop_train_mean", np.nan)
            acc = 100 * np.nanmean(arr(cell.get("endpoint_acc_train", [np.nan])))
            ax.set_title(f"σ_F = {sf:g}, k = {k}\nmidpoint drop {drop:.1f} pp (endpoints {acc:.0f}%)",
                         fontsize="x-small")
            ax.set_xlabel(f"neuron j   (cheap {100 * layer.get('frac_cheap', np.nan):.1f}%, "
                          f"negative {100 * layer.get('frac_negative', np.nan):.0f}%)", fontsize="x-small")
            ax.set_ylabel("neuron i", fontsize="small")
            ax.grid(False)
            med = float(layer.get("median", np.nan))
            for i in range(M.shape[0]):
                for j in range(M.shape[1]):
                    add("matrix", sf, k, LAYER, i, j, M[i, j], M[i, j] / med if med else np.nan)

        # distributions: off-diagonal swap costs in units of the σ_F = 1 median at the same k
        ax = axes[r, -1]
        for c, k in enumerate(ks):
            layer = grid[skey][str(k)]["layers"][LAYER - 1]
            ref = float(grid[ref_sf][str(k)]["layers"][LAYER - 1]["median"])
            smp = np.sort(arr(need(layer, "sample", source=EXPERIMENT)))
            z = smp / ref
            ecdf = np.arange(1, z.size + 1) / z.size
            ax.step(z, ecdf, where="post", color=f"C{c}", label=f"k = {k}")
            for v, zz in zip(smp, z):
                add("sample", sf, k, LAYER, np.nan, np.nan, v, zz)
        ax.axvline(tau, color="0.3", ls="--", lw=1.0, label=f"τ = {tau:g} (cheap)")
        ax.axvline(0.0, color="0.3", ls=":", lw=1.0)
        # symlog: σ_F = 0 costs sit orders of magnitude below the σ_F = 1 scale, and may be negative
        ax.set_xscale("symlog", linthresh=1e-3)
        lo, hi = ax.get_xlim()
        cand = (-10, -1, 0, 0.1, 1, 10, 100) if hi >= 1 else (-1, -0.01, 0, 0.01, 0.1)
        ticks = [t for t in cand if lo <= t <= hi]
        ax.set_xticks(ticks, [f"{t:g}".replace("-", "−") for t in ticks])
        ax.tick_params(labelsize="x-small")
        ax.set_xlabel(f"Δ_ij / median Δ at σ_F = {float(ref_sf):g}", fontsize="x-small")
        ax.set_ylabel("fraction of pairs ≤ x", fontsize="x-small")
        ax.set_title(f"σ_F = {sf:g}: ECDF of Δ_ij, i ≠ j", fontsize="x-small")
        ax.legend(fontsize="xx-small", loc="lower right")
        for k in ks:
            cell = grid[skey][str(k)]
            layer = cell["layers"][LAYER - 1]
            for stat in ("frac_cheap", "frac_negative", "median", "drop_train_mean", "drop_test_mean"):
                src = cell if stat.startswith("drop") else layer
                add(f"summary:{stat}", sf, k, LAYER, np.nan, np.nan, src.get(stat, np.nan), np.nan)

    n_show = len(arr(grid[ref_sf][str(ks[0])]["layers"][LAYER - 1]["matrix"]))
    caption = (
        "Figure 6 ([NI] Q3, Fig. 5; paper_checks C3, docs/theory.md §4, T-4.5, T-4.6). Neuron swap costs "
        "Δ_ij = C_ij + C_ji − C_ii − C_jj (C_ij = R_i(a_j), eq. 10) at the first layer of trained W-MLPs "
        f"({cfg.get('n_layers', '?')} linear layers, hidden {cfg.get('hidden', '?')}, "
        f"{cfg.get('fixed_fraction', 0.08):.0%} fixed entries per row) on a {cfg.get('n_classes', '?')}-class "
        f"Gaussian-mixture task with latent dimension k in d = {cfg.get('d', '?')}; the input support U is the "
        "generating basis. Rows: fixed-weight scale σ_F; columns: k. Heatmaps: Δ_ij of the first "
        f"{n_show} neurons of one trained model (blue: negative, white: zero, red: positive; colour range "
        "± the 99th percentile of |Δ| in that panel). Titles: fraction of off-diagonal swaps that are cheap "
        f"(Δ_ij < {tau:g} × that layer's median), fraction negative, and the unaligned midpoint train-accuracy "
        "drop with the endpoint train accuracy. Last column: empirical CDF of the off-diagonal swap costs "
        "(a random sample of pairs), in units of the σ_F = 1 median at the same k (symmetric-log axis). "
        f"{cfg.get('epochs', '?')} epochs, {cfg.get('n_pairs', '?')} pair(s) per cell; measured with the "
        f"lmctheory.experiments.wmlp_swap_costs (quick = {ctx.mode != 'full'}), seed {ctx.seed}."
    )
    return FigureOutput(fig, rows, caption, size=size)
