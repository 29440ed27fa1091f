"""Opening the database: the engine, and the schema brought up to date on start by the
Alembic migrations in `serving/store/migrations` (a new database gets every table; one an
earlier version wrote gets what it lacks, its rows kept)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, DBAPIError, IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from features.errors import LeadscoreError
from serving.store.inserts import DATABASES

MIGRATIONS = Path(__file__).parent / "migrations"

logger = logging.getLogger("leadscore.store")

CONNECT_TIMEOUT_SECONDS = 10
"""PostgreSQL: how long opening a connection may take before it fails (the URL's
connect_timeout, when it has one, wins): a request to an unreachable server fails in this
time rather than the operating system's minutes."""
RETRY_SECONDS = 5
"""How long a client is asked to wait (Retry-After) before sending again what the database
could not take (`unavailable`)."""

URL_HELP = ("set LEADSCORE_DATABASE_URL to a SQLAlchemy URL such as "
            "sqlite:////abs/path/leadscore.db or postgresql+psycopg://...")


class StoreError(LeadscoreError):
    """The database cannot be used (bad URL, unreachable, not writable)."""


def make_engine(url: str) -> Engine:
    """An engine for `url` (SQLite or PostgreSQL); SQLite gets WAL, a busy timeout and NORMAL sync."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - exercised via connect
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()
        else:
            args = {} if "connect_timeout" in url else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
            engine = create_engine(url, pool_pre_ping=True, connect_args=args)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StoreError(f"database URL {safe_url(url)!r} cannot be used ({exc}); {URL_HELP}") from None
    if engine.dialect.name not in DATABASES:
        engine.dispose()
        raise StoreError(f"database URL {safe_url(url)!r}: the score log and outcomes are kept in SQLite "
                         f"or PostgreSQL, not {engine.dialect.name}; {URL_HELP}")
    return engine


def create_tables(engine: Engine, attempts: int = 5) -> None:
    """Bring the database's schema to the code's (serving.store.tables) by running the
    migrations it has not had. Several workers may start at once: a race on creation is
    retried. StoreError when the database cannot be created or upgraded."""
    if engine.url.get_backend_name() == "sqlite" and engine.url.database:
        folder = Path(engine.url.database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder {folder} for the database ({exc.strerror}); "
                             "set LEADSCORE_DATABASE_URL or LEADSCORE_DATA_DIR to a writable place") from None
    for attempt in range(attempts):
        try:
            _check_json(engine)
            migrate(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            racing = any(words in str(exc) for words in ("already exists", "duplicate column", "UniqueViolation",
                                                          "UNIQUE constraint failed", "database is locked"))
            if racing and attempt < attempts - 1:
                time.sleep(0.05 * (attempt + 1))
                continue
            raise StoreError(f"could not create the tables in {safe_url(str(engine.url))!r}: "
                             f"{exc.orig if hasattr(exc, 'orig') else exc}") from None


def _check_json(engine: Engine) -> None:
    """Rows go in as JSON (serving.store.inserts): a SQLite built without JSON cannot take them."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        try:
            works = conn.exec_driver_sql("SELECT json_extract('[7]', '$[0]')").scalar() == 7
        except OperationalError:
            works = False
    if not works:
        raise StoreError("this SQLite has no JSON functions (SQLite 3.38 or later has them built in); "
                         "use a newer Python or SQLite, or PostgreSQL through LEADSCORE_DATABASE_URL")


def migrate(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations up to `revision` on `engine` (nothing when it is there)."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current == script.get_current_head() and revision == "head":
        return
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    logger.info("store: schema upgraded from %s to %s", current or "nothing", script.get_current_head())


DATA_LIMIT_STATES = ("54",)
"""PostgreSQL SQLSTATE classes that psycopg raises as OperationalError but that are the data's
fault, not the server's state (54: program limit exceeded, e.g. an index row too large): sending
the same rows again would fail again."""


def unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot serve now, not that the request is wrong: it
    cannot be reached (refused, timed out, connection lost), is shutting down or starting, or
    (SQLite) is locked past its timeout; the DB-API's OperationalError, or a lost connection; or a
    DB-API DatabaseError of no finer kind ("file is not a database", a damaged file): the
    database must be repaired, and a request gets 503, not 500."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if type(exc) is DatabaseError:  # no finer kind: the file is not a database or is damaged (SQLite)
        return True
    if not isinstance(exc, OperationalError):
        return False
    state = getattr(getattr(exc, "orig", None), "sqlstate", None) or ""
    return not state.startswith(DATA_LIMIT_STATES)


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparseable URL is shown as given
        return url
