"""`leadscore models`, `promote`, `rollback` and `export`, and which registered model a command
means.

Each dataset spec has its own registered model, `leadscore-<spec name>`. `--spec` names it by
the spec file, the spec name or the model name; left out, it is the only leadscore model there
is (for `serve` and `score`: the only one with a champion), and with several the error lists
them.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from rich.console import Console

from features.errors import LeadscoreError
from leadscore.settings import Settings, get_settings

NO_MODEL = "no registered leadscore model yet: train one with `leadscore train --spec SPEC`"


def registry_may_exist(settings: Settings) -> bool:
    """False when the tracking URI is a SQLite file that does not exist: then there is no
    registry to ask, and MLflow would only create an empty one."""
    uri = settings.resolved_tracking_uri
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).exists()
    return True


def known_models(settings: Settings, with_bundles: bool = False) -> list[str]:
    """Registered leadscore models and, with `with_bundles`, specs with an exported champion
    bundle (a machine that only serves may have no registry)."""
    from training.registry import MODEL_PREFIX, Registry

    names: set[str] = set()
    if registry_may_exist(settings):
        names |= set(Registry.from_settings(settings).model_names())
    if with_bundles and settings.bundles_dir.is_dir():
        names |= {MODEL_PREFIX + d.name for d in settings.bundles_dir.iterdir()
                  if (d / "champion" / "bundle.json").is_file()}
    return sorted(names)


def with_champion(settings: Settings, names: list[str]) -> list[str]:
    """Those of `names` that have a champion: an exported champion bundle or a registry alias."""
    from training.registry import Registry, spec_name_of

    registered = set(Registry.from_settings(settings).model_names()) if registry_may_exist(settings) else set()
    return [name for name in names
            if (settings.champion_bundle_dir(spec_name_of(name)) / "bundle.json").is_file()
            or (name in registered and Registry.from_settings(settings, name).champion() is not None)]


def resolve_model(settings: Settings, spec: str | Path | None, with_bundles: bool = False,
                  none_message: str = NO_MODEL, needs_champion: bool = False) -> str:
    """The registered model name `--spec` means (see the module docstring). With
    `needs_champion` (serving and scoring), `--spec` left out means the only model that has a
    champion: a spec whose every version failed a gate is no candidate to serve."""
    from training.registry import MODEL_PREFIX, model_name_for

    if spec is not None and str(spec):
        text = str(spec)
        path = Path(text)
        if path.is_file():
            from features.spec import load_spec

            return model_name_for(load_spec(path).name)
        if path.suffix.lower() in (".yaml", ".yml") or os.sep in text:
            raise LeadscoreError(f"--spec {text}: no such spec file; pass a dataset spec (YAML) or the name "
                                 "of a registered model (see `leadscore models`)")
        name = text if text.startswith(MODEL_PREFIX) else model_name_for(text)
        known = known_models(settings, with_bundles)
        if name not in known:
            raise LeadscoreError(f"--spec {text}: there is no registered model {name!r}; "
                                 + (f"the models are: {', '.join(known)}" if known else none_message))
        return name
    known = known_models(settings, with_bundles)
    if needs_champion and len(known) > 1:
        champions = with_champion(settings, known)
        if len(champions) == 1:
            return champions[0]
        if not champions:
            raise LeadscoreError(f"none of the {len(known)} registered models has a champion ({', '.join(known)}): "
                                 "train one with `leadscore train --spec ...`, or promote a version with "
                                 "`leadscore promote VERSION --spec ...`")
        known = champions
    if len(known) == 1:
        return known[0]
    if not known:
        raise LeadscoreError(none_message)
    which = "with a champion" if needs_champion else "registered"
    raise LeadscoreError(f"there are {len(known)} models {which}, one per dataset spec: "
                         f"{', '.join(known)}; say which with --spec (a spec file or one of these names)")


def current_user(by: str | None = None) -> str:
    """Who acts: --by, else the user name of the environment."""
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "unknown"


def _registry(settings: Settings, spec: str | Path | None):
    from training.registry import Registry

    return Registry.from_settings(settings, resolve_model(settings, spec))


def versions_facts(model_name: str, versions) -> dict:
    """A registered model's versions as `leadscore models` shows them (and, with `--format
    json`, writes them): holdout metrics, aliases, each champion decision in words, and the
    leads a version trained on when it took a sample (training.minimum_data; None: every lead)."""
    def metric(v, name: str) -> float | None:
        value = v.metrics.get(name)
        return None if value is None or value != value else round(float(value), 4)

    return {"model": model_name, "versions": [
        {"version": v.version, "created": v.created, "aliases": list(v.aliases), "model": v.tags.get("model", ""),
         "roc_auc": metric(v, "holdout_roc_auc"), "pr_auc": metric(v, "holdout_pr_auc"),
         "ece": metric(v, "holdout_ece"), "run_id": v.run_id, "promotion": v.tags.get("promotion") or None,
         "sampled_leads": int(v.tags["sampled_leads"]) if "sampled_leads" in v.tags else None,
         "leads_with_outcome": int(v.tags["leads_with_outcome"]) if "leads_with_outcome" in v.tags else None,
         "trained_on": v.tags.get("trained_on") or "one machine",
         "lightgbm_leads": v.tags.get("lightgbm_leads") or None}
        for v in versions]}


def format_versions(model_name: str, versions) -> list:
    """The versions as a table (one line each) and, below it, each version's champion decision
    in words (with the gates it failed) and, for a version trained on a sample, how many leads."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    facts = versions_facts(model_name, versions)
    table = Table(title=f"{facts['model']} versions", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for col in ("version", "created", "aliases", "model", "ROC-AUC", "PR-AUC", "ECE"):
        table.add_column(col, no_wrap=True, justify="right" if col in ("ROC-AUC", "PR-AUC", "ECE") else "left")
    decisions = []
    for v in facts["versions"]:
        table.add_row(str(v["version"]), v["created"], ", ".join(v["aliases"]), v["model"],
                      *(f"{v[name]:.4f}" if v[name] is not None else "nan" for name in ("roc_auc", "pr_auc", "ece")))
        if v["promotion"]:
            decisions.append(Text(f"v{v['version']}: {v['promotion']}"))
        if v["sampled_leads"] and v.get("lightgbm_leads") == "every":
            decisions.append(Text(f"v{v['version']}: LightGBM trained on every lead on Dask; the logistic model, "
                                  f"calibration and holdout on a random {v['sampled_leads']:,} of the "
                                  f"{v['leads_with_outcome']:,} leads with an outcome (max_leads)"))
        elif v["sampled_leads"]:
            decisions.append(Text(f"v{v['version']}: trained on a random {v['sampled_leads']:,} of the "
                                  f"{v['leads_with_outcome']:,} leads with an outcome (max_leads)"))
    return [table, *decisions]


def run_models(spec: str | Path | None = None, settings: Settings | None = None,
               console: Console | None = None) -> dict:
    """Print a spec's registered versions; return them as `versions_facts` (what `leadscore
    models --format json` writes)."""
    settings = settings or get_settings()
    console = console or Console()
    registry = _registry(settings, spec)
    versions = registry.versions()
    if not versions:
        console.print(f"{registry.model_name}: no registered versions yet: train one with `leadscore train --spec ...`")
        return versions_facts(registry.model_name, [])
    for part in format_versions(registry.model_name, versions):
        console.print(part)
    return versions_facts(registry.model_name, versions)


def run_promote(version: int, spec: str | Path | None = None, by: str | None = None,
                settings: Settings | None = None) -> str:
    from training.registry import export_bundle

    settings = settings or get_settings()
    registry = _registry(settings, spec)
    who = current_user(by)
    registry.set_champion(version, f"promoted by hand (leadscore promote {version}, by {who})",
                          {"promoted_by": who, "promotion_forced": "true"})
    _, path = export_bundle(registry, version, settings.spec_bundles_dir(registry.spec_name))
    return f"{registry.model_name}: version {version} is now the champion (by {who}); bundle exported to {path}"


def run_rollback(spec: str | Path | None = None, settings: Settings | None = None) -> str:
    from training.registry import export_bundle

    settings = settings or get_settings()
    registry = _registry(settings, spec)
    old, new = registry.rollback()
    _, path = export_bundle(registry, new, settings.spec_bundles_dir(registry.spec_name))
    return (f"{registry.model_name}: rolled back: champion was version {old}, is now version {new}; "
            f"bundle exported to {path}")


def run_export(version: int | None = None, spec: str | Path | None = None, settings: Settings | None = None) -> str:
    from training.registry import export_bundle

    settings = settings or get_settings()
    registry = _registry(settings, spec)
    number, path = export_bundle(registry, version, settings.spec_bundles_dir(registry.spec_name))
    return f"{registry.model_name}: exported version {number} to {path}"
