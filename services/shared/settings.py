"""Settings from environment variables.

Every setting can also be given in a nameko container config under the same name, which wins over the
environment: tests run several containers in one process, each against its own vhost and database.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from .municipalities import MUNICIPALITIES, validate_ags_list

DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"
SECRET_FILE = "jwt-secret"


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _flag(value, name: str) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./data")
    amqp_uri: str = DEFAULT_AMQP_URI
    gateway_address: str = "127.0.0.1:8000"
    jwt_secret: str | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_public_key_file: str | None = None
    jwt_jwks_file: str | None = None
    jwt_issuer: str = "kim-dev"
    jwt_audience: str = "kim-api"
    jwt_leeway: int = 30
    jwt_max_lifetime: int = 12 * 3600
    municipalities: tuple[str, ...] = tuple(MUNICIPALITIES)
    rpc_timeout: float = 5.0
    max_body_bytes: int = 64 * 1024
    cors_origins: tuple[str, ...] = ()
    outbox_poll_seconds: float = 1.0
    max_workers: int = 10
    event_retention_days: float = 30.0
    log_level: str = "INFO"
    quorum_queues: bool = False
    event_max_attempts: int = 5
    idempotency_hours: float = 24.0
    analytics_min_cell: int = 5
    no_contact_days: int = 30  # casework flags cases without contact for this long
    oidc_issuer: str | None = None  # the web app signs in here (authorization code + PKCE)
    oidc_client_id: str = "kim-app"
    oidc_scopes: str = "openid profile"
    dev_signin: bool = False  # `kim up` without an issuer: /app offers a development sign-in (never with one)
    referral_expiry_days: float = 14.0  # referrals: an unanswered sent referral expires after this long
    referral_expiry_check_seconds: float = 3600.0
    rabbitmq_api: str = "http://127.0.0.1:15672"  # `kim partners add`: RabbitMQ's management API
    rabbitmq_admin_user: str | None = None
    rabbitmq_admin_password: str | None = None
    cases_per_full_time: int = 60  # casework: a full-time case manager's capacity (pro rata for part-time)
    full_time_hours: float = 39.0
    case_reopen_days: int = 90  # casework: how long after closing a case may be reopened
    db_urls: Mapping[str, str] = field(default_factory=dict)

    def uses_data_dir(self, service: str) -> bool:
        return service.upper() not in self.db_urls

    def db_url(self, service: str) -> str:
        """`KIM_<SERVICE>_DB_URL`, else a SQLite file per service under the data folder."""
        url = self.db_urls.get(service.upper())
        if url:
            return url
        return f"sqlite:///{(self.data_dir / f'{service}.db').resolve()}"

    @classmethod
    def load(cls, overrides: Mapping[str, object] | None = None) -> "Settings":
        env: dict[str, object] = dict(os.environ)
        if overrides:
            env.update({k: v for k, v in overrides.items() if v is not None})

        def get(name, default=None):
            value = env.get(name)
            return default if value in (None, "") else value

        data_dir = Path(str(get("KIM_DATA_DIR", "./data")))
        secret = get("KIM_JWT_SECRET")
        if secret is None and (data_dir / SECRET_FILE).exists():
            # `kim up` keeps a generated development secret here.
            secret = (data_dir / SECRET_FILE).read_text().strip()
        municipalities = _split(str(get("KIM_MUNICIPALITIES", ""))) or tuple(MUNICIPALITIES)
        validate_ags_list(municipalities, "KIM_MUNICIPALITIES")
        db_urls = {
            name[len("KIM_"):-len("_DB_URL")]: str(value)
            for name, value in env.items()
            if name.startswith("KIM_") and name.endswith("_DB_URL") and value
        }
        return cls(
            data_dir=data_dir,
            amqp_uri=str(get("AMQP_URI", DEFAULT_AMQP_URI)),
            gateway_address=str(get("KIM_GATEWAY_ADDRESS", "127.0.0.1:8000")),
            jwt_secret=secret,
            jwt_algorithms=_split(str(get("KIM_JWT_ALGORITHMS", "HS256"))),
            jwt_public_key_file=get("KIM_JWT_PUBLIC_KEY_FILE"),
            jwt_jwks_file=get("KIM_JWT_JWKS_FILE"),
            jwt_issuer=str(get("KIM_JWT_ISSUER", "kim-dev")),
            jwt_audience=str(get("KIM_JWT_AUDIENCE", "kim-api")),
            jwt_leeway=int(get("KIM_JWT_LEEWAY", 30)),
            jwt_max_lifetime=int(get("KIM_JWT_MAX_LIFETIME", 12 * 3600)),
            municipalities=municipalities,
            rpc_timeout=float(get("KIM_RPC_TIMEOUT", 5.0)),
            max_body_bytes=int(get("KIM_MAX_BODY_BYTES", 64 * 1024)),
            cors_origins=_split(str(get("KIM_CORS_ORIGINS", ""))),
            outbox_poll_seconds=float(get("KIM_OUTBOX_POLL_SECONDS", 1.0)),
            max_workers=int(get("KIM_MAX_WORKERS", 10)),
            event_retention_days=float(get("KIM_EVENT_RETENTION_DAYS", 30)),
            log_level=str(get("KIM_LOG_LEVEL", "INFO")).upper(),
            quorum_queues=_flag(get("KIM_QUORUM_QUEUES", "false"), "KIM_QUORUM_QUEUES"),
            event_max_attempts=int(get("KIM_EVENT_MAX_ATTEMPTS", 5)),
            idempotency_hours=float(get("KIM_IDEMPOTENCY_HOURS", 24)),
            analytics_min_cell=int(get("KIM_ANALYTICS_MIN_CELL", 5)),
            no_contact_days=int(get("KIM_NO_CONTACT_DAYS", 30)),
            oidc_issuer=get("KIM_OIDC_ISSUER"),
            oidc_client_id=str(get("KIM_OIDC_CLIENT_ID", "kim-app")),
            oidc_scopes=str(get("KIM_OIDC_SCOPES", "openid profile")),
            dev_signin=_flag(get("KIM_DEV_SIGNIN", "false"), "KIM_DEV_SIGNIN"),
            referral_expiry_days=float(get("KIM_REFERRAL_EXPIRY_DAYS", 14)),
            referral_expiry_check_seconds=float(get("KIM_REFERRAL_EXPIRY_CHECK_SECONDS", 3600)),
            rabbitmq_api=str(get("KIM_RABBITMQ_API", "http://127.0.0.1:15672")),
            rabbitmq_admin_user=get("KIM_RABBITMQ_ADMIN_USER"),
            rabbitmq_admin_password=get("KIM_RABBITMQ_ADMIN_PASSWORD"),
            cases_per_full_time=int(get("KIM_CASES_PER_FULL_TIME", 60)),
            full_time_hours=float(get("KIM_FULL_TIME_HOURS", 39)),
            case_reopen_days=int(get("KIM_CASE_REOPEN_DAYS", 90)),
            db_urls=db_urls,
        )
