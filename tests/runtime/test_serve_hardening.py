"""``latte-vt serve`` hardening: malformed bodies get 422 (never 500), entity ids are bounded, live times take
the batch forms (ISO 8601 or epoch seconds), and a bearer token guards every endpoint but health."""

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from latte_vt.cli import main
from latte_vt.runtime.serve import ScoringService, create_app
from latte_vt.runtime.streaming import MAX_ENTITY_CHARS


def as_json(event: dict) -> dict:
    return {**event, "time": event["time"].isoformat()}


@pytest.fixture
def client(transaction_bundle, tmp_path):
    with TestClient(create_app(ScoringService(transaction_bundle, tmp_path / "s.sqlite"))) as client:
        yield client


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nests more than 4 levels"),
        (b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "nests more than 4 levels"),
        (b'{"entity": "\xff\xfe", "amount": 1}', "not UTF-8"),
        (b'{"entity": "a", "time": "2026-01-01", "amount": NaN}', "holds NaN"),
        (b'{"entity": "a", "time": "2026-01-01", "amount": -Infinity}', "holds -Infinity"),
        (b'{"entity": "a", "time": "2026-01-01", "amount": 1e999}', "out of range"),
        (b'{"amount": 1' + b"0" * 5000 + b"}", "not valid JSON"),
        (b'"an event"', "got a JSON string"),
        (b"null", "got a JSON null"),
        (b"[1, 2]", "item 0 of the list is a JSON number"),
        (b'[{"entity": "a"}, [{"entity": "b"}]]', "item 1 of the list is a JSON array"),
    ],
)
def test_malformed_bodies_get_422_with_a_one_line_reason(client, raw, message):
    reply = client.post("/score", content=raw, headers={"content-type": "application/json"})
    assert reply.status_code == 422
    detail = reply.json()["detail"]
    assert message in detail and "\n" not in detail


def test_brackets_inside_strings_do_not_count_as_nesting(client, live_events):
    event = {**as_json(live_events[0]), "note": '[[[[[{{{{{ \\" [[[['}
    reply = client.post("/score", json=event)
    assert reply.status_code == 200 and reply.json()["scored"] == 1


def test_an_overlong_entity_id_is_refused_and_not_stored(client, live_events):
    first = as_json(live_events[0])
    longest = {**first, "entity": "e" * MAX_ENTITY_CHARS}
    too_long = {**first, "entity": "e" * (MAX_ENTITY_CHARS + 1)}
    not_an_id = {**first, "entity": {"id": 1}}
    body = client.post("/score", json=[longest, too_long, not_an_id]).json()
    assert [(r["status"], r.get("kind")) for r in body["results"]] == [
        ("scored", None),
        ("rejected", "bad_value"),
        ("rejected", "bad_value"),
    ]
    assert f"longer than {MAX_ENTITY_CHARS}" in body["results"][1]["reason"]
    assert client.get("/health").json()["events_applied"] == 1


def test_epoch_seconds_score_the_same_as_iso_times(transaction_bundle, live_events, tmp_path):
    events = [e for e in live_events if e["entity"] == live_events[0]["entity"]][:3]
    forms = {
        "iso": [as_json(e) for e in events],
        "epoch": [{**e, "time": e["time"].timestamp()} for e in events],  # floats
        "epoch_int": [{**e, "time": int(e["time"].timestamp())} for e in events],
    }
    assert all(e["time"].microsecond == 0 for e in events)  # so whole seconds are exact
    scores = {}
    for name, body in forms.items():
        with TestClient(create_app(ScoringService(transaction_bundle, tmp_path / f"{name}.sqlite"))) as client:
            reply = client.post("/score", json=body).json()
            assert reply["scored"] == 3, reply
            scores[name] = [r["score"] for r in reply["results"]]
    assert scores["iso"] == scores["epoch"] == scores["epoch_int"]


