"""`python3 -m lab`: start the lab, run the stories, both published transcripts and their containerd rows,
print the tables, stop.

Why a module entry point: `scripts/lab` stays a thin shell wrapper and the same code runs under pytest.
"""

import argparse
import sys

from . import published_containerd
from .published import Published, print_table, run_step, steps
from .stories import Stories, run_rows
from .world import Lab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the lab's temp dir (logs) after the run")
    args = parser.parse_args()
    lab = Lab(keep=args.keep)
    try:
        print(f"lab: temp dir {lab.dir}; proxy {lab.proxy.url}; moto :{lab.moto.port}; registry :{lab.registry.port}")
        failures = run_rows(Stories(lab).rows())
        print("\nlab: the two published articles, command by command (article line, client line, verdict)")
        published = Published(lab)
        failures += print_table([run_step(step) for step in steps(published)])
        print("\nlab: both stories through containerd (`ctr`), as a Kubernetes node pulls")
        failures += print_table([run_step(step) for step in published_containerd.steps(published)])
    finally:
        lab.close()
    print(f"lab: {failures} row(s) or line(s) differ from what was expected" if failures
          else "lab: every row and every published line as expected")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
