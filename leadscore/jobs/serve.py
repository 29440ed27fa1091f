"""`leadscore serve`: start the scoring service on a spec's champion model.

Which model: `--bundle PATH` if given; else the champion of the spec `--spec` names (a spec
file, spec name or model name; left out, the only one there is): its exported bundle
(models/bundles/<spec name>/champion), else the registry's champion, exported first. With none
of them the service refuses to start.
Everything the BentoML workers need is checked here first (the bundle loads, the database
takes the tables, the port is free), so a mistake is one clear message, not a crashing worker.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from features.errors import LeadscoreError
from leadscore.settings import Settings, get_settings

NO_CHAMPION = "no champion model: train one with `leadscore train --spec ...`"
DEFAULT_PORT = 3000


def resolve_bundle(settings: Settings, bundle: Path | None = None, echo=print,
                   spec: str | Path | None = None) -> Path:
    """The model bundle folder to serve (see the module docstring)."""
    from leadscore.jobs.models import registry_may_exist, resolve_model

    if bundle is not None:
        bundle = Path(bundle)
        if not (bundle / "bundle.json").is_file():
            raise LeadscoreError(f"--bundle {bundle}: not a model bundle (no bundle.json); pass a folder "
                                 "written by `leadscore export`, e.g. models/bundles/demo-crm/champion")
        return bundle
    name = resolve_model(settings, spec, with_bundles=True, none_message=NO_CHAMPION, needs_champion=True)
    from training.registry import spec_name_of

    champion = settings.champion_bundle_dir(spec_name_of(name))
    if (champion / "bundle.json").is_file():
        return champion
    if registry_may_exist(settings):
        from training.registry import Registry, export_bundle

        registry = Registry.from_settings(settings, name)
        if registry.champion() is not None:
            version, path = export_bundle(registry, None, settings.spec_bundles_dir(registry.spec_name))
            echo(f"exported the registry's champion of {name} (version {version}) to {path}")
            return path
    raise LeadscoreError(f"{name} has no champion model: train one with `leadscore train --spec ...`, "
                         "or promote a version with `leadscore promote`")


def check_port(host: str, port: int) -> None:
    if not 0 < port < 65536:
        raise LeadscoreError(f"--port {port} is not a TCP port (1-65535)")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise LeadscoreError(f"port {port} on {host} cannot be used ({exc.strerror}): another service "
                                 "may be running there; pass --port") from None


def service_environment(settings: Settings, bundle: Path, workers: int) -> dict[str, str]:
    """The LEADSCORE_* variables the workers read (serving.config), validated here."""
    from serving.config import ServiceConfig

    env = {**os.environ, "LEADSCORE_BUNDLE": str(Path(bundle).resolve()),
           "LEADSCORE_DATABASE_URL": settings.resolved_database_url, "LEADSCORE_WORKERS": str(workers)}
    return ServiceConfig.from_env(env).to_env()


def prepare(settings: Settings, bundle: Path | None, workers: int, echo=print, spec: str | Path | None = None):
    """Resolve and load the model, create the tables; returns (scorer, environment)."""
    from serving.scorer import LeadScorer
    from serving.store import create_tables, make_engine

    if workers < 1:
        raise LeadscoreError(f"--workers {workers}: at least one worker is needed")
    path = resolve_bundle(settings, bundle, echo, spec)
    scorer = LeadScorer.from_bundle_dir(path)
    env = service_environment(settings, path, workers)
    engine = make_engine(env["LEADSCORE_DATABASE_URL"])
    try:
        create_tables(engine)
    finally:
        engine.dispose()
    return scorer, env


LOOPBACK = "127.0.0.1"
"""Where the service listens unless told otherwise: this machine only."""


def is_loopback(host: str) -> bool:
    """Whether `host` is an address of this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run_serve(port: int = DEFAULT_PORT, workers: int = 1, bundle: Path | None = None,
              host: str = LOOPBACK, settings: Settings | None = None, echo=print,
              spec: str | Path | None = None) -> None:
    """Start the service in the foreground until it is stopped (Ctrl-C or SIGTERM)."""
    settings = settings or get_settings()
    scorer, env = prepare(settings, bundle, workers, echo, spec)
    check_port(host, port)
    os.environ.update(env)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")

    from serving.service import LeadScoringService

    LeadScoringService.config["workers"] = workers
    address = f"[{host}]" if ":" in host else host
    echo(f"serving {scorer.spec.name} model version {scorer.version} ({env['LEADSCORE_BUNDLE']}) on "
         f"http://{address}:{port} with {workers} worker{'s' if workers > 1 else ''}; pages for sales and marketing "
         f"at http://{address}:{port}/ui ; API docs at http://{address}:{port}/ ; Ctrl-C to stop")
    if not is_loopback(host):
        echo(f"warning: listening on {host}, reachable from other machines, and the service has no API keys yet: "
             "anyone who reaches it can score leads and record outcomes; serve on 127.0.0.1 (the default) behind a "
             "reverse proxy that authenticates, or on a network you trust")
    LeadScoringService.serve_http(port=port, host=host)
    echo("service stopped")
