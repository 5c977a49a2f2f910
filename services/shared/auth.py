"""Who is calling, and what they may do: token verification and the one authorisation table.

The gateway verifies the bearer token of every request; the token then travels with every RPC call in the
nameko context (`auth_token`), and each service verifies it again, so a call that bypasses the gateway is not
trusted blindly.
"""
from __future__ import annotations

import json
import logging
import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import jwt
from nameko.extensions import DependencyProvider

from .errors import Forbidden, Unauthenticated
from .municipalities import MUNICIPALITIES
from .settings import Settings

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = {"HS256", "RS256", "ES256"}  # never "none"
JWKS_RELOAD_SECONDS = 60
#: the one answer to every refused token: which check failed is logged, never told (nor any library's wording)
INVALID_TOKEN = "the bearer token is invalid or expired"
TEAM_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # as a case's team (AssignCaseSchema)
ID_CLAIM_RE = re.compile(r"^[A-Za-z0-9._@:|-]{1,128}$")  # sub, provider_id


class Role(str, Enum):
    INTAKE_OFFICER = "intake_officer"
    CASE_MANAGER = "case_manager"
    TEAM_LEAD = "team_lead"
    DISTRICT_ADMIN = "district_admin"
    ANALYST = "analyst"
    PARTNER = "partner"
    DATA_PROTECTION_OFFICER = "data_protection_officer"


class Permission(str, Enum):
    PERSON_CREATE = "person:create"
    PERSON_READ = "person:read"
    CASE_READ = "case:read"
    CASE_ASSIGN = "case:assign"
    AUDIT_READ = "audit:read"
    ANALYTICS_READ = "analytics:read"
    REFERRAL_READ_OWN = "referral:read-own"
    CONSENT_WRITE = "consent:write"
    PERSON_UPDATE = "person:update"
    PERSON_HISTORY = "person:history"
    PERSON_SEARCH = "person:search"
    PERSON_EXPORT = "person:export"
    PERSON_ERASE = "person:erase"
    HOUSEHOLD_READ = "household:read"
    HOUSEHOLD_WRITE = "household:write"
    PERSON_MERGE = "person:merge"
    CASE_WORK = "case:work"  # transitions, assessments, plan, contacts, barriers of a case the caller may read
    CASE_MANAGER_READ = "case-manager:read"
    CASE_MANAGER_WRITE = "case-manager:write"
    OFFER_READ = "offer:read"
    OFFER_WRITE = "offer:write"  # providers and offers of the catalogue
    REFERRAL_READ = "referral:read"
    REFERRAL_WRITE = "referral:write"
    REFERRAL_ANSWER = "referral:answer"  # a partner accepts, declines, starts, completes its own referrals


