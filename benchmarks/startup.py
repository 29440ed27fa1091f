"""Benchmark how long people wait for `leadscore` before any work starts (issue 17, item 3).

    .venv/bin/python benchmarks/startup.py                 # every row, 5 runs each (serve: 3)
    .venv/bin/python benchmarks/startup.py --runs 3 --serve-runs 2
    .venv/bin/python benchmarks/startup.py --code /tmp/before --only models serve   # another checkout's code

Every figure is the median wall time of fresh processes (`.venv/bin/leadscore ...`, started
the way a user starts it, output thrown away), one after the other, on this machine:

- `leadscore --help` and every command's `--help`: the whole run until the process exits.
  Target 0.3 s (the issue names `leadscore --help`; a command's help is the same promise).
- `leadscore models`: the whole run on a registry holding two versions of one model (a
  champion and a challenger), which this script builds once under --work with `leadscore
  train` on a 2,000-lead demo CRM (not timed), in the default embedded store (SQLite under
  LEADSCORE_MODELS_DIR). Target 3 s.
- a command's own start-up: the whole run of the command on an input it refuses with its
  first check of its own, e.g. `leadscore train --spec <a missing file>`: the interpreter,
  argument parsing, every import the command makes before it can look at its input, and the
  check. Each such run must exit 1 with an `error:` line (otherwise the row says so and MISSes:
  then it did not measure start-up). Target 3 s.
- `leadscore serve` ready: from starting the process until GET /readyz answers 200 (polled
  every 50 ms), serving the registry's champion (its exported bundle) with one worker.
  Target 10 s.

Beside each median wall time, the median CPU time (user + system) of the same runs: the
processes' own work, which a busy machine does not inflate (wall time there waits for a core).
The load average is printed before and after: on a busy machine every wall time is slower.
`--code DIR` runs the `leadscore` of another checkout of the project (DIR first on sys.path and
PYTHONPATH, this environment's packages), to compare before and after;
`--only WORD...` keeps the rows whose name contains one of the words.
The figures in the README name this command.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LEADSCORE = [str(BIN / "leadscore")]  # with --code: python -c, that checkout first on sys.path
SPEC = ROOT / "data" / "specs" / "demo_crm.yaml"
HELP_TARGET, MODELS_TARGET, START_TARGET, SERVE_TARGET = 0.3, 3.0, 3.0, 10.0
MISSING = "/nonexistent/leadscore-startup"  # a path that is never there

COMMANDS = ["generate", "validate", "leakage", "train", "stages", "models", "promote", "rollback", "keys create",
            "keys list", "keys revoke", "export", "serve", "build", "score", "outcomes import", "report"]
"""Every command of `leadscore --help` (tests/leadscore/test_startup.py checks this list is complete)."""

REFUSED = {
    "generate": ["generate", "--out", "/dev/null/crm", "--leads", "10"],
    "validate": ["validate", "--spec", f"{MISSING}.yaml"],
    "leakage": ["leakage", "--spec", f"{MISSING}.yaml"],
    "train": ["train", "--spec", f"{MISSING}.yaml"],
    "stages": ["stages", "--config", f"{MISSING}.yaml", "--spec", f"{MISSING}.yaml"],
    "models": ["models", "--spec", f"{MISSING}.yaml"],
    "promote": ["promote", "1", "--spec", f"{MISSING}.yaml"],
    "rollback": ["rollback", "--spec", f"{MISSING}.yaml"],
    "export": ["export", "--spec", f"{MISSING}.yaml"],
    "serve": ["serve", "--bundle", MISSING],
    "build": ["build", "--bundle", MISSING],
    "score": ["score", f"{MISSING}.csv", "/tmp/leadscore-startup-scores.csv", "--bundle", MISSING],
    "outcomes import": ["outcomes", "import", f"{MISSING}.csv", "--spec", f"{MISSING}.yaml"],
    "report": ["report", "--spec", f"{MISSING}.yaml"],
    "keys revoke": ["keys", "revoke", "no-such-key"],
    "keys list": ["keys", "list"],  # nothing to refuse: the whole (small) run on an empty database
}
"""A refused invocation per command (see the module docstring); `keys create` writes a key, so
it has no row of its own (`keys list` and `keys revoke` load the same module)."""


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def environment(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSCORE_", "MLFLOW_TRACKING_URI"))}
    env.update(LEADSCORE_MODELS_DIR=str(work / "models"), LEADSCORE_DATA_DIR=str(work / "data"),
               BENTOML_DO_NOT_TRACK="True", GX_ANALYTICS_ENABLED="False", MLFLOW_DISABLE_TELEMETRY="true",
               MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false", COLUMNS="100")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def setup(work: Path, env: dict[str, str]) -> None:
    """A 2,000-lead demo CRM and two registered versions of leadscore-demo-crm (champion and
    challenger) in the embedded store under work/models; reused when present."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "data").mkdir(exist_ok=True)
    if (work / "models" / "ready").exists():
        return
    shutil.rmtree(work / "models", ignore_errors=True)
    crm = work / "crm"
    if not (crm / "summary.json").exists():
        log("generating the 2,000-lead demo CRM")
        _run([*LEADSCORE, "generate", "--out", str(crm), "--leads", "2000", "--seed", "7"], env)
    for promote in ("force", "never"):
        log(f"training version (--promote {promote})")
        _run([*LEADSCORE, "train", "--spec", str(SPEC), "--data", str(crm), "--promote", promote], env)
    (work / "models" / "ready").touch()


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd[1:])} failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], env: dict[str, str], runs: int) -> tuple[tuple[float, float], int, str]:
    """((median wall seconds, median CPU seconds), exit code of the last run, its stderr's last
    line) of `runs` fresh runs."""
    times, cpu, code, last = [], [], 0, ""
    for _ in range(runs):
        started, cpu_before = time.perf_counter(), children_cpu()
        done = subprocess.run([*LEADSCORE, *args], env=env, capture_output=True, text=True, cwd=ROOT)
        times.append(time.perf_counter() - started)
        cpu.append(children_cpu() - cpu_before)
        code = done.returncode
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else ""
    return (statistics.median(times), statistics.median(cpu)), code, last


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_ready(env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median seconds from starting `leadscore serve` until /readyz answers 200, and the median
    CPU seconds its processes (the server and its worker) had used by then."""
    import httpx
    import psutil

    times, cpu = [], []
    for _ in range(runs):
        port = free_port()
        started = time.perf_counter()
        server = subprocess.Popen([*LEADSCORE, "serve", "--port", str(port)], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            while True:
                if server.poll() is not None:
                    sys.exit(f"leadscore serve exited ({server.returncode}):\n{server.stderr.read()[-3000:]}")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.perf_counter() - started > 120:
                    sys.exit("leadscore serve was not ready after 120 s")
                time.sleep(0.05)
            times.append(time.perf_counter() - started)
            tree = psutil.Process(server.pid)
            cpu.append(sum(sum(p.cpu_times()[:2]) for p in [tree, *tree.children(recursive=True)]))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    return statistics.median(times), statistics.median(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="fresh runs per row (the median is shown)")
    parser.add_argument("--serve-runs", type=int, default=3, help="fresh `leadscore serve` starts")
    parser.add_argument("--work", type=Path, default=Path("/tmp/leadscore-bench/startup"),
                        help="where the demo CRM and the two-version registry are kept between runs")
    parser.add_argument("--code", type=Path, help="run the leadscore of this checkout instead (see above)")
    parser.add_argument("--only", nargs="+", default=[], help="keep the rows whose name contains one of these")
    args = parser.parse_args()
    env = environment(args.work)
    setup(args.work, env)
    if args.code is not None:
        LEADSCORE[:] = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); "
                        "from leadscore.cli import main; main()", str(args.code.resolve())]
        env["PYTHONPATH"] = f"{args.code.resolve()}{os.pathsep}{env.get('PYTHONPATH', '')}"
        print(f"code: {args.code.resolve()}")

    def wanted(name: str) -> bool:
        return not args.only or any(word in name for word in args.only)
    print(f"leadscore start-up benchmark: {os.cpu_count()} cores, median of {args.runs} fresh runs "
          f"(serve: {args.serve_runs}); load average {load_average()}")
    rows: list[tuple[str, float, float, float, bool, str]] = []

    def row(name: str, seconds: tuple[float, float], target: float, ok: bool = True, note: str = "") -> None:
        wall, cpu = seconds
        rows.append((name, wall, cpu, target, ok and wall <= target, note))
        log(f"{name}: {wall:.2f} s (CPU {cpu:.2f} s)")

    if wanted("leadscore --help"):
        row("leadscore --help", timed(["--help"], env, args.runs)[0], HELP_TARGET)
    for command in COMMANDS:
        if wanted(f"leadscore {command} --help"):
            row(f"leadscore {command} --help", timed([*command.split(), "--help"], env, args.runs)[0], HELP_TARGET)
    if wanted("leadscore models (2 versions)"):
        seconds, code, _ = timed(["models"], env, args.runs)
        row("leadscore models (2 versions)", seconds, MODELS_TARGET, code == 0, "" if code == 0 else f"exit {code}")
    for command in COMMANDS:
        if command not in REFUSED or not wanted(f"start-up: leadscore {command}"):
            continue
        seconds, code, last = timed(REFUSED[command], env, args.runs)
        refused = command == "keys list" or (code == 1 and last.startswith("error:"))
        row(f"start-up: leadscore {command}", seconds, START_TARGET, refused,
            "" if refused else f"not refused at once (exit {code}: {last[:60]})")
    if wanted("leadscore serve: until /readyz answers"):
        row("leadscore serve: until /readyz answers", serve_ready(env, args.serve_runs), SERVE_TARGET)

    width = max(len(r[0]) for r in rows)
    header = f"{'measurement':<{width}} {'wall s':>7} {'CPU s':>6} {'target':>7}  result"
    print(header)
    print("-" * len(header))
    for name, wall, cpu, target, ok, note in rows:
        print(f"{name:<{width}} {wall:>7.2f} {cpu:>6.2f} {'<= ' + format(target, 'g') + ' s':>7}  "
              f"{'PASS' if ok else 'MISS'}{'  ' + note if note else ''}")
    print("start-up rows ran: " + "; ".join(f"leadscore {' '.join(args)}" for args in REFUSED.values()))
    print(f"load average after: {load_average()}")
    return 0 if all(r[4] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
