"""Token verification and the authorisation table."""
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from services.shared.auth import ROLE_PERMISSIONS, Permission, Role, TokenVerifier, issue_token
from services.shared.errors import Forbidden, Unauthenticated
from services.shared.settings import Settings
from tests.conftest import LUEDENSCHEID, TEST_SECRET

CLAIMS = {"sub": "u1", "role": "case_manager", "municipalities": [LUEDENSCHEID], "iss": "kim-dev", "aud": "kim-api"}


def claims(**changes):
    now = int(time.time())
    return {**CLAIMS, "iat": now, "nbf": now, "exp": now + 600, **changes}


@pytest.fixture
def verifier(settings):
    return TokenVerifier(settings)


def test_valid_token(verifier, settings):
    caller = verifier.verify(issue_token(settings, sub="u1", role="team_lead", municipalities=[LUEDENSCHEID],
                                         team="north"))
    assert caller.role is Role.TEAM_LEAD and caller.team == "north"
    assert caller.sees_municipality(LUEDENSCHEID) and not caller.sees_municipality("05962036")


@pytest.mark.parametrize("label, token", [
    ("expired", lambda: jwt.encode(claims(exp=int(time.time()) - 120), TEST_SECRET, "HS256")),
    ("not yet valid", lambda: jwt.encode(claims(nbf=int(time.time()) + 600), TEST_SECRET, "HS256")),
    ("no exp", lambda: jwt.encode({k: v for k, v in claims().items() if k != "exp"}, TEST_SECRET, "HS256")),
    ("wrong audience", lambda: jwt.encode(claims(aud="other"), TEST_SECRET, "HS256")),
    ("wrong issuer", lambda: jwt.encode(claims(iss="evil"), TEST_SECRET, "HS256")),
    ("forged", lambda: jwt.encode(claims(), "another-secret-of-sufficient-length-1234", "HS256")),
    ("alg none", lambda: jwt.encode(claims(), None, "none")),
    ("unknown role", lambda: jwt.encode(claims(role="mayor"), TEST_SECRET, "HS256")),
    ("unknown municipality", lambda: jwt.encode(claims(municipalities=["99999999"]), TEST_SECRET, "HS256")),
    ("partner without provider", lambda: jwt.encode(claims(role="partner"), TEST_SECRET, "HS256")),
    ("garbage", lambda: "a.b.c"),
])
def test_bad_tokens_are_refused(verifier, label, token):
    with pytest.raises(Unauthenticated):
        verifier.verify(token())


def test_leeway_accepts_small_clock_skew(verifier):
    assert verifier.verify(jwt.encode(claims(exp=int(time.time()) - 5), TEST_SECRET, "HS256")).sub == "u1"


def test_cached_token_still_expires(verifier, settings):
    # valid for one more second, counting the leeway
    token = issue_token(settings, sub="u1", role="case_manager", municipalities=[LUEDENSCHEID],
                        ttl=1 - settings.jwt_leeway)
    verifier.verify(token)
    time.sleep(1.5)
    with pytest.raises(Unauthenticated):
        verifier.verify(token)


def test_rs256_with_public_key_file(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "pub.pem").write_bytes(pem)
    verifier = TokenVerifier(Settings.load({"KIM_JWT_ALGORITHMS": "RS256",
                                            "KIM_JWT_PUBLIC_KEY_FILE": str(tmp_path / "pub.pem")}))
    assert verifier.verify(jwt.encode(claims(), key, "RS256")).sub == "u1"
    with pytest.raises(Unauthenticated):  # HS256 is not on this instance's allow-list
        verifier.verify(jwt.encode(claims(), TEST_SECRET, "HS256"))


def test_es256_with_jwks_file(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "ES256"}]}))
    verifier = TokenVerifier(Settings.load({"KIM_JWT_ALGORITHMS": "ES256",
                                            "KIM_JWT_JWKS_FILE": str(tmp_path / "jwks.json")}))
    assert verifier.verify(jwt.encode(claims(), key, "ES256", headers={"kid": "k1"})).sub == "u1"
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(Unauthenticated):
        verifier.verify(jwt.encode(claims(), other, "ES256", headers={"kid": "k1"}))


def test_misconfiguration_is_loud():
    with pytest.raises(ValueError):
        TokenVerifier(Settings.load({"KIM_JWT_ALGORITHMS": "none"}))
    with pytest.raises(ValueError):
        TokenVerifier(Settings.load({"KIM_JWT_ALGORITHMS": "RS256"}))


def test_every_role_has_an_entry_and_analysts_see_only_analytics(verifier, settings):
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert ROLE_PERMISSIONS[Role.ANALYST] == {Permission.ANALYTICS_READ}
    analyst = verifier.verify(issue_token(settings, sub="a", role="analyst", municipalities=[LUEDENSCHEID]))
    with pytest.raises(Forbidden):
        analyst.require(Permission.PERSON_READ)


def test_rotated_jwks_key_is_picked_up(tmp_path, monkeypatch):
    from services.shared import auth

    def jwks(*keys):
        return json.dumps({"keys": [{**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(k.public_key())), "kid": kid,
                                     "alg": "ES256"} for kid, k in keys]})
    old, new = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "jwks.json").write_text(jwks(("old", old)))
    verifier = TokenVerifier(Settings.load({"KIM_JWT_ALGORITHMS": "ES256",
                                            "KIM_JWT_JWKS_FILE": str(tmp_path / "jwks.json")}))
    rotated = jwt.encode(claims(), new, "ES256", headers={"kid": "new"})
    (tmp_path / "jwks.json").write_text(jwks(("old", old), ("new", new)))
    with pytest.raises(Unauthenticated):  # read at most once a minute
        verifier.verify(rotated)
    monkeypatch.setattr(auth, "JWKS_RELOAD_SECONDS", 0)
    assert verifier.verify(rotated).sub == "u1"
