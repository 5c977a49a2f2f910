"""Matching: a case's open needs against the catalogue, ranked, each suggestion explaining itself. Plain Python.

Candidates are the offers serving the case's municipality in one of its open need areas (the coverage index).
Each is judged on: the need it addresses (level), the municipality, a shared language, eligibility by residence
status and age, the waiting time, and whether it is paused. Eligibility and a paused offer are hard criteria
(`eligible: false`, ranked after every eligible offer); the others weigh into the score.
"""
from __future__ import annotations

from datetime import date

LEVEL_WEIGHT = {"none": 0, "low": 1, "medium": 2, "high": 3, "urgent": 4}
LANGUAGE_BONUS = 4.0
BARRIER_BONUS = 1.0
WAITING_OK_DAYS = 30  # a waiting time up to this counts as matched
WAITING_PENALTY_PER_WEEK = 0.25


def open_needs(profile: dict) -> dict[str, str]:
    """area -> level of the case's needs above `none`."""
    return {n["area"]: n["level"] for n in profile.get("needs") or [] if LEVEL_WEIGHT.get(n["level"], 0) > 0}


def _criterion(name: str, matched: bool, detail: str, **values) -> dict:
    """`detail` explains in English; `values` are what it names, for a screen to say it in its own language."""
    return {"criterion": name, "matched": matched, "detail": detail, "values": values}


def age_range_of(birth_year: int | None, today: date) -> tuple[int, int] | None:
    """Only the birth year may be known: the person is this old or one year younger."""
    if birth_year is None:
        return None
    return today.year - birth_year - 1, today.year - birth_year


def judge(offer: dict, profile: dict, facts: dict, needs: dict[str, str], today: date) -> dict:
    criteria = []
    served = [a for a in offer["areas"] if a in needs]
    area = max(served, key=lambda a: (LEVEL_WEIGHT[needs[a]], -offer["areas"].index(a))) if served else offer["areas"][0]
    level = needs.get(area, "none")
    score = 10.0 * LEVEL_WEIGHT[level]
    criteria.append(_criterion("need", bool(served), f"addresses the open need {area} ({level})" if served
                               else "addresses none of the case's open needs",
                               **({"area": area, "level": level} if served else {})))
    municipality = profile["municipality"]
    covers = municipality in offer["municipalities"]
    criteria.append(_criterion("municipality", covers, f"serves {municipality}" if covers
                               else f"does not serve {municipality}", municipality=municipality))
    shared = sorted(set(offer["languages"]) & set(facts.get("languages") or []))
    if shared:
        score += LANGUAGE_BONUS
        criteria.append(_criterion("language", True, f"shared language: {', '.join(shared)}", shared=shared))
    else:
        interpreter = bool(facts.get("interpreter_needed"))
        criteria.append(_criterion("language", False, f"no shared language (offer: {', '.join(offer['languages'])}"
                                   + ("; interpreter needed" if interpreter else "") + ")",
                                   offer_languages=list(offer["languages"]), interpreter_needed=interpreter))
    eligible = covers
    statuses = offer.get("residence_statuses") or []
    status = facts.get("residence_status")
    if not statuses:
        criteria.append(_criterion("residence_status", True, "open to every residence status", open_to=[]))
    elif status in statuses:
        criteria.append(_criterion("residence_status", True, f"open to {status}", residence_status=status,
                                   open_to=list(statuses)))
    else:
        eligible = False
        criteria.append(_criterion("residence_status", False, f"not open to {status} (only {', '.join(statuses)})",
                                   residence_status=status, open_to=list(statuses)))
    low, high = offer.get("min_age"), offer.get("max_age")
    ages = age_range_of(facts.get("birth_year"), today)
    if low is None and high is None:
        criteria.append(_criterion("age", True, "no age limit", min_age=None, max_age=None))
    elif ages is None:
        criteria.append(_criterion("age", True, "age unknown; the offer is for ages "
                                   f"{low if low is not None else 0}-{high if high is not None else 'any'}",
                                   age=None, min_age=low, max_age=high))
    else:
        fits = (low is None or ages[1] >= low) and (high is None or ages[0] <= high)
        eligible = eligible and fits
        criteria.append(_criterion("age", fits, f"age {ages[1]} {'within' if fits else 'outside'} "
                                   f"{low if low is not None else 0}-{high if high is not None else 'any'}",
                                   age=ages[1], min_age=low, max_age=high))
    waiting = offer.get("waiting_days") or 0
    score -= WAITING_PENALTY_PER_WEEK * waiting / 7
    criteria.append(_criterion("waiting_time", waiting <= WAITING_OK_DAYS,
                               "no waiting time" if waiting == 0 else f"waiting time {waiting} days",
                               days=waiting))
    barriers = [b["code"] for b in profile.get("open_barriers") or [] if b.get("area") in offer["areas"]]
    if barriers:
        score += BARRIER_BONUS * len(barriers)
        criteria.append(_criterion("barrier", True, f"addresses open barriers: {', '.join(sorted(barriers))}",
                                   codes=sorted(barriers)))
    active = offer["status"] == "active"
    eligible = eligible and active
    criteria.append(_criterion("status", active, "active" if active else "paused: takes no referrals now",
                               status=offer["status"]))
    return {"offer": offer, "score": round(score, 2), "eligible": eligible, "area": area, "need_level": level,
            "criteria": criteria}