R, P = Role, Permission
#: The authorisation table. Every gateway route names one permission; every service entrypoint checks it again.
#:
#: Which records a permission reaches (the object rules, enforced in the services' queries):
#:
#: - every role sees only persons, cases and audit entries of the municipalities in its token; another town's
#:   record answers 404 exactly like a missing one;
#: - a case manager reads a case only if it is theirs, their team's or unassigned (the town's intake queue);
#: - a case manager reads a person's record only if they may read a case of that person (need to know): intake
#:   asks casework with the caller's token before it reads the person, so a person without such a case answers
#:   404 exactly like a missing one, in the same time. Intake officers, team leads and district admins keep the
#:   town rule for persons.
#:
#: Consents (`consent:write`: grant or withdraw a purpose, GDPR Art. 6/7/9) are recorded by intake officers and by
#: team leads, each for persons of their own towns. Team leads may, so that a person who withdraws consent during
#: case work has the withdrawal recorded at once by the team (Art. 7(3): withdrawing must be as easy as giving);
#: case managers pass a consent or withdrawal on to intake or their team lead, who record it.
#:
#: Rectification (`person:update`, Art. 16 GDPR: PATCH a person's record with If-Match) belongs to intake officers
#: and team leads, for persons of their own towns; every changed field leaves a `person_history` row. The history
#: (`person:history`: who changed which field when, old -> new) is read by the data protection officer and team
#: leads of the person's town. Search (`person:search`: by name, tolerant of transliteration and typos, and birth
#: date) belongs to intake officers and team leads only: a case manager finds persons through their cases (the
#: need-to-know rule cannot narrow a list of persons cheaply), so case managers are refused with 403.
#:
#: Export (`person:export`, Art. 15 GDPR: everything every service holds on a person) and erasure (`person:erase`,
#: Art. 17: erase a person everywhere, read the erasure's status) belong to the data protection officer and team
#: leads, for persons of their own towns (another town's person or erasure answers 404 like a missing one).
#:
#: Households (`household:write`: create one, add a member; `household:read`: its members' ids and relations) are
#: written by intake officers and team leads and read by them and by case managers, each for households of their
#: own towns (another town's household answers 404 like a missing one; another town's person as a member is
#: refused 422 like a missing one). A case manager reads a household only if they may read a case of one of its
#: members (need to know, as for persons).
#:
#: See docs/security.md, "Tokens and person records".
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    R.INTAKE_OFFICER: frozenset({P.PERSON_CREATE, P.PERSON_READ, P.CASE_READ, P.CONSENT_WRITE, P.PERSON_UPDATE,
                                 P.PERSON_SEARCH, P.HOUSEHOLD_READ, P.HOUSEHOLD_WRITE, P.PERSON_MERGE,
                                 P.OFFER_READ}),
    R.CASE_MANAGER: frozenset({P.PERSON_CREATE, P.PERSON_READ, P.CASE_READ, P.HOUSEHOLD_READ, P.CASE_WORK,
                               P.CASE_MANAGER_READ, P.OFFER_READ, P.REFERRAL_READ, P.REFERRAL_WRITE}),
    R.TEAM_LEAD: frozenset({P.PERSON_CREATE, P.PERSON_READ, P.CASE_READ, P.CASE_ASSIGN, P.CONSENT_WRITE,
                            P.PERSON_UPDATE, P.PERSON_HISTORY, P.PERSON_SEARCH, P.PERSON_EXPORT, P.PERSON_ERASE,
                            P.HOUSEHOLD_READ, P.HOUSEHOLD_WRITE, P.PERSON_MERGE, P.CASE_WORK,
                            P.CASE_MANAGER_READ, P.CASE_MANAGER_WRITE, P.OFFER_READ, P.OFFER_WRITE,
                            P.REFERRAL_READ, P.REFERRAL_WRITE}),
    R.DISTRICT_ADMIN: frozenset({P.PERSON_READ, P.CASE_READ, P.CASE_ASSIGN, P.AUDIT_READ, P.CASE_MANAGER_READ,
                                 P.CASE_MANAGER_WRITE, P.OFFER_READ, P.OFFER_WRITE, P.REFERRAL_READ,
                                 P.ANALYTICS_READ}),
    R.ANALYST: frozenset({P.ANALYTICS_READ}),
    R.PARTNER: frozenset({P.REFERRAL_READ_OWN, P.REFERRAL_ANSWER}),
    R.DATA_PROTECTION_OFFICER: frozenset({P.AUDIT_READ, P.PERSON_HISTORY, P.PERSON_EXPORT, P.PERSON_ERASE}),
}
del R, P


@dataclass(frozen=True)
class Caller:
    sub: str
    role: Role
    municipalities: frozenset[str]
    team: str | None = None
    provider_id: str | None = None
    claims: dict = field(default_factory=dict, compare=False, repr=False)

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> "Caller":
        if not self.may(permission):
            raise Forbidden(f"role {self.role.value} may not {permission.value}")
        return self

    def sees_municipality(self, ags: str) -> bool:
        return ags in self.municipalities


