"""No secret value in any log line across the whole suite's flows (this runs last)."""

from __future__ import annotations

from tests import conftest
from tests.sms_fakes import (
    SMSAERO_API_KEY,
    TWILIO_AUTH_TOKEN,
    VONAGE_API_SECRET,
    VONAGE_SIGNATURE_SECRET,
)

# Raw tokens from the Bitrix24 fixtures: data[TOKEN], and ONAPPINSTALL's OAuth tokens.
FIXTURE_TOKENS = (
    "fkp963yuv1ggkfbs5z3f5hy8lilm0iw6",
    "s6p6eclrvim6da22ft9ch94ekreb52lv",
    "4s386p3q0tr8dy89xvmt96234v3dljg8",
)
conftest.LOG_SCAN.secrets.update(
    {
        conftest.ADMIN_TOKEN,
        conftest.WEBHOOK_SECRET,
        conftest.MCN_API_TOKEN,
        conftest.PORTAL_APPLICATION_TOKEN,
        conftest.SECRETS_KEY,
        conftest.NEXT_SECRETS_KEY,
        TWILIO_AUTH_TOKEN,
        VONAGE_API_SECRET,
        VONAGE_SIGNATURE_SECRET,
        SMSAERO_API_KEY,
        *FIXTURE_TOKENS,
    }
)


def test_no_secret_reached_a_log_line() -> None:
    scan = conftest.LOG_SCAN
    assert scan.lines > 0, "nothing was logged: the scan saw no flows"
    assert scan.leaks == [], f"{len(scan.leaks)} log line(s) carry a secret: {scan.leaks[:5]}"