def fit(offer: dict, profile: dict, facts: dict, needs: dict[str, str], today: date,
        barrier_areas: dict[str, int] | None = None) -> tuple[bool, float]:
    """(eligible, score) exactly as `judge` finds them, without the explanations: ranking a town's hundreds of
    candidates needs only these; the explanations are written for the suggestions returned."""
    served = [LEVEL_WEIGHT[needs[a]] for a in offer["areas"] if a in needs]
    score = 10.0 * (max(served) if served else 0)
    if not set(offer["languages"]).isdisjoint(facts.get("languages") or ()):
        score += LANGUAGE_BONUS
    score -= WAITING_PENALTY_PER_WEEK * (offer.get("waiting_days") or 0) / 7
    if barrier_areas is None:
        barrier_areas = _barrier_areas(profile)
    barriers = sum(barrier_areas.get(a, 0) for a in set(offer["areas"]))
    score += BARRIER_BONUS * barriers
    eligible = profile["municipality"] in offer["municipalities"] and offer["status"] == "active"
    statuses = offer.get("residence_statuses")
    if statuses and facts.get("residence_status") not in statuses:
        eligible = False
    low, high = offer.get("min_age"), offer.get("max_age")
    ages = age_range_of(facts.get("birth_year"), today)
    if ages is not None and ((low is not None and ages[1] < low) or (high is not None and ages[0] > high)):
        eligible = False
    return eligible, round(score, 2)


def _barrier_areas(profile: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for barrier in profile.get("open_barriers") or []:
        counts[barrier.get("area")] = counts.get(barrier.get("area"), 0) + 1
    return counts


def rank(offers: list[dict], profile: dict, facts: dict, *, today: date | None = None, limit: int = 20,
         include_paused: bool = False) -> list[dict]:
    """Suggestions, best first: eligible before ineligible, then by score, shorter waiting, name."""
    today = today or date.today()
    needs = open_needs(profile)
    barrier_areas = _barrier_areas(profile)
    scored = []
    for offer in offers:
        if include_paused or offer["status"] == "active":
            eligible, score = fit(offer, profile, facts, needs, today, barrier_areas)
            scored.append(((not eligible, -score, offer.get("waiting_days") or 0, offer["name"], offer["id"]), offer))
    scored.sort(key=lambda pair: pair[0])
    return [judge(offer, profile, facts, needs, today) for _, offer in scored[:limit]]
