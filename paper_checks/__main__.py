"""``python -m paper_checks [--quick] [--only C1 C5 …] [--cache DIR] [--dask ADDR | --ray ADDR] [--json PATH]``

Runs the claim modules (see :mod:`paper_checks.common`) and prints a summary table:
claim, what the paper says, what we measured, pass/miss.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None) -> int:
    from lmctheory.sweep import connect

    from .common import Context, discover, format_table, results_to_json, run_claims

    p = argparse.ArgumentParser(prog="python -m paper_checks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CPU quick mode (whole suite ≈ 10 min on 2 cores)")
    p.add_argument("--only", nargs="+", metavar="ID", help="claim ids to run (default: all)")
    p.add_argument("--cache", metavar="DIR", help="cache root (default: $LMCTHEORY_CACHE or ~/.cache/lmctheory)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--dask", metavar="ADDRESS", help="run training jobs on this Dask scheduler")
    g.add_argument("--ray", metavar="ADDRESS", help="run training jobs on this Ray cluster")
    p.add_argument("--json", metavar="PATH", help="also write all results (with details) as JSON")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--list", action="store_true", help="list the claims and exit")
    args = p.parse_args(argv)

    if args.list:
        for cid, mod in discover().items():
            print(f"{cid:4s} {mod}")
        return 0
    client = connect(dask=args.dask, ray=args.ray)
    ctx = Context(quick=args.quick, cache_root=args.cache, client=client, progress=not args.no_progress,
                  seed=args.seed)
    t0 = time.perf_counter()

    def show(r):
        print(f"[{r.id}] {r.verdict}: {r.measured} ({r.details.get('wall_seconds', 0):.0f}s)", file=sys.stderr)

    try:
        results = run_claims(args.only or [], ctx, on_result=show)
    except KeyError as exc:
        p.error(str(exc))
    print(format_table(results))
    print(f"total {time.perf_counter() - t0:.0f}s ({'quick' if args.quick else 'full'} mode)")
    if args.json:
        results_to_json(results, args.json, quick=args.quick, seed=args.seed,
                        seconds=time.perf_counter() - t0)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
