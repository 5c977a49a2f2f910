"""What the unit tests of the services share: a stand-in for the caller and the services' units of work on
fresh SQLite files."""
import pytest

from services.casework import models as casework_models
from services.intake import models as intake_models
from services.shared.auth import caller_from_claims
from services.shared.db import Transactions, make_engine
from tests.conftest import LUEDENSCHEID


class StubCaller:
    """Replaces the CallerProvider: the caller a verified token would give."""

    def __init__(self, role="case_manager", municipalities=(LUEDENSCHEID,), sub="cm-1", team=None):
        self.caller = caller_from_claims({"sub": sub, "role": role, "municipalities": list(municipalities),
                                          "team": team})

    def require(self, permission):
        return self.caller.require(permission)


@pytest.fixture
def intake_tx(sqlite_urls):
    engine = make_engine(sqlite_urls["intake"])
    yield Transactions(engine, "intake", intake_models.metadata)
    engine.dispose()


@pytest.fixture
def casework_tx(sqlite_urls):
    engine = make_engine(sqlite_urls["casework"])
    yield Transactions(engine, "casework", casework_models.metadata)
    engine.dispose()
