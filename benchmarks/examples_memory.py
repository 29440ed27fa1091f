"""Where the snapshot examples' memory goes (issue 17 item 5): the lead rows repeated once per
snapshot (`features.examples.Examples.leads`) against one row per lead, and the float64 model
matrix those examples make.

    .venv/bin/python benchmarks/examples_memory.py /tmp/leadscore-bench/crm-100000

Reads a demo CRM (`leadscore generate`) with data/specs/demo_crm.yaml, builds its examples as
`leadscore train` does and prints the sizes (pandas' deep memory usage) and the peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("crm", type=Path, help="a folder written by `leadscore generate`")
    parser.add_argument("--features", type=int, default=46, help="columns of the model matrix (the demo spec's)")
    args = parser.parse_args()
    from features.examples import build_examples
    from features.load import load_clean
    from features.spec import load_spec

    spec = load_spec(ROOT / "data" / "specs" / "demo_crm.yaml")
    started = time.perf_counter()
    _, tables, _ = load_clean(spec, args.crm)
    examples = build_examples(spec, tables)
    repeated = int(examples.leads.memory_usage(deep=True).sum())
    once = int(examples.leads.drop_duplicates("lead_id").memory_usage(deep=True).sum())
    n = len(examples)
    print(f"{n:,} examples of {examples.leads['lead_id'].nunique():,} leads ({time.perf_counter() - started:.1f} s)")
    print(f"lead rows, one per example: {repeated / 2**20:,.0f} MiB ({repeated / n:.0f} bytes an example)")
    print(f"lead rows, one per lead:    {once / 2**20:,.0f} MiB")
    print(f"float64 model matrix ({args.features} columns): {n * args.features * 8 / 2**20:,.0f} MiB")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
