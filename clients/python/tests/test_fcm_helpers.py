"""The original's pure helpers, kept in ``mnemo_client.fcm`` so code (and its
tests) importing them keeps working: ``_time_ago_str``, ``_cosine_similarity``,
``_npc_can_access_lore``; and how the module finds the service."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mnemo_client import Client, NotConfigured, fcm
from mnemo_client.fcm import _cosine_similarity, _npc_can_access_lore, _time_ago_str


def ago(**delta):
    return datetime.now(timezone.utc) - timedelta(**delta)


@pytest.mark.parametrize(
    "delta, expected",
    [
        ({"minutes": 5}, "a few minutes ago"),
        ({"hours": 5}, "earlier today"),
        ({"hours": 30}, "yesterday"),
        ({"days": 4}, "a few days ago"),
        ({"days": 20}, "a couple of weeks ago"),
        ({"days": 400}, "over a year ago"),
    ],
)
def test_time_ago_wording(delta, expected):
    assert _time_ago_str(ago(**delta)) == expected


def test_time_ago_months_name_the_month_in_english():
    months = ["January", "February", "March", "April", "May", "June",
              "July", "August", "September", "October", "November", "December"]
    dt = ago(days=90)
    assert _time_ago_str(dt) == f"back in {months[dt.month - 1]}"


def test_time_ago_takes_a_naive_datetime_as_utc():
    naive = (datetime.now(timezone.utc) - timedelta(hours=30)).replace(tzinfo=None)
    assert _time_ago_str(naive) == "yesterday"


def test_cosine_similarity_identical_orthogonal_opposite():
    assert _cosine_similarity([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == pytest.approx(1.0, abs=1e-6)
    assert _cosine_similarity([1.0, 0.0], [0.0, 1.0]) == pytest.approx(0.0, abs=1e-6)
    assert _cosine_similarity([1.0, 0.0], [-1.0, 0.0]) == pytest.approx(-1.0, abs=1e-6)
    assert _cosine_similarity([0.0, 0.0], [1.0, 0.0]) == 0.0


@pytest.mark.parametrize(
    "entry, npc, allowed",
    [
        ([], [], True),
        (["millholm"], ["millholm", "mages_guild"], True),
        (["thieves_guild", "millholm"], ["thieves_guild"], False),
        (["thieves_guild", "millholm"], ["millholm", "thieves_guild"], True),
    ],
)
def test_lore_access_rule(entry, npc, allowed):
    assert _npc_can_access_lore(entry, npc) is allowed


def test_unconfigured_module_says_what_to_set(monkeypatch):
    monkeypatch.delenv("MNEMO_URL", raising=False)
    monkeypatch.delenv("MNEMO_TOKEN", raising=False)
    monkeypatch.setattr(fcm, "_client", None)

    with pytest.raises(NotConfigured, match="MNEMO_URL and MNEMO_TOKEN"):
        fcm.get_recent_memories(1)


def test_environment_configures_the_module(monkeypatch, server, new_id):
    monkeypatch.setenv("MNEMO_URL", server.url)
    monkeypatch.setenv("MNEMO_TOKEN", server.token)
    monkeypatch.setenv("MNEMO_TIMEOUT", "7.5")
    monkeypatch.setattr(fcm, "_client", None)

    assert fcm.get_recent_memories(new_id()) == []
    assert fcm._client._http.timeout == 7.5
    fcm._client.close()


def test_bad_timeout_variable_is_named(monkeypatch):
    monkeypatch.setenv("MNEMO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MNEMO_TOKEN", "t")
    monkeypatch.setenv("MNEMO_TIMEOUT", "soon")
    monkeypatch.setattr(fcm, "_client", None)

    with pytest.raises(NotConfigured, match="MNEMO_TIMEOUT"):
        fcm.get_recent_memories(1)


def test_configure_takes_a_ready_client(server, new_id):
    mine = Client(server.url, server.token)
    try:
        assert fcm.configure(client=mine) is mine
        assert fcm.get_recent_memories(new_id()) == []
    finally:
        mine.close()
