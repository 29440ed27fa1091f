#!/usr/bin/env bash
# The whole path on the synthetic demo CRM: generate, validate, train (champion of the spec's own
# model, leadscore-demo-crm, exported to models/bundles/demo-crm/champion), train on worse data
# (registered as challenger, not promoted: `leadscore train` exits 4), then serve, score a few
# leads over HTTP, post an outcome, stop; last, a few simulated weeks of the outcome loop
# (scripts/demo_loop.py: score new leads, post their closed deals, `leadscore report`, the HTML
# report in data/demo/report.html). Run by `make demo`; DEMO_LEADS sets the size (default 20000).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
LEADS="${DEMO_LEADS:-20000}"
SPEC=data/specs/demo_crm.yaml
export GX_ANALYTICS_ENABLED=False MLFLOW_DISABLE_TELEMETRY=true BENTOML_DO_NOT_TRACK=True

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. Generate a synthetic CRM of $LEADS leads (data/demo)"
$BIN/leadscore generate --out data/demo --leads "$LEADS" --seed 7

step "2. Validate it against its spec (Great Expectations)"
$BIN/leadscore validate --spec "$SPEC" --no-profile

step "3. Train, check the promotion gates, register and promote a champion"
$BIN/leadscore train --spec "$SPEC" --config configs/demo.yaml

step "4. A challenger trained on worse data: the same CRM with 70% of older outcomes recorded at random"
$BIN/leadscore generate --out data/demo_careless --leads "$LEADS" --seed 7 --careless-history 0.7
status=0
$BIN/leadscore train --spec "$SPEC" --config configs/demo.yaml --data data/demo_careless || status=$?
if [ "$status" -ne 4 ]; then  # 4: registered as challenger, not promoted (a gate failed), as expected
    echo "expected exit 4 (registered, not promoted), got $status" >&2
    exit 1
fi
echo "exit 4: registered as challenger, not promoted"

step "5. The registry: leadscore-demo-crm, its champion and challenger"
$BIN/leadscore models --spec "$SPEC"

step "6. Serve the champion, score demo leads over HTTP, post an outcome, stop"
$BIN/python scripts/demo_serve.py

step "7. The outcome loop: 4 weeks of new leads scored, their deals closed, did the stages keep their promise?"
$BIN/python scripts/demo_loop.py --weeks 4
