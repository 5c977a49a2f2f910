"""Holistic assessment (Bedarfsfeststellung) of the life areas; a re-assessment is a new assessment, so the
history shows progress per area."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.shared.auth import Caller
from services.shared.db import new_id
from services.shared.errors import Conflict, InvalidInput
from services.shared.events import LIFE_AREAS

from .domain import get_case
from .models import Assessment, AssessmentArea, Barrier, Case

#: the phases in which a case is not (yet, or any more) worked on: nothing is assessed, planned or recorded
NOT_ASSESSABLE = ("intake", "closed")


def working_case(session: Session, case_id: str, caller: Caller, refused=("closed",), what="this") -> Case:
    """The case the caller may see (NotFound otherwise), refusing with 409 while it is in a `refused` phase."""
    case = get_case(session, case_id, caller)
    if case.status in refused:
        raise Conflict(f"case {case.id} is in phase {case.status}: {what} is not possible now")
    return case


def record_assessment(session: Session, case_id: str, caller: Caller, areas: list[dict],
                      summary: str | None = None) -> dict:
    case = working_case(session, case_id, caller, NOT_ASSESSABLE, "an assessment")
    seen = set()
    for index, area in enumerate(areas):
        if area["area"] in seen:
            raise InvalidInput("an area is assessed once per assessment",
                               {f"areas.{index}.area": [f"{area['area']} is listed twice"]})
        seen.add(area["area"])
    now = datetime.now(timezone.utc)
    assessment = Assessment(id=new_id(), case_id=case.id, phase=case.status, assessed_at=now,
                            assessed_by=caller.sub, summary=summary)
    session.add(assessment)
    session.flush()  # the parent row first: the areas reference it
    rows = [AssessmentArea(assessment_id=assessment.id, area=a["area"], need_level=a["need"],
                           priority=a.get("priority"), strengths=a.get("strengths"), notes=a.get("notes"))
            for a in sorted(areas, key=lambda a: LIFE_AREAS.index(a["area"]))]
    session.add_all(rows)
    session.flush()
    return {"case": case, "assessment": _view(assessment, rows)}


def _view(assessment: Assessment, areas) -> dict:
    return {"id": assessment.id, "case_id": assessment.case_id, "phase": assessment.phase,
            "assessed_at": assessment.assessed_at, "assessed_by": assessment.assessed_by,
            "summary": assessment.summary,
            "areas": [{"area": a.area, "need": a.need_level, "priority": a.priority, "strengths": a.strengths,
                       "notes": a.notes} for a in areas]}


def assessments_of(session: Session, case_id: str) -> list[dict]:
    """Every assessment of a case, oldest first, with its areas (no visibility check: the caller checked)."""
    assessments = list(session.scalars(select(Assessment).where(Assessment.case_id == case_id)
                                       .order_by(Assessment.assessed_at, Assessment.id)))
    areas: dict[str, list] = {a.id: [] for a in assessments}
    if assessments:
        for row in session.scalars(select(AssessmentArea).where(AssessmentArea.assessment_id.in_(list(areas)))):
            areas[row.assessment_id].append(row)
    order = {area: i for i, area in enumerate(LIFE_AREAS)}
    return [_view(a, sorted(areas[a.id], key=lambda r: order.get(r.area, 99))) for a in assessments]


def list_assessments(session: Session, case_id: str, caller: Caller) -> list[dict]:
    return assessments_of(session, get_case(session, case_id, caller).id)


def progress(session: Session, case_id: str, caller: Caller) -> dict:
    """Per life area the need levels over time (areas never assessed have an empty list)."""
    case = get_case(session, case_id, caller)
    history = assessments_of(session, case.id)
    per_area = {area: [] for area in LIFE_AREAS}
    for assessment in history:
        for area in assessment["areas"]:
            per_area.setdefault(area["area"], []).append(
                {"assessment_id": assessment["id"], "assessed_at": assessment["assessed_at"],
                 "phase": assessment["phase"], "need": area["need"]})
    return {"case_id": case.id, "areas": [{"area": area, "levels": levels} for area, levels in per_area.items()]}


def latest_needs(session: Session, case_id: str) -> list[dict]:
    """The latest assessment's areas with a need (level not `none`), in catalogue order."""
    latest = session.scalar(select(Assessment.id).where(Assessment.case_id == case_id)
                            .order_by(Assessment.assessed_at.desc(), Assessment.id.desc()).limit(1))
    if latest is None:
        return []
    rows = session.execute(select(AssessmentArea.area, AssessmentArea.need_level)
                           .where(AssessmentArea.assessment_id == latest, AssessmentArea.need_level != "none"))
    order = {area: i for i, area in enumerate(LIFE_AREAS)}
    return sorted(({"area": area, "level": level} for area, level in rows), key=lambda n: order.get(n["area"], 99))


def case_profile(session: Session, case_id: str, caller: Caller) -> dict:
    """What the referrals service needs to match offers: the case's needs and open barriers (codes only)."""
    case = get_case(session, case_id, caller)
    barriers = session.execute(select(Barrier.code, Barrier.area)
                               .where(Barrier.case_id == case.id, Barrier.resolved_on.is_(None))
                               .order_by(Barrier.recorded_on, Barrier.id))
    return {"case_id": case.id, "person_id": case.person_id, "municipality": case.municipality,
            "status": case.status, "assigned_to": case.assigned_to, "needs": latest_needs(session, case.id),
            "open_barriers": [{"code": code, "area": area} for code, area in barriers]}


def assessment_recorded(case: Case, assessment: dict) -> dict:
    """The event: need levels only; priorities, strengths and notes stay here."""
    return {"case_id": case.id, "person_id": case.person_id, "municipality": case.municipality,
            "assessment_id": assessment["id"],
            "assessed_at": assessment["assessed_at"],
            "needs": [{"area": a["area"], "level": a["need"]} for a in assessment["areas"]]}