def test_epoch_and_iso_forms_of_one_instant_agree(client, live_events):
    first = as_json(live_events[0])
    instant = datetime(2026, 1, 1, tzinfo=UTC)
    assert instant.timestamp() == 1767225600
    body = [{**first, "entity": "x", "time": 1767225600}, {**first, "entity": "y", "time": "2026-01-01T00:00:00Z"}]
    results = client.post("/score", json=body).json()["results"]
    assert results[0]["score"] == results[1]["score"]
    bad = client.post("/score", json=[{**first, "time": True}, {**first, "time": 1e300}]).json()["results"]
    assert [r["kind"] for r in bad] == ["bad_value", "bad_value"]
    assert "epoch seconds" in bad[0]["reason"]


def test_a_token_guards_every_endpoint_but_health(transaction_bundle, live_events, tmp_path):
    service = ScoringService(transaction_bundle, tmp_path / "s.sqlite")
    with TestClient(create_app(service, token="s3cret")) as client:
        event = as_json(live_events[0])
        assert client.get("/health").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            assert client.post("/score", json=event, headers=headers).status_code == 401
            assert client.get("/metrics", headers=headers).status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        assert client.post("/score", json=event, headers=good).json()["scored"] == 1
        assert client.get("/metrics", headers=good).status_code == 200
        assert client.get("/health").json()["events_applied"] == 1


def test_without_a_token_no_header_is_needed(client, live_events):
    assert client.post("/score", json=as_json(live_events[0])).status_code == 200


def test_serve_refuses_a_public_host_without_a_token(transaction_bundle, tmp_path, capsys, monkeypatch):
    import latte_vt.runtime.serve as runtime_serve

    monkeypatch.setattr(runtime_serve, "serve", lambda *a: pytest.fail("a server was started"))
    base = ["serve", "--bundle", str(transaction_bundle), "--state", str(tmp_path / "s.sqlite")]
    assert main([*base, "--host", "0.0.0.0"]) == 2
    assert "--host 0.0.0.0 is not a loopback address" in capsys.readouterr().err
    assert not (tmp_path / "s.sqlite").exists()

    empty = tmp_path / "empty.token"
    empty.write_text(" \n")
    assert main([*base, "--host", "0.0.0.0", "--token-file", str(empty)]) == 2
    assert "the file is empty" in capsys.readouterr().err
    assert main([*base, "--token-file", str(tmp_path / "missing.token")]) == 2
    assert "cannot read the token" in capsys.readouterr().err


def test_serve_passes_the_token_and_allows_loopback(transaction_bundle, tmp_path, monkeypatch):
    import latte_vt.runtime.serve as runtime_serve

    calls = []
    monkeypatch.setattr(runtime_serve, "serve", lambda service, host, port, token: calls.append((host, token)))
    token_file = tmp_path / "t.token"
    token_file.write_text("abc\n")
    base = ["serve", "--bundle", str(transaction_bundle)]
    assert main([*base, "--state", str(tmp_path / "a.sqlite"), "--host", "::1"]) == 0
    assert (
        main([*base, "--state", str(tmp_path / "b.sqlite"), "--host", "0.0.0.0", "--token-file", str(token_file)]) == 0
    )
    assert calls == [("::1", None), ("0.0.0.0", "abc")]


@pytest.mark.parametrize(
    ("flag", "value"), [("--max-batch", "0"), ("--batch-wait-ms", "-1"), ("--checkpoint-every", "0")]
)
def test_serve_refuses_group_commit_settings_out_of_range(
    transaction_bundle, tmp_path, capsys, monkeypatch, flag, value
):
    import latte_vt.runtime.serve as runtime_serve

    monkeypatch.setattr(runtime_serve, "serve", lambda *a: pytest.fail("a server was started"))
    base = ["serve", "--bundle", str(transaction_bundle), "--state", str(tmp_path / "s.sqlite")]
    assert main([*base, flag, value]) == 2  # not silently replaced by the default
    assert "need --checkpoint-every >= 1, --max-batch >= 1 and --batch-wait-ms >= 0" in capsys.readouterr().err
    assert not (tmp_path / "s.sqlite").exists()
