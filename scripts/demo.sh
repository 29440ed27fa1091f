#!/usr/bin/env bash
# The whole path on the synthetic demo CRM: generate, validate, train (champion), train on worse
# data (not promoted), export, then serve, score a few leads over HTTP, post an outcome, stop.
# Run by `make demo`; DEMO_LEADS sets the size (default 20000).
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

step "3. Train, register and promote a champion"
$BIN/leadscore train --spec "$SPEC" --config configs/demo.yaml

step "4. A challenger trained on worse data: the same CRM with 70% of older outcomes recorded at random"
$BIN/leadscore generate --out data/demo_careless --leads "$LEADS" --seed 7 --careless-history 0.7
$BIN/leadscore train --spec "$SPEC" --config configs/demo.yaml --data data/demo_careless

step "5. The registry"
$BIN/leadscore models

step "6. Serve the champion, score demo leads over HTTP, post an outcome, stop"
$BIN/python scripts/demo_serve.py
