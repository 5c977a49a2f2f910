"""PostgreSQL: a registration that needs no decision is one statement in autocommit (domain.
register_person_at_once): the person, its consents, its event's outbox row and the idempotency key commit
together or not at all; whenever a name is to be scored or a key was used before, it writes nothing and the
unit of work's path decides."""
import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError

from services.intake import domain
from services.intake.models import Consent, Person, metadata
from services.intake.schemas import RegisterPersonSchema
from services.shared.auth import caller_from_claims
from services.shared.db import Transactions, make_autocommit_engine, make_engine
from tests.conftest import LUEDENSCHEID, person_body, poll

pytestmark = pytest.mark.integration

CALLER = caller_from_claims({"sub": "io-1", "role": "intake_officer", "municipalities": [LUEDENSCHEID]})
TABLES = ("persons", "consents", "outbox", "idempotency_keys")
TWO_CONSENTS = [{"purpose": "case_management", "granted_at": "2026-10-05T09:30:00Z", "basis": "signed_form"},
                {"purpose": "referral_sharing", "granted_at": "2026-10-05T09:31:00Z",
                 "basis": "oral_with_interpreter"}]


@pytest.fixture
def transactions(db_urls):
    url = db_urls["intake"]
    engine, autocommit = make_engine(url), make_autocommit_engine(url)
    yield Transactions(engine, "intake", metadata, autocommit_engine=autocommit)
    engine.dispose()
    autocommit.dispose()


def born_in(year, **overrides):
    """A registration that knows the year of birth only."""
    body = person_body(**overrides)
    del body["birth_date"]
    return {**body, "birth_year": year}


def at_once(transactions, body, key=None):
    """(written, the person or None): registers in one statement, as the service does."""
    with transactions.at_once(request_id="req-1", idempotency_key=key) as statement:
        person = domain.register_at_once(statement, RegisterPersonSchema().load(body), CALLER, (LUEDENSCHEID,),
                                         body, "register_person")
    return person is not None, person


def counts(transactions):
    with transactions() as uow:
        return {t: uow.connection.scalar(text(f"SELECT count(*) FROM {t}")) for t in TABLES}


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_a_registration_nobody_shares_a_birth_date_with_is_written_in_one_statement(transactions):
    statements = []
    event.listen(transactions.autocommit_engine, "before_cursor_execute",
                 lambda conn, cursor, sql, *rest: statements.append(sql))

    written, person = at_once(transactions, person_body(consents=TWO_CONSENTS), key="key-1")
    assert at_once(transactions, person_body(birth_date="1990-05-06", consents=TWO_CONSENTS), key="key-2")[0]

    assert written is True
    # prepared once on the connection, then executed: one round trip per registration
    assert [sql.split()[0] for sql in statements] == ["PREPARE", "EXECUTE", "EXECUTE"]
    assert statements[0].split()[3] == "WITH" and statements[1].split()[1] == statements[0].split()[1]
    assert counts(transactions) == {"persons": 2, "consents": 4, "outbox": 2, "idempotency_keys": 2}
    with transactions() as uow:
        stored = uow.session.get(Person, person["id"])
        assert (stored.given_name, stored.birth_date.isoformat(), stored.languages, stored.created_by) == \
            ("Olena", "1988-04-17", ["uk", "ru"], "io-1")
        assert sorted((c.purpose, c.basis) for c in uow.session.scalars(
            select(Consent).where(Consent.person_id == person["id"]))) == \
            [("case_management", "signed_form"), ("referral_sharing", "oral_with_interpreter")]
        row = uow.connection.execute(select(uow.outbox).order_by(uow.outbox.c.id)).first()
        assert (row.exchange, row.routing_key, row.sent_at, row.attempts) == \
            ("intake.events", "person_registered", None, 0)
        assert row.body["payload"]["person_id"] == person["id"] and row.body["request_id"] == "req-1"
        assert "given_name" not in row.body["payload"]  # an event carries no names
        keys = metadata.tables["idempotency_keys"]
        key = uow.connection.execute(select(keys).where(keys.c.key == "key-1")).one()
        assert (key.scope, key.key, key.resource_id) == ("register_person:io-1", "key-1", person["id"])


