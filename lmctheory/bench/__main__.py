"""``python -m lmctheory.bench [--quick] [--only NAME ...] [--json PATH] [--list]``.

The ``--json`` destination is checked before any benchmark runs. Exit status (:mod:`lmctheory._cli`):
0 every benchmark ran; 1 at least one benchmark raised (its row says ``FAILED``); 2 nothing was run
(bad command line, unwritable ``--json``).
"""

from __future__ import annotations

import argparse
import sys

from .._cli import EXIT_FAILED, EXIT_OK, EXIT_STATUS_HELP, EXIT_USAGE, CLIError, check_output_file
from . import machine_info, discover, format_table, run_all, save_json


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m lmctheory.bench",
                                description="Run the lmctheory benchmarks (ratios against in-run baselines).",
                                epilog=EXIT_STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--only", action="append", metavar="NAME",
                   help="run only this benchmark module (repeatable); see --list")
    p.add_argument("--json", metavar="PATH", help="also save the results as JSON")
    p.add_argument("--list", action="store_true", help="list the benchmark modules and exit")
    args = p.parse_args(argv)
    if args.list:
        print("\n".join(discover()))
        return EXIT_OK
    unknown = sorted(set(args.only or []) - set(discover()))
    if unknown:
        print(f"error: unknown benchmark(s) {unknown}; available: {discover()}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        try:
            check_output_file(args.json, "--json")
        except CLIError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    rows = run_all(quick=args.quick, only=args.only)
    m = machine_info()
    print(f"machine: {m.get('cpus')} CPUs, load average at end {m.get('loadavg_start')}, "
          f"python {m['python']}  (timings share the machine with whatever else runs)")
    print(format_table(rows))
    if args.json:
        save_json(rows, args.json, args.quick)
        print(f"saved {args.json}")
    failed = any(str(r.get("notes", "")).startswith("FAILED") for r in rows)
    return EXIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