class TokenVerifier:
    """Verifies bearer JWTs: algorithm allow-list, signature, exp and iat (required), nbf, iss, aud, leeway, a
    lifetime (exp - iat) of at most KIM_JWT_MAX_LIFETIME, and the shape of every claim KIM reads. Any refusal is
    `Unauthenticated(INVALID_TOKEN)`; the reason goes to the log."""

    def __init__(self, settings: Settings, cache_size: int = 4096):
        self.settings = settings
        self.algorithms = [a for a in settings.jwt_algorithms if a in ALLOWED_ALGORITHMS]
        if not self.algorithms:
            raise ValueError(f"KIM_JWT_ALGORITHMS must name some of {sorted(ALLOWED_ALGORITHMS)}")
        self._keys = self._load_keys()
        self._cache: OrderedDict[str, Caller] = OrderedDict()
        self._cache_size = cache_size

    def _load_keys(self) -> dict:
        self._loaded_at = time.monotonic()
        s = self.settings
        keys: dict = {}
        if "HS256" in self.algorithms:
            if not s.jwt_secret:
                raise ValueError("HS256 needs KIM_JWT_SECRET (kim up generates one for local use)")
            keys["HS256"] = s.jwt_secret
        asymmetric = [a for a in self.algorithms if a != "HS256"]
        if asymmetric and s.jwt_public_key_file:
            pem = Path(s.jwt_public_key_file).read_text()
            for alg in asymmetric:
                keys[alg] = pem
        if asymmetric and s.jwt_jwks_file:
            jwks = json.loads(Path(s.jwt_jwks_file).read_text())
            keys["jwks"] = {}
            for k in jwks["keys"]:
                if not (isinstance(k, dict) and isinstance(k.get("kid"), str)):
                    continue
                try:
                    keys["jwks"][k["kid"]] = jwt.PyJWK(k)
                except (jwt.PyJWTError, ValueError, TypeError) as exc:
                    log.warning("JWKS key %r skipped: %s", k["kid"], type(exc).__name__)
        if asymmetric and not (s.jwt_public_key_file or s.jwt_jwks_file):
            raise ValueError(f"{asymmetric} need KIM_JWT_PUBLIC_KEY_FILE or KIM_JWT_JWKS_FILE")
        return keys

    def _may_reload(self) -> bool:
        """At most once a minute, so unknown key ids cannot make us read the file on every request."""
        return bool(self.settings.jwt_jwks_file) and time.monotonic() - self._loaded_at >= JWKS_RELOAD_SECONDS

    def _key_for(self, token: str):
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise _Refused(f"algorithm {alg!r} is not allowed")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _Refused("kid is not a string")
        if kid and kid not in self._keys.get("jwks", {}) and self._may_reload():
            try:
                self._keys = self._load_keys()  # the OIDC provider may have rotated its keys
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self._loaded_at = time.monotonic()
                log.error("reloading the JWKS failed, keeping the old keys: %s", type(exc).__name__)
        if kid and kid in self._keys.get("jwks", {}):
            jwk = self._keys["jwks"][kid]
            if jwk.algorithm_name != alg:  # e.g. an RSA key named by an ES256 token: never try it
                raise _Refused(f"key {kid!r} is for {jwk.algorithm_name}, the token says {alg}")
            return jwk.key, alg
        if alg in self._keys:
            return self._keys[alg], alg
        raise _Refused("no key to verify this token")

    def verify(self, token: str) -> Caller:
        cached = self._cache.get(token)
        if cached is not None:
            if cached.claims["exp"] + self.settings.jwt_leeway > time.time():
                return cached
            self._cache.pop(token, None)
        try:
            if not isinstance(token, str) or len(token) > 16384:
                raise _Refused("not a token")
            key, alg = self._key_for(token)
            claims = jwt.decode(
                token, key, algorithms=[alg],
                audience=self.settings.jwt_audience, issuer=self.settings.jwt_issuer,
                leeway=self.settings.jwt_leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
            self._check_times(claims)
            caller = caller_from_claims(claims)
        except Unauthenticated as exc:
            log.info("token refused: %s", exc.detail)
            raise Unauthenticated(INVALID_TOKEN) from None
        except Exception as exc:  # a library's error, whatever its class: never its text, never a 500
            log.info("token refused: %s", type(exc).__name__)
            raise Unauthenticated(INVALID_TOKEN) from None
        self._cache[token] = caller
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return caller

    def _check_times(self, claims: dict) -> None:
        """exp, iat (and nbf if present) are numbers, and the token lives at most KIM_JWT_MAX_LIFETIME.

        PyJWT accepts numeric strings; KIM does not, so the cached caller always holds numbers."""
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if name in claims and not _is_number(value):
                raise _Refused(f"claim {name!r} is not a number")
        if claims["exp"] - claims["iat"] > self.settings.jwt_max_lifetime:
            raise _Refused(f"the token lives longer than {self.settings.jwt_max_lifetime} s")


class _Refused(Unauthenticated):
    """Why a token was refused; logged, then answered as INVALID_TOKEN."""


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def caller_from_claims(claims: dict) -> Caller:
    """The caller a token's claims describe; every claim KIM reads must have the expected shape."""
    try:
        role = Role(claims.get("role")) if isinstance(claims.get("role"), str) else None
    except ValueError:
        role = None
    if role is None:
        raise Unauthenticated(f"unknown role {claims.get('role')!r}")
    if not (isinstance(claims.get("sub"), str) and ID_CLAIM_RE.fullmatch(claims["sub"])):
        raise Unauthenticated("claim 'sub' must be a short identifier")
    municipalities = claims.get("municipalities") or []
    if not isinstance(municipalities, list) or any(not isinstance(m, str) or m not in MUNICIPALITIES
                                                   for m in municipalities):
        raise Unauthenticated("claim 'municipalities' must list known AGS codes")
    team = claims.get("team")
    if team is not None and not (isinstance(team, str) and TEAM_RE.fullmatch(team)):
        raise Unauthenticated("claim 'team' must be a team name")
    provider_id = claims.get("provider_id")
    if provider_id is not None and not (isinstance(provider_id, str) and ID_CLAIM_RE.fullmatch(provider_id)):
        raise Unauthenticated("claim 'provider_id' must be a short identifier")
    if role is Role.PARTNER and not provider_id:
        raise Unauthenticated("a partner token needs a 'provider_id' claim")
    return Caller(
        sub=str(claims["sub"]), role=role, municipalities=frozenset(municipalities),
        team=team, provider_id=provider_id, claims=claims,
    )


def issue_token(settings: Settings, *, sub: str, role: str, municipalities: list[str], ttl: int = 8 * 3600,
                team: str | None = None, provider_id: str | None = None, now: float | None = None) -> str:
    """A development token (HS256, the configured secret). Production tokens come from the OIDC provider."""
    if not settings.jwt_secret:
        raise ValueError("no KIM_JWT_SECRET configured")
    if ttl > settings.jwt_max_lifetime:
        raise ValueError(f"ttl may be at most KIM_JWT_MAX_LIFETIME ({settings.jwt_max_lifetime} s)")
    Role(role)
    now = time.time() if now is None else now
    claims = {"sub": sub, "role": role, "municipalities": list(municipalities), "iss": settings.jwt_issuer,
              "aud": settings.jwt_audience, "iat": int(now), "nbf": int(now), "exp": int(now + ttl)}
    if team:
        claims["team"] = team
    if provider_id:
        claims["provider_id"] = provider_id
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


AUTH_TOKEN_KEY = "auth_token"
REQUEST_ID_KEY = "request_id"


class CallerProvider(DependencyProvider):
    """`self.caller.require(permission)` inside an entrypoint: the verified caller of this worker.

    Reads the token that travelled in the worker's context; raises Unauthenticated when there is none."""

    def setup(self):
        self.verifier = TokenVerifier(Settings.load(self.container.config))

    def get_dependency(self, worker_ctx):
        return _WorkerCaller(self.verifier, worker_ctx)


class _WorkerCaller:
    def __init__(self, verifier: TokenVerifier, worker_ctx):
        self._verifier = verifier
        self._worker_ctx = worker_ctx

    def current(self) -> Caller:
        token = self._worker_ctx.data.get(AUTH_TOKEN_KEY)
        if not token:
            raise Unauthenticated("no caller context on this call")
        return self._verifier.verify(token)

    def require(self, permission: Permission) -> Caller:
        return self.current().require(permission)
