"""What `leadscore` loads before it works: `--help` imports none of the heavy machinery, and
listing the models of the embedded store does not import MLflow (issue 17; the times are
measured by benchmarks/startup.py, not here)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leadscore.cli import app

HEAVY = ("pandas", "numpy", "mlflow", "bentoml", "sqlalchemy", "great_expectations", "lightgbm", "numba", "sklearn",
         "scipy", "pyarrow", "dask")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from startup import COMMANDS  # noqa: E402

PROBE = """
import json, sys
from leadscore.cli import app
try:
    app(sys.argv[1:], prog_name="leadscore")
except SystemExit:
    pass
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def modules_after(*args: str, env: dict | None = None) -> set[str]:
    """The top-level modules a fresh `leadscore ARGS` process has imported when it ends."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=120)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def every_command() -> list[str]:
    import typer

    group = typer.main.get_command(app)
    names = []
    for name, command in group.commands.items():
        sub = getattr(command, "commands", None)
        names += [f"{name} {s}" for s in sub] if sub else [name]
    return sorted(names)


def test_the_benchmark_times_every_command():
    assert sorted(COMMANDS) == every_command()


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["serve", "--help"], ["models", "--help"],
                                  ["keys", "list", "--help"], ["outcomes", "import", "--help"]])
def test_help_imports_no_heavy_module(args):
    assert not modules_after(*args) & {*HEAVY, "pydantic"}  # pydantic: see leadscore.cli.CommandGroup


def test_listing_the_embedded_registry_does_not_import_mlflow(tmp_path, empty_mlflow_db):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(empty_mlflow_db, models / "mlflow.db")
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{models / 'mlflow.db'}")
    client.create_registered_model("leadscore-demo-crm")
    env = {"LEADSCORE_MODELS_DIR": str(models), "LEADSCORE_DATA_DIR": str(tmp_path / "data"),
           "MLFLOW_TRACKING_URI": ""}
    loaded = modules_after("models", env=env)
    assert "leadscore" in loaded and "mlflow" not in loaded
    assert not loaded & {"pandas", "sqlalchemy", "lightgbm", "sklearn"}
