"""`leadscore build`: a Bento of the scoring service with a spec's champion, as BentoML users
expect one.

Which model: as `leadscore serve` chooses it (`--bundle`, else the champion of `--spec`:
leadscore.jobs.serve.resolve_bundle). The bundle is saved in BentoML's model store
(`bentoml.models.create`) as `leadscore-<spec>` (serving.config.bento_model_name), labelled
with the spec's name and the registered version; the same bundle saved before is used again,
not saved twice. Then `bentoml build` runs on the project's bentofile.yaml with the Bento
argument `model=<that model's tag>`, which the Bento records: `bentoml serve <bento>` serves
exactly that model (serving.config.bundle_source). Nothing is downloaded: the Bento's Python
requirements are requirements.lock as it is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from features.errors import LeadscoreError
from leadscore.settings import Settings, get_settings

PROJECT_DIR = Path(__file__).resolve().parents[2]
"""The project's source tree: the Bento's build context, holding bentofile.yaml."""
BENTOFILE = "bentofile.yaml"


def bundle_digest(folder: Path) -> str:
    """SHA-256 of a bundle's files (names and bytes): the same bundle saved twice is one model."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def save_champion(bundle: Path, spec_name: str, version: str, echo=print) -> str:
    """The tag of the BentoML model holding `bundle` (saved now, or found saved before)."""
    import bentoml
    from bentoml.exceptions import NotFound

    from serving.config import BENTO_BUNDLE, bento_model_name

    name = bento_model_name(spec_name)
    digest = bundle_digest(bundle)
    try:
        saved = bentoml.models.list(name)
    except NotFound:
        saved = []
    for model in saved:
        if model.info.metadata.get("bundle_sha256") == digest:
            echo(f"the champion of {spec_name} (version {version}) is saved in BentoML's model store already: "
                 f"{model.tag}")
            return str(model.tag)
    labels = {"spec": spec_name, "registered_model": f"leadscore-{spec_name}", "model_version": str(version)}
    with bentoml.models.create(name, labels=labels, metadata={"bundle_sha256": digest}) as model:
        shutil.copytree(bundle, Path(model.path) / BENTO_BUNDLE)
    echo(f"saved the champion of {spec_name} (version {version}) in BentoML's model store as {model.tag}")
    return str(model.tag)


def build_bento(model_tag: str, project_dir: Path = PROJECT_DIR) -> str:
    """Run `bentoml build` on the project with the Bento argument model=`model_tag`; the
    Bento's tag."""
    if not (project_dir / BENTOFILE).is_file():
        raise LeadscoreError(f"{project_dir / BENTOFILE} is missing: `leadscore build` runs in the project's source "
                             "tree (an editable install, `pip install -e .`)")
    env = {k: v for k, v in os.environ.items() if k != "LEADSCORE_BUNDLE"}
    env.setdefault("BENTOML_DO_NOT_TRACK", "True")
    command = [sys.executable, "-m", "bentoml", "build", str(project_dir), "--bentofile",
               str(project_dir / BENTOFILE), "--arg", f"model={model_tag}", "--output", "tag"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=project_dir)
    said = (done.stdout + done.stderr).strip()
    tag = next((line.split("__tag__:", 1)[1].strip() for line in done.stdout.splitlines() if "__tag__:" in line), None)
    if done.returncode != 0 or not tag:
        raise LeadscoreError(f"`bentoml build` failed (exit code {done.returncode}):\n{said[-4000:]}")
    return tag


def run_build(spec: str | Path | None = None, bundle: Path | None = None, settings: Settings | None = None,
              echo=print) -> str:
    """Save the champion in BentoML's model store and build the Bento; its tag."""
    from leadscore.jobs.serve import resolve_bundle
    from serving.segments import load_scorer

    settings = settings or get_settings()
    path = resolve_bundle(settings, bundle, echo, spec)
    scorer = load_scorer(path)  # it loads, as the service will load it
    model_tag = save_champion(path, scorer.spec.name, scorer.version, echo)
    tag = build_bento(model_tag)
    echo(f"built the Bento {tag} (the scoring service with {model_tag}, model version {scorer.version} of "
         f"{scorer.spec.name})")
    echo(f"serve it:        LEADSCORE_DATABASE_URL=sqlite:///$PWD/data/leadscore.db bentoml serve {tag} --host 127.0.0.1 --port 3000")
    echo(f"containerize it: bentoml containerize {tag}")
    return tag
