"""What `leadscore serve` checks before it starts a worker, run in a child process beside the
command's own start-up: the model bundle loads as a worker loads it, and the database takes
the tables.

The bundle's check is the worker's own load (`serving.segments.load_scorer`, without the lookup
tables, which each worker builds and checks itself), so a bundle a worker could not load stops
the command with one clear message instead of a crashing worker; the tables are created (or
migrated) here before any worker starts, so a database that cannot take them is one message
too (each worker still checks the schema as it starts, which finds nothing to do). Run in the command's own process
the bundle's load was 2.9 s of the command's 5.7 s before it started BentoML (cProfile, which
slows everything), most of it importing LightGBM, which imports scikit-learn. In a child
process it runs on the second core while the command imports the service (2.2 to 3.2 s), and
the child, a process that only loads a model, imports LightGBM without scikit-learn
(`serving.runtime.import_lightgbm_for_scoring`), which the command's own process could not
safely do (run in a test or a notebook, it may go on to train). With the worker's own savings
of the same commit, `leadscore serve` ready went from 11.47 and 11.99 s to 10.89 and 11.23 s
(benchmarks/startup.py --code, medians of 5, the two checkouts alternating, 2026-12-03).

    LEADSCORE_DATABASE_URL=... python -m leadscore.jobs.serve_check BUNDLE_FOLDER

prints {"spec": ..., "version": ...} on stdout and exits 0; or prints `error: ` and the reason
on stderr and exits 1. The database URL comes in the environment, not the arguments, where
other users of the machine could read its password.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from features.errors import LeadscoreError

DATABASE_VARIABLE = "LEADSCORE_DATABASE_URL"
ERROR_PREFIX = "error: "
"""How the child marks a reason of its own (a LeadscoreError), passed on as it is."""


@dataclass(frozen=True)
class BundleInfo:
    """What the command says of the bundle it serves: its spec's name and model version."""

    spec: str
    version: str


def check(folder: Path, database_url: str) -> BundleInfo:
    """Load the bundle at `folder` as a worker does, then bring the database's tables to the
    code's schema; LeadscoreError (BundleError, StoreError) if either cannot be done."""
    from serving.runtime import import_lightgbm_for_scoring

    import_lightgbm_for_scoring()  # first: nothing may import scikit-learn before it
    from serving.segments import load_scorer
    from serving.store import create_tables, make_engine

    try:
        scorer = load_scorer(folder, tables=False)
    except LeadscoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - a file LightGBM or YAML cannot read: named, not a traceback
        raise LeadscoreError(f"the model bundle {folder} could not be loaded ({type(exc).__name__}: "
                             f"{' '.join(str(exc).split())}); re-export it") from None
    engine = make_engine(database_url)
    try:
        create_tables(engine)
    finally:
        engine.dispose()
    return BundleInfo(spec=scorer.spec.name, version=str(scorer.version))


class ServeCheck:
    """`check(folder, database_url)` in a child process, started at once; `result()` waits for
    it. A context manager: leaving it stops a child still running (the command failed on
    something else first)."""

    def __init__(self, folder: Path, database_url: str):
        self.folder = Path(folder)
        self.process = subprocess.Popen([sys.executable, "-m", __name__, str(self.folder)],
                                        env={**os.environ, DATABASE_VARIABLE: database_url},
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        encoding="utf-8", errors="replace")

    def result(self) -> BundleInfo:
        """The bundle's BundleInfo; LeadscoreError with the child's reason when a check failed."""
        out, err = self.process.communicate()
        code = self.process.returncode
        if code == 0:
            try:
                return BundleInfo(**json.loads(out.strip().splitlines()[-1]))
            except (ValueError, TypeError, IndexError):
                pass
        own = re.search(f"^{ERROR_PREFIX}(.*)", err, re.MULTILINE | re.DOTALL)
        if own is not None:
            raise LeadscoreError(own.group(1).strip())
        # the child crashed: LightGBM aborts the process on some damaged model files
        lines = [line.strip() for line in err.strip().splitlines() if line.strip()]
        how = f"it stopped with {signal.Signals(-code).name}" if code < 0 else f"it exited with code {code}"
        raise LeadscoreError(f"the model bundle {self.folder} could not be loaded ({how}"
                             f"{': ' + lines[-1] if lines else ''}); re-export it")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()

    def __enter__(self) -> "ServeCheck":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not os.environ.get(DATABASE_VARIABLE):
        print(f"{ERROR_PREFIX}usage: {DATABASE_VARIABLE}=... python -m {__name__} BUNDLE_FOLDER", file=sys.stderr)
        return 2
    try:
        info = check(Path(argv[0]), os.environ[DATABASE_VARIABLE])
    except LeadscoreError as exc:
        print(f"{ERROR_PREFIX}{exc}", file=sys.stderr)
        return 1
    print(json.dumps({"spec": info.spec, "version": info.version}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
