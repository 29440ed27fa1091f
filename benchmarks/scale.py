"""Memory-bounded scale test (issue 16 item 6): a big demo CRM generated in chunks straight to
partitioned Parquet, then validated, trained and scored with `--dask local` on this machine,
each step timed with the peak memory of all its processes (the command, the Dask scheduler and
workers: benchmarks/_tree.py); then the single-machine path's limit: the largest of
--single-sizes that `leadscore train` without Dask completes under --limit-gib.

    flock /tmp/leadscore-heavy.lock .venv/bin/python benchmarks/scale.py                 # 10,000,000 leads
    .venv/bin/python benchmarks/scale.py --leads 50000 --single-sizes 50000              # end to end, quickly
    .venv/bin/python benchmarks/scale.py --leads 10000000 --skip single                  # the Dask steps only

Every step is a `leadscore` command as a user types it (printed above the table). A step listed
in --skip is reported as skipped. Targets: each Dask
step completes with its processes under --limit-gib (default 20 of this machine's 24 GiB, which
four other engineers share); a step above it is stopped and marked MISS (out of memory).
The CRMs go to --cache (reused when there: generation is timed only when it runs).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tree import load_average, run_tree, stop_on_sigterm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "data" / "specs" / "demo_crm.yaml"
LEADSCORE = str(Path(sys.executable).parent / "leadscore")
AS_OF = "2026-09-30T00:00:00Z"
STEPS = ("generate", "validate", "train", "score", "single")


def chunked_crm(cache: Path, leads: int, chunk_leads: int) -> tuple[Path, list[str]]:
    folder = cache / f"crm-{leads}-chunks-{chunk_leads}"
    return folder, [LEADSCORE, "generate", "--out", str(folder), "--leads", str(leads), "--seed", "7",
                    "--chunk-leads", str(chunk_leads)]


class Table:
    def __init__(self, limit_gib: float):
        self.limit = limit_gib
        self.rows: list[str] = []
        self.header = (f"{'step':<26} {'leads':>11} {'seconds':>8} {'peak GiB':>9} {'procs':>5}  "
                       f"{'target':<18} result")

    def add(self, step: str, leads: int, run=None, note: str = "", target: str | None = None) -> bool:
        target = target or f"done, < {self.limit:g} GiB"
        if run is None:
            self.rows.append(f"{step:<26} {leads:>11,} {'':>8} {'':>9} {'':>5}  {target:<18} skipped: {note}")
            return False
        ok = run.exit_code in (0, 4)  # train: 4 = registered, a gate failed (not promoted)
        result = ("PASS" if ok else "MISS") + (" (out of memory: stopped)" if run.out_of_memory else
                                               "" if ok else f" (exit {run.exit_code})")
        self.rows.append(f"{step:<26} {leads:>11,} {run.seconds:>8.1f} {run.peak_gib:>9.2f} {run.processes:>5}  "
                         f"{target:<18} {result}{'; ' + note if note else ''}")
        return ok

    def print(self) -> None:
        print(self.header)
        print("-" * len(self.header))
        for row in self.rows:
            print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=10_000_000)
    parser.add_argument("--chunk-leads", type=int, default=1_000_000)
    parser.add_argument("--single-sizes", type=int, nargs="*", default=[1_000_000, 2_000_000, 5_000_000],
                        help="sizes `leadscore train` without Dask is tried on, smallest first, until one fails")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/leadscore-bench"))
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.yaml")
    parser.add_argument("--limit-gib", type=float, default=20.0)
    parser.add_argument("--skip", nargs="*", default=[], choices=STEPS)
    args = parser.parse_args()
    stop_on_sigterm()
    print(f"scale test: {args.leads:,} demo leads in chunks of {args.chunk_leads:,}; {load_average()}")
    table = Table(args.limit_gib)
    work = Path(tempfile.mkdtemp(prefix="leadscore-scale-"))
    env = {"LEADSCORE_MODELS_DIR": str(work / "models"), "LEADSCORE_DATA_DIR": str(work / "data"),
           "MLFLOW_TRACKING_URI": ""}

    def step(name: str, command: list[str], leads: int, note: str = "", target: str | None = None):
        print("  $ " + " ".join(command), flush=True)
        run = run_tree(command, env=env, limit_gib=args.limit_gib)
        if run.exit_code not in (0, 4):
            print(run.output[-3000:], file=sys.stderr)
        return table.add(name, leads, run, note, target)

    try:
        data, generate = chunked_crm(args.cache, args.leads, args.chunk_leads)
        if (data / "summary.json").exists():
            table.add("generate (chunked)", args.leads, None, f"reused {data}")
        elif "generate" in args.skip:
            sys.exit(f"--skip generate, but {data} has not been generated")
        else:
            step("generate (chunked)", generate, args.leads)
        dask_steps = {
            "validate": ("validate --dask local", [LEADSCORE, "validate", "--spec", str(SPEC), "--data", str(data),
                                                    "--no-profile", "--dask", "local"]),
            "train": ("train --dask local", [LEADSCORE, "train", "--spec", str(SPEC), "--data", str(data), "--config",
                                              str(args.config), "--promote", "force", "--dask", "local"]),
            "score": ("score --dask local", [LEADSCORE, "score", "--spec", str(SPEC), str(data / "leads.parquet"),
                                              str(work / "scores"), "--activities", str(data / "activities.parquet"),
                                              "--as-of", AS_OF, "--no-log", "--no-progress", "--dask", "local"]),
        }
        trained = False
        for key, (name, command) in dask_steps.items():
            if key in args.skip:
                table.add(name, args.leads, None, "--skip")
            elif key == "score" and not trained:
                table.add(name, args.leads, None, "no model: the train step did not complete")
            else:
                ok = step(name, command, args.leads)
                trained |= key == "train" and ok
        if "single" not in args.skip:
            largest = None
            for size in sorted(args.single_sizes):
                data, generate = chunked_crm(args.cache, size, min(args.chunk_leads, size))
                if not (data / "summary.json").exists():
                    run_tree(generate, limit_gib=args.limit_gib)
                shutil.rmtree(work / "models", ignore_errors=True)
                ok = step("train (one machine)", [LEADSCORE, "train", "--spec", str(SPEC), "--data", str(data),
                                                   "--config", str(args.config), "--promote", "force"], size)
                if not ok:
                    break
                largest = size
            print(f"single-machine limit: {'none of ' + str(args.single_sizes) if largest is None else f'{largest:,}'}"
                  f" leads trained without Dask under {args.limit_gib:g} GiB"
                  + ("" if largest is None or largest != max(args.single_sizes) else " (the largest size tried)"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table.print()
    print(f"after: {load_average()}")


if __name__ == "__main__":
    main()
