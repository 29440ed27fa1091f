"""Benchmark the scoring service and batch scoring; print one table, every row measured now.

    .venv/bin/python benchmarks/serving.py                    # the full run (about 15 minutes)
    .venv/bin/python benchmarks/serving.py --file-leads 100000 --duration 5   # a quicker one

Rows (all servers run one worker process, one at a time, on this machine):
  * single lead (one demo lead with its ~20 activities, 5 reasons): latency p50/p99 and
    requests/s at 1 and 16 connections, for (a) `leadscore serve` POST /score, (b) a BentoML
    no-op endpoint reading the same body (benchmarks/noop_service.py: the framework's floor),
    (c) `mlflow models serve` on the same registered model (the same leads with their
    activities: it takes what /score takes);
  * the garbage-collector figures: (a) and (b) again with Python's default GC, and (b) as
    BentoML ships it (its request-timeout timers kept alive, see serving.runtime);
  * 1,000 leads per call (1 connection): leads/s for (a) with and without activities and
    reasons, (b), (c), and the raw LightGBM booster on the same 1,000 model rows (in-process);
  * `leadscore score` on a generated CRM of --file-leads leads (default 1,000,000), with 3
    reasons and without, against the raw booster on the same rows.

Load generator: wrk (C, one or two threads; `apt-get install wrk`), a separate process, so
it is not the bottleneck of a Python server. A setup (demo CRM, trained and registered
model, 1M-lead CRM) is cached in --workdir between runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path and its name would hide the
# `serving` package: look modules up from the project root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
SPEC = ROOT / "data" / "specs" / "demo_crm.yaml"
TRAIN_CONFIG = ROOT / "configs" / "demo.yaml"
AS_OF = "2026-10-01T00:00:00Z"

TARGET_P50_MS, TARGET_P99_MS = 3.0, 15.0
TARGET_FLOOR_SHARE = 0.80
TARGET_BATCH_LEADS_S = 50_000  # 1,000 profile-only leads per call, 5 reasons
TARGET_BATCH_FLOOR_SHARE = 0.60  # 1,000 leads with ~20 activities each per call, 5 reasons, against the no-op
TARGET_FILE_SHARE = 0.60

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("WRK_BODY"), "rb")
wrk.body = f:read("*a")
f:close()
"""


