"""The duplicate check's name matching: plain Python, knows nothing of nameko, HTTP or the database.

`latin(name)` is a normalised Latin transliteration of a name in any script (anyascii's tables, ISC licence,
with the German convention ä→ae, ö→oe, ü→ue, ß→ss first). `key(latin)` makes common spelling variants equal or
close (Mohammed/Muhammad, Mueller/Müller/Muller, Aleksandr/Alexander); `score(candidate, new)` compares given and
family names, also swapped, with Jaro-Winkler on the keys. Arabic and Hebrew script write no short vowels, so a
name in them is also compared by its consonants. A score of at least LIKELY is a likely duplicate.
"""
from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from typing import Mapping

from anyascii import anyascii

#: a candidate whose score reaches this is a likely duplicate (see tests/unit/test_matching.py for the table)
LIKELY = 0.86

_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "ẞ": "SS"})
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
#: scripts that write no short vowels: a name in them is compared by its consonants too
_ABJADS = re.compile(r"[\u0590-\u05ff\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
#: spelling variants made equal, in this order (on the Latin form without spaces)
_RULES = [(re.compile(p), r) for p, r in (
    (r"ue", "u"), (r"oe", "o"), (r"ae", "a"),  # Mueller = Muller (Müller), Schroeder = Schroder
    (r"dzh|dj", "J"), (r"tsch|tch|ch(?=[^aeiou]|$)", "c"),  # J: the English j (Djamal = Dzhamal)
    (r"kh|ch", "h"), (r"gh", "g"), (r"ph", "f"), (r"th", "t"), (r"dh", "d"), (r"sch|sh", "s"),
    (r"x", "ks"), (r"q|c(?!$)|ck", "k"), (r"w", "v"), (r"ou|oo", "u"), (r"ee", "i"), (r"ey|ei|ai|ay", "i"),
    (r"[jy]", "i"), (r"o", "u"), (r"e", "i"),  # Julia/Yulia, Olena/Elena, Mohammed/Muhammad, Yusuf/Iusuf
    (r"(.)\1+", r"\1"),  # doubled letters: Hassan = Hasan
    (r"(?<=.)h$", ""),  # Fatimah = Fatima
)]
_NOT_CONSONANT = re.compile(r"[aeiouv]")
#: a name part at least this alike is "similar" in a score's reasons
SIMILAR = 0.8


def latin(name: str) -> str:
    """A lowercase Latin transliteration: accents stripped, punctuation and hyphens to spaces, whitespace
    collapsed. "Müller" -> "mueller", "Мухаммед Аль-Хасан" -> "mukhammed al khasan", "Yılmaz" -> "yilmaz"."""
    text = unicodedata.normalize("NFC", name or "").translate(_GERMAN)
    text = anyascii(text).lower().replace("'", "")  # Cyrillic soft sign, Arabic hamza/ain: no letter of their own
    return _NOT_ALNUM.sub(" ", text).strip()


def key(latin_name: str) -> str:
    """A phonetic-ish key of a Latin form: spelling variants made equal, spaces dropped."""
    text = latin_name.replace(" ", "")
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def skeleton(latin_name: str) -> str:
    """The consonants of a key, with y and w read as vowels (Arabic writes its long vowels with them)."""
    return _NOT_CONSONANT.sub("", key(latin_name))


def jaro_winkler(a: str, b: str, prefix_scale: float = 0.1) -> float:
    if a == b:
        return 1.0 if a else 0.0
    if not a or not b:
        return 0.0
    window = max(max(len(a), len(b)) // 2 - 1, 0)
    used = [False] * len(b)
    matched_a = []
    for i, char in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not used[j] and b[j] == char:
                used[j] = True
                matched_a.append(char)
                break
    if not matched_a:
        return 0.0
    matched_b = [b[j] for j in range(len(b)) if used[j]]
    m = len(matched_a)
    transpositions = sum(x != y for x, y in zip(matched_a, matched_b)) / 2
    jaro = (m / len(a) + m / len(b) + (m - transpositions) / m) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4]):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * prefix_scale * (1 - jaro)


class Name:
    """A name prepared for comparison (its Latin form, key and, for an abjad, consonants)."""

    __slots__ = ("latin", "key", "skeleton", "abjad")

    def __init__(self, raw: str, latin_form: str | None = None):
        self.latin = latin_form if latin_form is not None else latin(raw)
        self.key = key(self.latin)
        self.abjad = bool(_ABJADS.search(raw or ""))
        self.skeleton = skeleton(self.latin)


def _alike(a: str, b: str) -> float:
    """Jaro-Winkler (kind to a shared beginning) averaged with difflib's ratio (strict about the rest)."""
    if a == b:
        return 1.0 if a else 0.0
    return (jaro_winkler(a, b) + SequenceMatcher(None, a, b, autojunk=False).ratio()) / 2


def similarity(a: Name, b: Name) -> float:
    value = _alike(a.key, b.key)
    if (a.abjad or b.abjad) and len(a.skeleton) >= 2 and len(b.skeleton) >= 2:
        value = max(value, _alike(a.skeleton, b.skeleton) - 0.03)
    return value


def _pair(given: float, family: float) -> float:
    """Both names must be alike: the weaker counts more (twins share a family name and a birth date)."""
    return 0.6 * min(given, family) + 0.4 * max(given, family)


def _joined(first: Name, second: Name) -> Name:
    name = Name("", f"{first.latin} {second.latin}")
    name.abjad = first.abjad or second.abjad
    return name


def prepared(person: Mapping) -> tuple[Name, Name]:
    """(given, family) of a mapping with given_name, family_name and optionally their *_latin forms."""
    return (Name(person["given_name"], person.get("given_name_latin")),
            Name(person["family_name"], person.get("family_name_latin")))


def score(candidate: Mapping | tuple, new: Mapping | tuple) -> tuple[float, list[str]]:
    """How likely `candidate` (a stored person) and `new` are one person, 0..1, and why, machine-readable.

    Both are mappings with given_name and family_name (the *_latin forms are used when present; birth_date is
    compared when both have one) or `prepared(...)` pairs."""
    cg, cf = candidate if isinstance(candidate, tuple) else prepared(candidate)
    ng, nf = new if isinstance(new, tuple) else prepared(new)
    straight = _pair(similarity(cg, ng), similarity(cf, nf))
    swapped = _pair(similarity(cg, nf), similarity(cf, ng))
    whole = 0.0
    if (cg.latin.count(" "), cf.latin.count(" ")) not in ((ng.latin.count(" "), nf.latin.count(" ")),
                                                         (nf.latin.count(" "), ng.latin.count(" "))):
        # the words split differently ("Mohammed Al" / "Hassan"): the whole name, in either order
        new_whole = _joined(ng, nf)
        whole = max(similarity(_joined(cg, cf), new_whole), similarity(_joined(cf, cg), new_whole)) - 0.05
    why = []
    if isinstance(candidate, Mapping) and isinstance(new, Mapping) and candidate.get("birth_date") and \
            candidate.get("birth_date") == new.get("birth_date"):
        why.append("same_birth_date")
    value = max(straight, swapped, whole)
    if value == straight or straight >= LIKELY:
        given, family = similarity(cg, ng), similarity(cf, nf)
    else:
        given, family = similarity(cg, nf), similarity(cf, ng)
        if value == swapped:
            why.append("names_swapped")
    for label, part in (("given_name", given), ("family_name", family)):
        if part >= 0.999:
            why.append(f"{label}_same")
        elif part >= SIMILAR:
            why.append(f"{label}_similar")
    if value == whole and value > max(straight, swapped):
        why.append("whole_name_similar")
    return round(value, 3), why
