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
``--full``       larger Monte Carlo budgets; trained figures use paper_checks' full mode
``--cache DIR``  cache folder for the trained models and measurements of paper_checks
                 (default: ``$LMCTHEORY_CACHE`` or ``~/.cache/lmctheory``)
``--dask ADDR``  run the training jobs of the trained figures on an existing Dask cluster
                 (scheduler address, e.g. ``tcp://host:8786``)
``--ray ADDR``   the same on an existing Ray cluster (head address, e.g. ``ray://host:10001``)
``--seed N``     base seed (default 0)
``--no-progress`` hide the progress bars

Without ``--quick``/``--full`` the analytic figures use their default sizes and the trained
figures use paper_checks' quick mode: the whole run fits in about 15 minutes on 2 cores with a
cold cache.

A figure that cannot be produced (a module it needs is missing, or it fails) is reported in one
line and the run goes on with the others.

Exit status
-----------
0  every requested figure was written
1  at least one figure failed with an error (message printed, no traceback unless ``--traceback``)
2  bad command line (unknown figure ID, conflicting options) or the cluster given with
   ``--dask``/``--ray`` cannot be reached (nothing is rendered then)
3  no errors, but at least one figure could not be produced yet (a dependency is missing)
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lmctheory.figures",
        description="Regenerate every lmctheory figure (PNG + CSV of the plotted data + caption).",
        epilog=(
            "A figure that cannot be produced is reported in one line and the others still run.\n"
            "exit status: 0 all written; 1 at least one figure failed; 2 bad command line or unreachable\n"
            "cluster; 3 no failure, but at least one figure cannot be produced yet (a module is missing)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    p.add_argument("--only", nargs="+", metavar="ID", help="figures to render (number or name)")
    p.add_argument("--out", type=Path, default=Path("figures"), help="output folder (default ./figures)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smallest sizes (smoke test)")
    size.add_argument("--full", action="store_true", help="large budgets; paper_checks full mode")
    p.add_argument("--cache", type=Path, default=None, help="cache folder for paper_checks")
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
            results.append((spec, res.status, res.seconds, res.message or str(res.paths.get("png", ""))))
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
    client = None
    if args.dask or args.ray:
        from lmctheory.sweep import connect

        try:
            client = connect(dask=args.dask, ray=args.ray)
        except Exception as exc:  # unreachable scheduler, missing extra: a message, not a traceback
            where = f"Dask scheduler {args.dask}" if args.dask else f"Ray cluster {args.ray}"
            print(f"error: cannot connect to the {where}: {type(exc).__name__}: {exc}", file=sys.stderr)
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
    n_un = sum(r[1] == "unavailable" for r in results)
    print(f"{n_ok} written, {n_un} not yet producible, {n_err} failed "
          f"in {sum(r[2] for r in results):.1f} s; output in {out}/")
    if n_err:
        return EXIT_ERROR
    if n_un:
        return EXIT_UNAVAILABLE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
