"""The duplicate check on registration, through the intake service's entrypoint (nameko's worker_factory) on a
real SQLite database. All names are synthetic."""
import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.intake import models as intake_models
from services.intake.service import IntakeService
from services.shared.db import WorkerDatabase
from services.shared.errors import InvalidInput, LikelyDuplicate
from tests.conftest import KIERSPE, LUEDENSCHEID, person_body
from tests.unit.conftest import StubCaller
from tests.unit.test_services import count, outbox_bodies

PERSONS = intake_models.Person.__table__


def intake(tx, settings, key=None, **caller):
    return worker_factory(IntakeService, db=WorkerDatabase(tx, idempotency_key=key),
                          caller=StubCaller(**{"role": "intake_officer", **caller}), settings=settings)


def hassan(**overrides):
    return person_body(**{"given_name": "Mohammed", "family_name": "Al Hassan", "birth_date": "1990-03-01",
                          **overrides})


def test_a_likely_duplicate_is_refused_with_its_candidates_and_nothing_is_written(intake_tx, settings):
    first = intake(intake_tx, settings).register_person(hassan())
    with pytest.raises(LikelyDuplicate) as refused:
        intake(intake_tx, settings).register_person(hassan(given_name="Мухаммед", family_name="Аль-Хасан"))
    (candidate,) = refused.value.candidates
    assert candidate["id"] == first["id"] and candidate["score"] >= 0.86
    assert candidate["why"][0] == "same_birth_date" and "given_name" not in candidate
    assert count(intake_tx, PERSONS) == 1 and len(outbox_bodies(intake_tx)) == 1


def test_confirmed_new_registers_a_second_person(intake_tx, settings):
    first = intake(intake_tx, settings).register_person(hassan())
    second = intake(intake_tx, settings).register_person(hassan(given_name="Muhammad", confirmed_new=True))
    assert second["id"] != first["id"] and count(intake_tx, PERSONS) == 2


def test_the_latin_forms_are_stored(intake_tx, settings):
    intake(intake_tx, settings).register_person(hassan(given_name="Мухаммед", family_name="Аль-Хасан"))
    with intake_tx() as uow:
        row = uow.connection.execute(select(PERSONS.c.given_name_latin, PERSONS.c.family_name_latin)).one()
    assert tuple(row) == ("mukhammed", "al khasan")


@pytest.mark.parametrize("other", [
    dict(birth_date="1990-03-02"),  # another birth date is no candidate, however alike the names
    dict(given_name="Ahmed"),  # another given name
    dict(given_name="Olena", family_name="Kovalenko"),
])
def test_others_are_not_candidates(intake_tx, settings, other):
    intake(intake_tx, settings).register_person(hassan())
    intake(intake_tx, settings).register_person(hassan(**other))
    assert count(intake_tx, PERSONS) == 2


def test_persons_of_towns_the_caller_does_not_see_are_not_candidates(intake_tx, settings):
    intake(intake_tx, settings, municipalities=(KIERSPE,)).register_person(hassan(municipality=KIERSPE))
    intake(intake_tx, settings, municipalities=(LUEDENSCHEID,)).register_person(hassan())
    assert count(intake_tx, PERSONS) == 2


def test_confirmed_new_must_be_a_boolean(intake_tx, settings):
    with pytest.raises(InvalidInput) as refused:
        intake(intake_tx, settings).register_person(hassan(confirmed_new="yes"))
    assert list(refused.value.fields) == ["confirmed_new"]


def test_a_409_does_not_keep_the_idempotency_key(intake_tx, settings):
    """The 409 rolls the key's claim back: the same key may then carry the confirmed body (another
    fingerprint), and a retry of that answers the same person again."""
    intake(intake_tx, settings, key="first").register_person(hassan())
    with pytest.raises(LikelyDuplicate):
        intake(intake_tx, settings, key="k-2").register_person(hassan(given_name="Muhammad"))
    with pytest.raises(LikelyDuplicate):  # the same request again: the same answer, not a key mismatch
        intake(intake_tx, settings, key="k-2").register_person(hassan(given_name="Muhammad"))
    confirmed = intake(intake_tx, settings, key="k-2").register_person(hassan(given_name="Muhammad",
                                                                              confirmed_new=True))
    assert intake(intake_tx, settings, key="k-2").register_person(
        hassan(given_name="Muhammad", confirmed_new=True)) == confirmed
    assert count(intake_tx, PERSONS) == 2 and len(outbox_bodies(intake_tx)) == 2


def test_the_duplicate_check_reads_one_birth_date_not_a_town_before_any_statistics(db_urls):
    """SQLite has no planner statistics, nor has PostgreSQL on a new instance: the duplicate check still reads
    the persons of one birth date (and those known by its year only) by their indexes, not a whole town."""
    from datetime import date, datetime, timezone

    from sqlalchemy import text

    from services.intake import domain
    from services.shared.db import make_engine

    engine = make_engine(db_urls["intake"])
    rows = [{"id": f"00000000-0000-4000-8000-{i:012d}", "municipality": LUEDENSCHEID, "given_name": "Test",
             "family_name": f"Person{i}", "given_name_latin": "test", "family_name_latin": f"person{i}",
             "birth_date": date.fromordinal(date(1930, 1, 1).toordinal() + i), "birth_year": 1930 + i // 365,
             "arrival_date": date(2026, 10, 2), "residence_status": "asylum_seeker", "languages": ["uk"],
             "created_at": datetime.now(timezone.utc), "created_by": "test", "version": 1} for i in range(2000)]
    query = domain._SAME_BIRTH_DATE.params(birth_date=date(1934, 8, 26), birth_year=1934, towns=[LUEDENSCHEID])
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    try:
        with engine.begin() as conn:
            conn.execute(PERSONS.insert(), rows)
            plan = "\n".join(str(row[-1]) for row in conn.execute(text(explain + sql)))
    finally:
        engine.dispose()
    assert "ix_persons_birth_date" in plan and "ix_persons_birth_year_date" in plan, plan
    assert "ix_persons_municipality" not in plan, plan
