"""The end of `make demo`: start `leadscore serve`, score a few demo leads over HTTP, post an
outcome, open the web pages (/ui), and stop the service cleanly. Run from the project root by scripts/demo.sh."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_leads(n: int = 3) -> tuple[list[dict], str]:
    """The n most recent open leads of the demo CRM, with their activities, as the API takes them."""
    leads = pd.read_parquet(DEMO / "leads.parquet").drop_duplicates("lead_id")
    closed = set(pd.read_parquet(DEMO / "outcomes.parquet")["lead_id"])
    activities = pd.read_parquet(DEMO / "activities.parquet")
    as_of = leads["created_at"].max()
    # A few open leads about a month old, the most engaged first, and one that wants the
    # product line the company does not sell.
    pool = leads[~leads["lead_id"].isin(closed) & (leads["created_at"] < as_of - pd.Timedelta(days=20))].tail(400)
    counts = activities[activities["lead_id"].isin(pool["lead_id"])].groupby("lead_id", observed=True).size()
    pool = pool.assign(n=pool["lead_id"].map(counts).fillna(0)).sort_values("n", ascending=False)
    chosen = pd.concat([pool.head(n - 1), pool[pool["product_interest"].str.casefold() == "home edition"].head(1)])
    out = []
    for row in chosen.drop(columns=["n", "sales_rating"]).to_dict("records"):
        acts = activities[activities["lead_id"] == row["lead_id"]]
        row = {k: (None if pd.isna(v) else v) for k, v in row.items()}
        row["created_at"] = str(row["created_at"])
        row["activities"] = [{"occurred_at": str(t), "activity_type": str(k)}
                             for t, k in zip(acts["occurred_at"], acts["activity_type"])]
        out.append(row)
    return out, as_of.isoformat()


def main() -> int:
    port = free_port()
    service = subprocess.Popen([str(ROOT / ".venv" / "bin" / "leadscore"), "serve", "--spec",
                                str(ROOT / "data" / "specs" / "demo_crm.yaml"), "--port", str(port)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if service.poll() is not None:
                print(service.stdout.read())
                print("the service did not start", file=sys.stderr)
                return 1
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                print("the service did not become ready within 90 s", file=sys.stderr)
                return 1
            time.sleep(0.3)
        print(f"service ready on {base}")
        stages = httpx.get(f"{base}/stages", timeout=10).json()["stages"]
        for key in ("sql", "mql"):
            print(f"  {stages[key]['words']}")

        leads, as_of = demo_leads()
        answer = httpx.post(f"{base}/score", json={"leads": leads, "as_of": as_of}, timeout=30)
        answer.raise_for_status()
        print(f"\nPOST /score: {len(leads)} leads as of {as_of} (model version {answer.json()['model_version']})")
        for lead, score in zip(leads, answer.json()["scores"]):
            print(f"\n  {score['lead_id']}: probability {score['probability']:.3f} (score {score['score']}), "
                  f"stage {score['stage']}  [{lead.get('seniority')}, {lead.get('lead_source')}, "
                  f"{lead.get('product_interest')}, {len(lead['activities'])} activities]")
            for reason in score["reasons_for"]:
                print(f"    + {reason}")
            for reason in score["reasons_against"]:
                print(f"    - {reason}")

        won = {"lead_id": leads[0]["lead_id"], "outcome": "won", "closed_at": as_of}
        posted = httpx.post(f"{base}/outcomes", json={"outcomes": [won]}, timeout=10)
        posted.raise_for_status()
        again = httpx.post(f"{base}/outcomes", json={"outcomes": [won]}, timeout=10).json()
        print(f"\nPOST /outcomes: {json.dumps(posted.json()['outcomes'])}; sent again: {json.dumps(again['outcomes'])}")
        queue = httpx.get(f"{base}/ui/leads", timeout=30)
        lead_page = httpx.get(f"{base}/ui/lead", params={"id": leads[0]["lead_id"], "lang": "it"}, timeout=30)
        print(f"\nPages for sales and marketing while the service runs: {base}/ui (the lead queue: "
              f"{queue.status_code}; {leads[0]['lead_id']} in Italian: {base}/ui/lead?id={leads[0]['lead_id']}&lang=it, "
              f"{lead_page.status_code}; `leadscore serve` keeps them up)")
        bad = httpx.post(f"{base}/score", json={"leads": [{"industry": "Software"}]}, timeout=10)
        print(f"POST /score without a lead id: {bad.status_code} {bad.json().get('error')}")
        return 0
    finally:
        os.killpg(service.pid, signal.SIGTERM)
        try:
            service.wait(timeout=30)
            print(f"service stopped (exit {service.returncode})")
        except subprocess.TimeoutExpired:
            os.killpg(service.pid, signal.SIGKILL)
            print("service did not stop within 30 s: killed", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
