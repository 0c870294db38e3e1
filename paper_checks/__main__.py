"""``python -m paper_checks [--quick] [--only C1 C5 …] [--cache DIR] [--dask ADDR | --ray ADDR] [--json PATH]``

Runs the claim modules (see :mod:`paper_checks.common`) and prints a summary table:
claim, what the paper says, what we measured, pass/miss. The ``--json`` destination and the
``--dask``/``--ray`` cluster are checked before any claim runs.

Exit status (:mod:`lmctheory._cli`): 0 every claim passed or could not be judged (n/a); 1 at least one
claim missed or raised; 2 nothing was run (bad command line, unwritable ``--json``, unreachable cluster).
"""

from __future__ import annotations

import argparse
import sys
import time


def _claim_failed(r) -> bool:
    """A MISS, or a claim whose run raised (``run_claims`` reports it with a traceback)."""
    return r.passed is False or "traceback" in r.details


def main(argv=None) -> int:
    from lmctheory._cli import (EXIT_FAILED, EXIT_OK, EXIT_STATUS_HELP, EXIT_USAGE, CLIError, check_output_file,
                                connect_cluster)

    from .common import Context, discover, format_table, results_to_json, run_claims

    p = argparse.ArgumentParser(prog="python -m paper_checks", description=__doc__.splitlines()[0],
                                epilog=EXIT_STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
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
        return EXIT_OK
    known = discover()
    unknown = [i for i in (args.only or []) if i.upper() not in known]
    if unknown:
        print(f"error: unknown claim(s) {unknown}; available: {', '.join(known)}", file=sys.stderr)
        return EXIT_USAGE
    try:  # destination and cluster first: nothing runs when either is unusable
        if args.json:
            check_output_file(args.json, "--json")
        client = connect_cluster(dask=args.dask, ray=args.ray)
    except CLIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    ctx = Context(quick=args.quick, cache_root=args.cache, client=client, progress=not args.no_progress,
                  seed=args.seed)
    t0 = time.perf_counter()

    def show(r):
        print(f"[{r.id}] {r.verdict}: {r.measured} ({r.details.get('wall_seconds', 0):.0f}s)", file=sys.stderr)

    results = run_claims(args.only or [], ctx, on_result=show)
    print(format_table(results))
    print(f"total {time.perf_counter() - t0:.0f}s ({'quick' if args.quick else 'full'} mode)")
    if args.json:
        results_to_json(results, args.json, quick=args.quick, seed=args.seed,
                        seconds=time.perf_counter() - t0)
        print(f"wrote {args.json}")
    return EXIT_FAILED if any(_claim_failed(r) for r in results) else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
