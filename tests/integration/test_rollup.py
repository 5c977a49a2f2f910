"""The district roll-up over one broker: two municipal instances (own vhosts; their events published as their
outbox relays publish them) and the district's analytics in a third vhost (own database), with `kim rollup`'s
shovels between. The roll-up equals the sum of the towns, and nothing is counted twice after a shovel restart
(events are archived once by event_id)."""
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import create_engine

from services.analytics import projections, rollup, synthetic
from services.cli import main
from services.shared.migrations import upgrade
from services.shared.settings import Settings
from tests.conftest import LUEDENSCHEID, MEINERZHAGEN, poll
from tests.integration.test_analytics import publish, snapshot

pytestmark = pytest.mark.integration


@pytest.fixture
def town_vhosts(rabbit_manager, rabbit_config):
    names = [f"{rabbit_config['vhost']}-town{i}" for i in (1, 2)]
    for name in names:
        rabbit_manager.create_vhost(name)
        rabbit_manager.set_vhost_permissions(name, rabbit_config["username"], ".*", ".*", ".*")
    yield names
    for name in names:
        rabbit_manager.delete_vhost(name)


def reference(tmp_path, name, events) -> dict:
    """What one instance's own analytics would count (a database of its own, no broker)."""
    url = f"sqlite:///{tmp_path / f'{name}.db'}"
    upgrade("analytics", url)
    engine = create_engine(url)
    with engine.begin() as conn:
        for envelope in events:
            projections.ingest(conn, envelope)
    engine.dispose()
    return snapshot(url)


def total(*snapshots) -> dict:
    out = Counter()
    for snap in snapshots:
        out.update(snap)
    return {key: n for key, n in out.items() if n}


def running(settings, vhost):
    shovels = rollup.status(settings, vhost)
    return len(shovels) == len(rollup.PRODUCERS) and all(s["state"] == "running" for s in shovels)


def test_district_rollup_equals_the_sum_without_double_counting(start_stack, db_urls, rabbit_config, town_vhosts,
                                                                tmp_path, monkeypatch):
    district = start_stack(db_urls, services=("analytics",))
    district_vhost = rabbit_config["vhost"]
    monkeypatch.setenv("AMQP_URI", rabbit_config["AMQP_URI"])
    settings = Settings.load()
    for town in town_vhosts:  # what an operator runs: kim rollup add --from-vhost TOWN --to-vhost DISTRICT
        assert main(["rollup", "add", "--from-vhost", town, "--to-vhost", district_vhost]) == 0
    for town in town_vhosts:
        poll(lambda: running(settings, town), timeout=30)

    town1 = synthetic.stream(60, [LUEDENSCHEID], seed=31)
    town2 = synthetic.stream(60, [MEINERZHAGEN], seed=32)
    publish(rollup.vhost_uri(settings.amqp_uri, town_vhosts[0]), town1)
    publish(rollup.vhost_uri(settings.amqp_uri, town_vhosts[1]), town2)
    count = len(town1) + len(town2)
    poll(lambda: district.count("analytics", "analytics_events") == count, timeout=60)
    expected = total(reference(tmp_path, "town1", town1), reference(tmp_path, "town2", town2))
    poll(lambda: snapshot(district.urls["analytics"]) == expected, timeout=20)
    assert {key[1] for key in expected} == {LUEDENSCHEID, MEINERZHAGEN}

    # a shovel restart, then events delivered again (as after a restart before the ack) and new ones
    rollup.restart(settings, town_vhosts[0], district_vhost)
    poll(lambda: running(settings, town_vhosts[0]), timeout=30)
    fresh = synthetic.stream(10, [LUEDENSCHEID], seed=33, first_day=date(2026, 8, 1))[3:]  # no second managers
    publish(rollup.vhost_uri(settings.amqp_uri, town_vhosts[0]), town1[:80] + fresh + town1[80:120])
    poll(lambda: district.count("analytics", "analytics_events") == count + len(fresh), timeout=60)
    expected = total(expected, reference(tmp_path, "fresh", fresh))
    poll(lambda: snapshot(district.urls["analytics"]) == expected, timeout=20)

    for town in town_vhosts:
        assert main(["rollup", "remove", "--from-vhost", town, "--to-vhost", district_vhost]) == 0
    assert rollup.status(settings, town_vhosts[0]) == []


def test_shovel_definitions_keep_routing_keys_and_ack_on_confirm():
    definitions = rollup.shovel_definitions("amqp://u:p@town/%2Ft", "amqp://u:p@district/%2Fd", "t", "d")
    assert [d["value"]["dest-exchange"] for d in definitions] == ["intake.events", "casework.events",
                                                                  "referrals.events"]
    for d in definitions:
        assert d["value"]["ack-mode"] == "on-confirm" and "dest-exchange-key" not in d["value"]
        assert d["value"]["src-queue"].startswith("kim.rollup.d.") and d["component"] == "shovel"
