"""The service while its PostgreSQL database is down: /outcomes answers 503 with Retry-After
(never 500) and records nothing, the service stays alive, scoring goes on (without trends: the
previous scores cannot be read), and once the database is back the outcomes are taken and the
scores served meanwhile are in the log."""

from __future__ import annotations

import time

import pytest

from tests.serving.conftest import api_leads, running_service

AS_OF = "2026-06-01T00:00:00Z"


def _outcome(lead_id: str) -> dict:
    return {"lead_id": lead_id, "outcome": "won", "closed_at": "2026-05-20T10:00:00Z"}


def _wait_for_scores(store, count: int) -> int:
    """The scores in the log once there are `count` (the writer is a thread), or after 15 s."""
    deadline = time.monotonic() + 15
    while (found := store.count_scores()) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


@pytest.mark.slow
def test_outcomes_answer_503_while_the_database_is_down_and_scoring_goes_on(bundle_dir, demo_crm_dir, postgres,
                                                                             tmp_path, monkeypatch):
    from serving.store import ScoreStore
    from serving.store.database import RETRY_SECONDS

    monkeypatch.chdir(tmp_path)  # where scores wait while the database is down (serving.store.journal_folder)
    url = postgres.new_database()
    leads = api_leads(demo_crm_dir, AS_OF, 4)
    before, during = leads[:2], leads[2:]
    with running_service(bundle_dir, url) as client:
        check = ScoreStore(url, background=False)
        try:
            first = client.post("/score", json={"leads": before, "as_of": AS_OF})
            assert first.status_code == 200
            assert [answer["trend"]["direction"] for answer in first.json()["scores"]] == ["new", "new"]
            assert _wait_for_scores(check, 2) == 2
            postgres.stop_server()
            try:
                down = client.post("/outcomes", json={"outcomes": [_outcome(before[0]["lead_id"])]})
                assert down.status_code == 503, down.text
                assert down.headers["Retry-After"] == str(RETRY_SECONDS)
                assert "database cannot be reached" in down.json()["error"]
                assert client.get("/livez").status_code == 200
                for page in ("/ui/leads", f"/ui/lead?id={before[0]['lead_id']}"):
                    shown = client.get(page)
                    assert shown.status_code == 503 and "database" in shown.text, page
                    assert shown.headers["Retry-After"] == str(RETRY_SECONDS)
                scored = client.post("/score", json={"leads": during, "as_of": AS_OF})
                assert scored.status_code == 200, scored.text
                # the previous scores cannot be read: the scores are served without their trend
                assert [answer["trend"] for answer in scored.json()["scores"]] == [None, None]
            finally:
                postgres.start_server()
            assert _wait_for_scores(check, 4) == 4  # those scored while it was down, once it is back
            back = client.post("/outcomes", json={"outcomes": [_outcome(before[0]["lead_id"]),
                                                               _outcome(during[0]["lead_id"])]})
            assert back.status_code == 200, back.text
            assert back.json()["recorded"] == 2
        finally:
            check.close()



def test_a_damaged_sqlite_file_counts_as_a_database_that_cannot_serve(tmp_path):
    """"file is not a database" (a score log overwritten by a stray `dd`): requests get 503 and
    scores go to the journal, as while the database is down, not a 500."""
    import sqlalchemy as sa

    from serving.store.database import unavailable

    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a database " * 2000)
    engine = sa.create_engine(f"sqlite:///{damaged}")
    with pytest.raises(sa.exc.DatabaseError) as failure, engine.connect() as connection:
        connection.execute(sa.text("select * from score_log"))
    assert unavailable(failure.value)
    with pytest.raises(sa.exc.IntegrityError) as refused, engine.connect() as connection:
        raise sa.exc.IntegrityError("insert", {}, Exception("UNIQUE constraint failed"))
    assert not unavailable(refused.value)  # a refused row is the request's fault: not "down"
    engine.dispose()