@pytest.mark.parametrize("db_backend", ["postgresql"])
@pytest.mark.parametrize("earlier", [person_body(given_name="Somebody"), born_in(1988, given_name="Somebody")],
                         ids=["same day", "same year, day unknown"])
def test_someone_born_that_day_or_year_leaves_the_decision_to_the_unit_of_work(transactions, earlier):
    at_once(transactions, {**earlier, "confirmed_new": True})
    before = counts(transactions)

    written, _ = at_once(transactions, person_body(), key="key-2")

    assert written is False
    assert counts(transactions) == before  # not even the key is claimed: the unit of work claims it


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_a_year_only_registration_defers_to_anyone_of_that_year(transactions):
    at_once(transactions, person_body(birth_date="1988-12-31", given_name="Somebody"))
    assert at_once(transactions, born_in(1988))[0] is False
    assert at_once(transactions, born_in(1987))[0] is True


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_confirmed_new_is_written_beside_a_namesake(transactions):
    at_once(transactions, person_body())
    written, _ = at_once(transactions, person_body(confirmed_new=True))
    assert written is True
    assert counts(transactions)["persons"] == 2


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_a_key_used_before_writes_nothing(transactions):
    at_once(transactions, person_body(), key="key-3")
    before = counts(transactions)
    written, _ = at_once(transactions, person_body(birth_date="1990-01-01"), key="key-3")
    assert written is False
    assert counts(transactions) == before


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_a_failing_part_leaves_nothing_half_written(transactions, monkeypatch):
    first, _ = at_once(transactions, person_body())
    with transactions() as uow:
        event_id = uow.connection.scalar(select(uow.outbox.c.event_id))
    build = domain.OneStatement.emit

    def colliding_event(self, *args, **kwargs):
        return {**build(self, *args, **kwargs), "event_id": event_id}  # the outbox's unique event_id refuses it
    monkeypatch.setattr(domain.OneStatement, "emit", colliding_event)
    before = counts(transactions)

    with pytest.raises(IntegrityError):
        at_once(transactions, person_body(birth_date="1991-02-03", consents=TWO_CONSENTS), key="key-4")

    assert counts(transactions) == before  # no person, no consents, no key
    with transactions() as uow:
        assert uow.connection.scalar(select(func.count()).select_from(Person)
                                     .where(Person.birth_date == "1991-02-03")) == 0


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_the_service_registers_in_one_statement_and_leaves_a_namesake_to_the_duplicate_check(stack, http, auth,
                                                                                             monkeypatch):
    outcomes = []
    register = domain.register_person_at_once

    def spy(*args, **kwargs):
        outcomes.append(register(*args, **kwargs))
        return outcomes[-1]
    monkeypatch.setattr(domain, "register_person_at_once", spy)

    first = http.post(stack.url("/v1/persons"), json=person_body(), headers=auth("team_lead"))
    assert first.status_code == 201 and outcomes == [True]
    poll(lambda: stack.count("casework", "cases") == 1)  # the relay published its event

    again = http.post(stack.url("/v1/persons"), json=person_body(family_name="Testpersson"),
                      headers=auth("team_lead"))
    assert again.status_code == 409 and outcomes == [True, False]
    assert [c["id"] for c in again.json()["candidates"]] == [first.json()["id"]]
    assert stack.count("intake", "persons") == 1


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_its_parameters_are_processed_as_sqlalchemy_would(transactions):
    """JSON serialised (asserted above), and a timestamp without a time zone refused before anything is sent."""
    person = domain.new_person(RegisterPersonSchema().load(person_body()), CALLER, (LUEDENSCHEID,))
    person["created_at"] = person["created_at"].replace(tzinfo=None)
    with pytest.raises(ValueError, match="naive datetime"):
        with transactions.at_once() as statement:
            outbox_row = statement.emit("person_registered", LUEDENSCHEID, domain.person_registered(person))
            domain.register_person_at_once(statement, person, True, outbox_row, None)
    assert counts(transactions) == dict.fromkeys(TABLES, 0)
