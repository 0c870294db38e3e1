"""Command line: regenerate the figures.

Usage
-----
``python -m lmctheory.figures [--list] [--only ID ...] [--out DIR] [--quick | --full] [--cache DIR]
[--dask ADDRESS | --ray ADDRESS] [--seed N] [--no-progress] [--traceback]``

``--list``       print the figures (number, name, source, title) and exit
``--only ID``    render only these figures; an ID is a number (``3``), a name
                 (``fig03_gram_concentration``) or a unique part of one (``gram_concentration``)
``--out DIR``    output folder (default ``./figures``)
``--quick``      smallest sizes everywhere (smoke test, seconds per figure)
``--full``       larger Monte Carlo budgets; trained figures use the experiments' full mode
``--cache DIR``  cache folder for the trained models and measurements of :mod:`lmctheory.experiments`
                 (default: ``$LMCTHEORY_CACHE`` or ``~/.cache/lmctheory``)
``--dask ADDR``  run the training jobs of the trained figures on an existing Dask cluster
                 (scheduler address, e.g. ``tcp://host:8786``)
``--ray ADDR``   the same on an existing Ray cluster (head address, e.g. ``ray://host:10001``)
``--seed N``     base seed (default 0)
``--no-progress`` hide the progress bars

Without ``--quick``/``--full`` the analytic figures use their default sizes and the trained
figures use the experiments' quick mode: the whole run fits in about 15 minutes on 2 cores with a
cold cache.

The output folder is checked (created, a file written and removed) before anything is computed. Each
figure's PNG, CSV and TXT are written atomically as one set; a figure that fails is reported in one
line, its previous files stay, and the run goes on with the others.

Exit status (:mod:`lmctheory._cli`, shared with ``python -m paper_checks`` and ``python -m lmctheory.bench``)
---------------------------------------------------------------------------------------------------
0  every requested figure was written
1  at least one figure failed with an error (message printed, no traceback unless ``--traceback``)
2  nothing was computed: bad command line (unknown figure ID, conflicting options), an ``--out``
   folder that cannot be written, or a ``--dask``/``--ray`` cluster that cannot be reached
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

from .._cli import (EXIT_FAILED, EXIT_OK, EXIT_STATUS_HELP, EXIT_USAGE, CLIError, check_output_dir,
                    connect_cluster)

EXIT_ERROR = EXIT_FAILED  # a figure failed


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lmctheory.figures",
        description="Regenerate every lmctheory figure (PNG + CSV of the plotted data + caption).",
        epilog="A figure that fails is reported in one line and the others still run.\n" + EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    p.add_argument("--only", nargs="+", metavar="ID", help="figures to render (number or name)")
    p.add_argument("--out", type=Path, default=Path("figures"), help="output folder (default ./figures)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smallest sizes (smoke test)")
    size.add_argument("--full", action="store_true", help="large budgets; the experiments' full mode")
    p.add_argument("--cache", type=Path, default=None, help="cache folder of the trained experiments")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--dask", metavar="ADDRESS", default=None,
                       help="Dask scheduler address for the trained figures' jobs")
    where.add_argument("--ray", metavar="ADDRESS", default=None,
                       help="Ray head address for the trained figures' jobs")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--traceback", action="store_true", help="print tracebacks of failing figures")
    return p


def _render_all(specs, out: Path, ctx, show_traceback: bool) -> list[tuple]:
    """Render ``specs`` one after the other; ``(spec, status, seconds, message)`` per figure."""
    from tqdm.auto import tqdm

    from ._core import render_figure

    results = []
    bar = tqdm(specs, desc="figures", unit="fig", disable=not ctx.progress, dynamic_ncols=True)
    for spec in bar:
        bar.set_postfix_str(spec.name)
        t0 = time.perf_counter()
        try:
            res = render_figure(spec, out, ctx)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            msg = f"{type(exc).__name__}: {exc}"
            if show_traceback:
                msg += "\n" + traceback.format_exc()
            results.append((spec, "error", time.perf_counter() - t0, msg))
        else:
            results.append((spec, res.status, res.seconds, str(res.paths.get("png", ""))))
        _, status, secs, msg = results[-1]
        line = f"[{status:>11}] {spec.number:>2} {spec.name} ({secs:.1f} s)"
        if status != "ok":
            line += f": {msg}"
        tqdm.write(line, file=sys.stderr if status == "error" else sys.stdout)
    bar.close()
    return results


def main(argv: list[str] | None = None) -> int:
    from . import all_specs, get_spec
    from ._core import FigureContext

    args = build_parser().parse_args(argv)
    specs = all_specs()
    if args.list:
        for s in specs:
            print(f"{s.number:>2}  {s.name:<34} {s.source:<9} {s.title}")
        return EXIT_OK
    if args.only:
        try:
            chosen = []
            for key in args.only:
                spec = get_spec(key)
                if spec not in chosen:
                    chosen.append(spec)
        except KeyError as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return EXIT_USAGE
        specs = sorted(chosen, key=lambda s: s.number)
    if args.seed < 0:
        print("error: --seed must be >= 0", file=sys.stderr)
        return EXIT_USAGE
    mode = "quick" if args.quick else "full" if args.full else "default"
    try:  # destination and cluster first: nothing is computed when either is unusable
        check_output_dir(args.out, "--out")
        client = connect_cluster(dask=args.dask, ray=args.ray)
    except CLIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    ctx = FigureContext(mode=mode, seed=args.seed, cache_root=args.cache,
                        progress=not args.no_progress, client=client)
    out = args.out

    try:
        results = _render_all(specs, out, ctx, args.traceback)
    finally:
        if client is not None and hasattr(client, "close"):
            client.close()  # a Dask client we opened; a Ray session is left to its owner
    n_ok = sum(r[1] == "ok" for r in results)
    n_err = sum(r[1] == "error" for r in results)
    print(f"{n_ok} written, {n_err} failed in {sum(r[2] for r in results):.1f} s; output in {out}/")
    return EXIT_ERROR if n_err else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