# ================================================================================ helpers
def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def base_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSCORE_", "MLFLOW_TRACKING_URI"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", LEADSCORE_MODELS_DIR=str(work / "models"),
               LEADSCORE_DATA_DIR=str(work / "data"), BENTOML_DO_NOT_TRACK="True", GX_ANALYTICS_ENABLED="False",
               MLFLOW_DISABLE_TELEMETRY="true", MLFLOW_LOGGING_LEVEL="WARNING",
               MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
               MLFLOW_TRACKING_URI=f"sqlite:///{work / 'models' / 'mlflow.db'}")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def run(cmd: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"{what} failed (exit {result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ================================================================================ setup
def setup(work: Path, file_leads: int, fresh: bool) -> dict:
    """Demo CRM, a trained model registered in a temporary MLflow store (champion, exported
    bundle), and a large CRM for the batch-file row; reused when present."""
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    env = base_env(work)
    leadscore = str(BIN / "leadscore")
    if not (work / "demo" / "summary.json").exists():
        log("generating the 20,000-lead demo CRM")
        run([leadscore, "generate", "--out", str(work / "demo"), "--leads", "20000", "--seed", "7"], env, "generate")
    bundle = work / "models" / "bundles" / "demo-crm" / "champion"
    if not (bundle / "bundle.json").exists():
        log("training and registering the model (MLflow store in the workdir)")
        # LightGBM only: these figures measure the tree tables (on the demo CRM the logistic
        # candidate is often kept, and it scores without them).
        import yaml

        config = yaml.safe_load(TRAIN_CONFIG.read_text()) if TRAIN_CONFIG.exists() else {}
        (work / "train.yaml").write_text(yaml.safe_dump({**config, "candidates": ["lightgbm"]}))
        cmd = [leadscore, "train", "--spec", str(SPEC), "--data", str(work / "demo"), "--promote", "force",
               "--config", str(work / "train.yaml")]
        run(cmd, env, "train")
    big = work / f"crm_{file_leads}"
    if not (big / "summary.json").exists():
        log(f"generating a {file_leads:,}-lead CRM for `leadscore score`")
        run([leadscore, "generate", "--out", str(big), "--leads", str(file_leads), "--seed", "11"], env, "generate")
    return {"env": env, "bundle": bundle, "big": big}


def _json_value(value):
    import pandas as pd

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def make_bodies(work: Path, bundle: Path) -> tuple[dict[str, Path], int, list[dict]]:
    """Request bodies written to files for wrk: one lead, 1,000 leads (with and without
    activities, with and without reasons), the same for MLflow's /invocations."""
    import pandas as pd

    folder = work / "bodies"
    folder.mkdir(exist_ok=True)
    leads = pd.read_parquet(work / "demo" / "leads.parquet").drop_duplicates("lead_id")
    acts = pd.read_parquet(work / "demo" / "activities.parquet")
    chosen = leads.iloc[8_000:9_000]
    mine = acts[acts["lead_id"].astype(str).isin(set(chosen["lead_id"]))]
    by_lead: dict[str, list] = {}
    for row in mine.itertuples(index=False):
        by_lead.setdefault(str(row.lead_id), []).append(
            {"occurred_at": row.occurred_at.isoformat() + "Z", "activity_type": str(row.activity_type),
             "value": _json_value(row.value)})
    records = []
    for record in chosen.drop(columns=["sales_rating"]).to_dict("records"):
        lead = {k: _json_value(v) for k, v in record.items()}
        lead["activities"] = by_lead.get(lead["lead_id"], [])
        records.append(lead)
    counts = sorted(len(lead["activities"]) for lead in records)
    typical = next(lead for lead in records if len(lead["activities"]) == counts[len(counts) // 2])
    profile_only = [{k: v for k, v in lead.items() if k != "activities"} for lead in records]
    bodies = {
        "one": {"lead": typical, "as_of": AS_OF},
        "batch_acts_r5": {"leads": records, "as_of": AS_OF},
        "batch_acts_r0": {"leads": records, "as_of": AS_OF, "reasons": 0},
        "batch_profile_r5": {"leads": profile_only, "as_of": AS_OF},
        "batch_profile_r0": {"leads": profile_only, "as_of": AS_OF, "reasons": 0},
    }

    from serving.scorer import LeadScorer

    scorer = LeadScorer.from_bundle_dir(bundle)
    numeric = set(scorer.spec.leads.numeric)

    def mlflow_row(lead: dict) -> dict:  # the registered model takes /score's lead, numbers as doubles
        return {k: (float(v) if k in numeric and v is not None else v) for k, v in lead.items()}

    params = {"as_of": AS_OF}
    bodies["mlflow_one"] = {"dataframe_records": [mlflow_row(typical)], "params": params}
    bodies["mlflow_batch"] = {"dataframe_records": [mlflow_row(lead) for lead in records], "params": params}
    paths = {}
    for name, body in bodies.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(body))
        paths[name] = path
    return paths, len(typical["activities"]), records


# ================================================================================ servers
@dataclass
class Server:
    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    ready_path: str
    process: subprocess.Popen | None = None
    log_file: Path | None = None
    scratch: Path | None = None  # removed when the server stops

    def __enter__(self) -> "Server":
        self.log_file = Path(tempfile.mkstemp(prefix="bench-server-", suffix=".log")[1])
        self.process = subprocess.Popen(self.cmd, env=self.env, cwd=ROOT, stdout=open(self.log_file, "w"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"{self.name} exited ({self.process.returncode}):\n{self.log_file.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}{self.ready_path}", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        sys.exit(f"{self.name} did not become ready:\n{self.log_file.read_text()[-3000:]}")

    def worker_rss_mb(self) -> float:
        """Resident memory of the server's processes other than the supervisor (MiB)."""
        import psutil

        try:
            parent = psutil.Process(self.process.pid)
            children = parent.children(recursive=True)
            procs = children or [parent]
            return max(p.memory_info().rss for p in procs) / 2**20
        except psutil.Error:
            return float("nan")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __exit__(self, *exc) -> None:
        self.stop()
        if self.log_file:
            self.log_file.unlink(missing_ok=True)
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


@dataclass
class WrkResult:
    p50_ms: float
    p99_ms: float
    requests_s: float
    errors: int
    rss_mb: float = float("nan")


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[unit]


def wrk(url: str, body: Path, connections: int, seconds: int, script: Path) -> WrkResult:
    threads = 1 if connections == 1 else 2
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s",
           "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "WRK_BODY": str(body)}).stdout
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not (p50 and p99 and rps):
        sys.exit(f"could not read wrk's output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    n_errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0)
    return WrkResult(_ms(p50.group(1)), _ms(p99.group(1)), float(rps.group(1)), n_errors)


def measure(server: Server, path: str, body: Path, connections: int, seconds: int, script: Path,
            warm_seconds: int = 3) -> WrkResult:
    url = f"http://127.0.0.1:{server.port}{path}"
    wrk(url, body, connections, warm_seconds, script)  # warm-up, not counted
    result = wrk(url, body, connections, seconds, script)
    result.rss_mb = server.worker_rss_mb()
    log(f"  {server.name} {path} c{connections} {body.name}: p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
        f"{result.requests_s:,.0f} req/s, rss {result.rss_mb:.0f} MiB, errors {result.errors}")
    return result


def leadscore_server(setup_: dict, gc_mode: str) -> Server:
    port = free_port()
    # A fresh score database per server: a log grown by earlier runs would make runs unequal.
    database = Path(tempfile.mkdtemp(prefix="bench-db-")) / "leadscore.db"
    env = {**setup_["env"], "LEADSCORE_GC": gc_mode, "LEADSCORE_DATABASE_URL": f"sqlite:///{database}"}
    return Server(f"leadscore(gc={gc_mode})", [str(BIN / "leadscore"), "serve", "--port", str(port), "--host",
                  "127.0.0.1", "--bundle", str(setup_["bundle"])], env, port, "/readyz", scratch=database.parent)


def noop_server(setup_: dict, gc_mode: str, timers: str) -> Server:
    port = free_port()
    env = {**setup_["env"], "LEADSCORE_GC": gc_mode, "LEADSCORE_BENTOML_TIMERS": timers}
    return Server(f"noop(gc={gc_mode},timers={timers})",
                  [str(BIN / "bentoml"), "serve", "benchmarks.noop_service:NoopService", "--port", str(port),
                   "--host", "127.0.0.1", "--working-dir", str(ROOT)], env, port, "/readyz")


def mlflow_server(setup_: dict) -> Server:
    port = free_port()
    return Server("mlflow", [str(BIN / "mlflow"), "models", "serve", "-m", "models:/leadscore-demo-crm@champion",
                             "--env-manager", "local", "-p", str(port), "-h", "127.0.0.1", "-w", "1"],
                  setup_["env"], port, "/ping")


# ================================================================================ in-process
def booster_rates(bundle: Path, records: list[dict], big: Path) -> dict:
    """Leads/s of the raw LightGBM booster on the model rows of the same leads (in-process)."""
    import numpy as np

    from serving.scorer import LeadScorer

    scorer = LeadScorer.from_bundle_dir(bundle)
    booster = scorer.bundle.booster
    moment = _as_of_naive()
    X = scorer.transform.transform_records(records, [lead["activities"] for lead in records], moment)

    def best_rate(matrix, repeat: int) -> float:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            booster.predict(matrix, num_threads=0)
            times.append(time.perf_counter() - started)
        return len(matrix) / min(times)

    best_rate(X, 3)
    rates = {"batch_1000": best_rate(X, 20)}
    # What reasons cost: LightGBM's pred_contrib against the scorer's tables (score and
    # contributions together), one thread each, on the same rows.
    times = []
    for _ in range(5):
        started = time.perf_counter()
        booster.predict(X, pred_contrib=True, num_threads=1)
        times.append(time.perf_counter() - started)
    rates["pred_contrib_1000"] = len(X) / min(times)
    if scorer.tables is not None:
        times = []
        for _ in range(20):
            started = time.perf_counter()
            scorer.tables.raw_and_groups(X, scorer.reasons.group_of, len(scorer.reasons.groups), threads=1)
            times.append(time.perf_counter() - started)
        rates["tables_1000"] = len(X) / min(times)
        times = []
        for _ in range(20):
            started = time.perf_counter()
            booster.predict(X, num_threads=1)
            times.append(time.perf_counter() - started)
        rates["predict_1000_one_thread"] = len(X) / min(times)
    single = []
    row = X[:1]
    for _ in range(2000):
        started = time.perf_counter()
        booster.predict(row, num_threads=1)
        single.append(time.perf_counter() - started)
    rates["single_p50_ms"] = float(np.median(single) * 1e3)
    # The file rows: the same transform the batch command uses, then the booster alone.
    from features.load import load_clean
    from features.spec import load_spec

    spec = load_spec(SPEC)
    _, tables, _ = load_clean(spec, big)
    leads = tables.leads.drop_duplicates("lead_id")
    as_of = np.full(len(leads), np.datetime64(moment, "ns"))
    X_big = scorer.transform.transform_frame(leads, tables.activities, as_of)
    rates["file_rows"] = len(X_big)
    rates["file"] = best_rate(X_big, 2)
    del X_big, tables
    return rates


def _as_of_naive():
    from datetime import datetime

    return datetime.fromisoformat(AS_OF.replace("Z", "+00:00")).replace(tzinfo=None)


def score_file(setup_: dict, reasons: int) -> dict:
    big = setup_["big"]
    out = Path(tempfile.mkdtemp(prefix="bench-score-")) / "scores.parquet"
    cmd = [str(BIN / "leadscore"), "score", "--spec", str(SPEC), str(big / "leads.parquet"), str(out),
           "--activities", str(big / "activities.parquet"), "--bundle", str(setup_["bundle"]),
           "--as-of", AS_OF, "--reasons", str(reasons), "--no-progress"]
    started = time.perf_counter()
    result = run(cmd, {**setup_["env"], "COLUMNS": "250"}, "leadscore score")
    seconds = time.perf_counter() - started
    rows = int(re.search(r"scored ([\d,]+) leads", result.stdout).group(1).replace(",", ""))
    steps = dict(re.findall(r"(load|validate|score|write) ([\d.]+) s", result.stdout.replace("\n", " ")))
    shutil.rmtree(out.parent, ignore_errors=True)
    log(f"  leadscore score --reasons {reasons}: {rows:,} leads in {seconds:.1f} s ({steps})")
    return {"rows": rows, "seconds": seconds, "steps": steps}


# ================================================================================ the table
@dataclass
class Table:
    rows: list[tuple] = field(default_factory=list)

    def add(self, *row) -> None:
        self.rows.append(row)

    def print(self, title: str, notes: list[str]) -> None:
        from rich.console import Console
        from rich.table import Table as RichTable

        table = RichTable(title=title, show_lines=False)
        for name, justify in [("measurement", "left"), ("p50 ms", "right"), ("p99 ms", "right"),
                              ("req/s", "right"), ("leads/s", "right"), ("worker MiB", "right"),
                              ("target / note", "left")]:
            table.add_column(name, justify=justify, no_wrap=name != "target / note")
        for row in self.rows:
            if row and row[0] == "--":
                table.add_section()
                continue
            table.add_row(*row)
        console = Console(width=190)
        console.print(table)
        for note in notes:
            console.print(note)


def f(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:,.{digits}f}"


def check(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "results" / "serving-work")
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached setup")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--file-leads", type=int, default=1_000_000)
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed as the load generator: apt-get install -y wrk")
    os.environ.update(BENTOML_DO_NOT_TRACK="True", MLFLOW_DISABLE_TELEMETRY="true")
    started_load = load_average()
    started = time.time()

    setup_ = setup(args.workdir, args.file_leads, args.fresh)
    bodies, n_acts, records = make_bodies(args.workdir, setup_["bundle"])
    script = args.workdir / "post.lua"
    script.write_text(WRK_SCRIPT)
    D = args.duration
    results: dict[str, WrkResult] = {}

    log("(a) leadscore serve, GC tuned")
    with leadscore_server(setup_, "tuned") as server:
        for c in (1, 16):
            results[f"a_one_c{c}"] = measure(server, "/score", bodies["one"], c, D, script)
        for name in ("batch_acts_r5", "batch_acts_r0", "batch_profile_r5", "batch_profile_r0"):
            results[f"a_{name}"] = measure(server, "/score", bodies[name], 1, D, script)
    log("(a) leadscore serve, Python's default GC")
    with leadscore_server(setup_, "default") as server:
        for c in (1, 16):
            results[f"a_gcdefault_c{c}"] = measure(server, "/score", bodies["one"], c, D, script)
    log("(b) BentoML no-op, same settings as (a)")
    with noop_server(setup_, "tuned", "fixed") as server:
        for c in (1, 16):
            results[f"b_one_c{c}"] = measure(server, "/score", bodies["one"], c, D, script)
        for name in ("batch_acts_r5", "batch_profile_r5"):
            results[f"b_{name}"] = measure(server, "/score", bodies[name], 1, D, script)
    log("(b) BentoML no-op as shipped: default GC, request timers kept alive")
    with noop_server(setup_, "default", "stock") as server:
        for c in (1, 16):
            results[f"b_stock_c{c}"] = measure(server, "/score", bodies["one"], c, D, script)
    log("(b) BentoML no-op: timers fixed, default GC")
    with noop_server(setup_, "default", "fixed") as server:
        for c in (1, 16):
            results[f"b_timers_c{c}"] = measure(server, "/score", bodies["one"], c, D, script)
    mlflow_note = None
    if args.skip_mlflow:
        mlflow_note = "(c) skipped: --skip-mlflow"
    elif shutil.which("mlflow", path=str(BIN)) is None:
        mlflow_note = "(c) skipped: the mlflow command is not in the venv"
    else:
        log("(c) mlflow models serve on the registered champion")
        with mlflow_server(setup_) as server:
            check_body = httpx.post(f"http://127.0.0.1:{server.port}/invocations",
                                    content=bodies["mlflow_one"].read_bytes(),
                                    headers={"content-type": "application/json"}, timeout=30)
            if check_body.status_code != 200:
                mlflow_note = f"(c) skipped: /invocations answered {check_body.status_code}: {check_body.text[:200]}"
            else:
                for c in (1, 16):
                    results[f"c_one_c{c}"] = measure(server, "/invocations", bodies["mlflow_one"], c, D, script)
                results["c_batch"] = measure(server, "/invocations", bodies["mlflow_batch"], 1, D, script)

    log("raw LightGBM booster (in-process)")
    rates = booster_rates(setup_["bundle"], records, setup_["big"])
    log(f"  booster: {rates}")
    log("leadscore score on the large CRM")
    file_r3 = score_file(setup_, 3)
    file_r0 = score_file(setup_, 0)

    # ------------------------------------------------------------------------ the table
    t = Table()
    a1, b1, a16, b16 = results["a_one_c1"], results["b_one_c1"], results["a_one_c16"], results["b_one_c16"]
    t.add(f"single lead ({n_acts} activities, 5 reasons), 1 connection", "", "", "", "", "", "")
    t.add("  (a) leadscore /score", f(a1.p50_ms), f(a1.p99_ms), f(a1.requests_s, 0), "", f(a1.rss_mb, 0),
          f"p50 <= {TARGET_P50_MS:g} ms {check(a1.p50_ms <= TARGET_P50_MS)}, "
          f"p99 <= {TARGET_P99_MS:g} ms {check(a1.p99_ms <= TARGET_P99_MS)}")
    t.add("  (b) BentoML no-op (floor)", f(b1.p50_ms), f(b1.p99_ms), f(b1.requests_s, 0), "", f(b1.rss_mb, 0),
          f"(a) = {a1.requests_s / b1.requests_s:.0%} of the floor")
    if "c_one_c1" in results:
        c1 = results["c_one_c1"]
        t.add("  (c) mlflow models serve", f(c1.p50_ms), f(c1.p99_ms), f(c1.requests_s, 0), "", f(c1.rss_mb, 0),
              "profile fields only (no activities in its signature), probability only")
    t.add(f"single lead, 16 connections", "", "", "", "", "", "")
    share16 = a16.requests_s / b16.requests_s
    t.add("  (a) leadscore /score", f(a16.p50_ms), f(a16.p99_ms), f(a16.requests_s, 0), "", f(a16.rss_mb, 0),
          f">= {TARGET_FLOOR_SHARE:.0%} of the floor: {share16:.0%} {check(share16 >= TARGET_FLOOR_SHARE)}")
    t.add("  (b) BentoML no-op (floor)", f(b16.p50_ms), f(b16.p99_ms), f(b16.requests_s, 0), "", f(b16.rss_mb, 0), "")
    if "c_one_c16" in results:
        c16 = results["c_one_c16"]
        t.add("  (c) mlflow models serve", f(c16.p50_ms), f(c16.p99_ms), f(c16.requests_s, 0), "", f(c16.rss_mb, 0), "")
    t.add("--")
    t.add("garbage collector (single lead; 1 / 16 connections)", "", "", "", "", "", "")
    for key, label, note in [
            ("a_gcdefault", "  (a) /score, timers fixed, default GC", "LEADSCORE_GC=default"),
            ("a_one", "  (a) /score, timers fixed, GC tuned", "the service: gc.freeze() after start-up, thresholds 20000/20/20"),
            ("b_stock", "  (b) no-op, BentoML as shipped", "request timers kept alive 60 s, default GC"),
            ("b_timers", "  (b) no-op, timers fixed, default GC", "timers cancelled (serving.runtime)"),
            ("b_one", "  (b) no-op, timers fixed, GC tuned", "the floor above")]:
        r1, r16 = results[f"{key}_c1"], results[f"{key}_c16"]
        t.add(label, f"{f(r1.p50_ms)} / {f(r16.p50_ms)}", f"{f(r1.p99_ms)} / {f(r16.p99_ms)}",
              f"{f(r1.requests_s, 0)} / {f(r16.requests_s, 0)}", "", f(max(r1.rss_mb, r16.rss_mb), 0), note)
    t.add("--")
    t.add("1,000 leads per call, 1 connection", "", "", "", "", "", "")
    for key, label in [("a_batch_acts_r5", "  (a) /score, with activities (~20/lead), 5 reasons"),
                       ("a_batch_acts_r0", "  (a) /score, with activities, no reasons"),
                       ("a_batch_profile_r5", "  (a) /score, profile fields only, 5 reasons"),
                       ("a_batch_profile_r0", "  (a) /score, profile fields only, no reasons"),
                       ("b_batch_acts_r5", "  (b) no-op, with activities"),
                       ("b_batch_profile_r5", "  (b) no-op, profile fields only"),
                       ("c_batch", "  (c) mlflow, with activities, 5 reasons")]:
        if key not in results:
            continue
        r = results[key]
        rate = r.requests_s * 1000
        note = ""
        floor = results.get("b_batch_acts_r5" if "_acts_" in key else "b_batch_profile_r5")
        if key.startswith("a_") and floor is not None:
            share = r.requests_s / floor.requests_s
            note = f"{share:.0%} of the no-op's rate"
            if key == "a_batch_acts_r5":  # issue 17 item 4
                note += f" {check(share >= TARGET_BATCH_FLOOR_SHARE)} (>= {TARGET_BATCH_FLOOR_SHARE:.0%})"
        if key == "a_batch_profile_r5":
            note = f">= {TARGET_BATCH_LEADS_S:,} leads/s {check(rate >= TARGET_BATCH_LEADS_S)}; " + note
        t.add(label, f(r.p50_ms, 1), f(r.p99_ms, 1), f(r.requests_s, 1), f(rate, 0), f(r.rss_mb, 0), note)
    t.add("  raw LightGBM booster, the same 1,000 rows", "", "", "", f(rates["batch_1000"], 0), "",
          f"in-process predict, all cores; one row: {rates['single_p50_ms'] * 1e3:.0f} µs")
    t.add("  the same rows, one thread: LightGBM predict", "", "", "", f(rates.get("predict_1000_one_thread"), 0),
          "", "score only")
    t.add("  ... LightGBM pred_contrib", "", "", "", f(rates["pred_contrib_1000"], 0), "",
          "the per-feature contributions reasons need")
    if "tables_1000" in rates:
        t.add("  ... the scorer's tables", "", "", "", f(rates["tables_1000"], 0), "",
              "score and the same contributions in one pass (serving/treeshap.py)")
    t.add("--")
    rows = file_r3["rows"]
    t.add(f"leadscore score, {rows:,} leads (+ their activities), parquet", "", "", "", "", "", "")
    for label, res in [("  3 reasons (default)", file_r3), ("  no reasons (--reasons 0)", file_r0)]:
        rate = res["rows"] / res["seconds"]
        steps = ", ".join(f"{k} {float(v):.0f} s" for k, v in res["steps"].items())
        share = rate / rates["file"]
        t.add(label, "", "", "", f(rate, 0), "", f"{res['seconds']:.0f} s ({steps}); {share:.1%} of the booster "
              f"{check(share >= TARGET_FILE_SHARE)} (>= {TARGET_FILE_SHARE:.0%})")
    t.add(f"  raw LightGBM booster, the same {rates['file_rows']:,} rows", "", "", "", f(rates["file"], 0), "",
          "in-process predict on the model matrix, all cores")

    import platform

    notes = [f"machine: {os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}; "
             f"load average at start {started_load}, at end {load_average()} (other processes share the machine); "
             f"{D} s per wrk run after a 3 s warm-up; every server runs one worker process.",
             "load generator: wrk 4 (C; -t1 for 1 connection, -t2 for 16), a separate process; "
             "worker MiB: resident memory of the server's worker after the run."]
    if mlflow_note:
        notes.append(mlflow_note)
    for key, r in results.items():
        if r.errors:
            notes.append(f"WARNING: {key} had {r.errors} non-2xx responses or socket errors")
    notes.append(f"total benchmark time {time.time() - started:.0f} s")
    t.print("leadscore serving benchmark", notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
