"""``python -m lmctheory.bench [--quick] [--only NAME ...] [--json PATH] [--list]``."""

from __future__ import annotations

import argparse
import sys

from . import _machine, discover, format_table, run_all, save_json


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m lmctheory.bench",
                                description="Run the lmctheory benchmarks (ratios against in-run baselines).")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--only", action="append", metavar="NAME",
                   help="run only this benchmark module (repeatable); see --list")
    p.add_argument("--json", metavar="PATH", help="also save the results as JSON")
    p.add_argument("--list", action="store_true", help="list the benchmark modules and exit")
    args = p.parse_args(argv)
    if args.list:
        print("\n".join(discover()))
        return 0
    try:
        rows = run_all(quick=args.quick, only=args.only)
    except ValueError as exc:
        p.error(str(exc))
    m = _machine()
    print(f"machine: {m.get('cpus')} CPUs, load average at end {m.get('loadavg_start')}, "
          f"python {m['python']}  (timings share the machine with whatever else runs)")
    print(format_table(rows))
    if args.json:
        save_json(rows, args.json, args.quick)
        print(f"saved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
