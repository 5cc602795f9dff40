"""One seller's SP-API connection against a scripted Amazon (httpx.MockTransport): Login with Amazon's
exchange and its cache, a refused token exchanged again once, retries on throttling and server errors
(Retry-After, the advertised rate, backoff), refusals handed back to the caller, SP-API's errors read."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest

from oms_platform.amazon_lwa import (
    LoginWithAmazonRefused,
    LwaCredentials,
    SellingPartnerAccessDenied,
    SellingPartnerConnection,
    SellingPartnerError,
    SellingPartnerUnavailable,
    sp_api_error,
)

pytestmark = pytest.mark.unit
CREDENTIALS = LwaCredentials("amzn1.application-oa2-client.test", "client-secret", "Atzr|refresh")
PACKAGE = "/easyShip/2022-03-23/package"
QUOTA = {
    "errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}]
}


class ScriptedAmazon:
    """LWA and SP-API as scripts: ``script[path]`` is served in turn (the last answer repeats)."""

    def __init__(self, script: dict[str, list[httpx.Response | Exception]]):
        self.script = {"/auth/o2/token": [token("Atza|one")], **script}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.script[request.url.path]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def calls(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def token(value: str, expires_in: int = 3600) -> httpx.Response:
    return httpx.Response(200, json={"access_token": value, "token_type": "bearer", "expires_in": expires_in})


def connection(
    amazon: ScriptedAmazon,
    *,
    clock: Clock | None = None,
    sleeps: list[float] | None = None,
    attempts: int = 5,
) -> SellingPartnerConnection:
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return SellingPartnerConnection(
        "https://sellingpartnerapi-eu.amazon.com/",
        CREDENTIALS,
        lwa_endpoint="https://api.amazon.co.uk",
        transport=httpx.MockTransport(amazon),
        clock=clock or Clock(),
        sleep=sleep,
        attempts=attempts,
        jitter=lambda: 1.0,
    )


async def test_the_refresh_token_is_exchanged_once_and_the_token_kept_until_near_its_expiry():
    clock = Clock()
    amazon = ScriptedAmazon(
        {
            "/auth/o2/token": [token("Atza|one"), token("Atza|two")],
            PACKAGE: [httpx.Response(200, json={"packageStatus": "ReadyForPickup"})],
        }
    )
    sp_api = connection(amazon, clock=clock)
    first = await sp_api.request("GET", PACKAGE, params={"amazonOrderId": "408-1"})
    clock.now += 3600 - 61
    await sp_api.request("GET", PACKAGE)
    clock.now += 2  # within the refresh margin (a minute): exchanged again
    await sp_api.request("GET", PACKAGE)
    await sp_api.aclose()
    assert first.status_code == 200 and first.json() == {"packageStatus": "ReadyForPickup"}
    exchanges = amazon.calls("/auth/o2/token")
    assert len(exchanges) == 2 and str(exchanges[0].url) == "https://api.amazon.co.uk/auth/o2/token"
    assert parse_qs(exchanges[0].content.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["Atzr|refresh"],
        "client_id": ["amzn1.application-oa2-client.test"],
        "client_secret": ["client-secret"],
    }
    calls = amazon.calls(PACKAGE)
    assert [c.headers["x-amz-access-token"] for c in calls] == ["Atza|one", "Atza|one", "Atza|two"]
    assert (
        str(calls[0].url)
        == "https://sellingpartnerapi-eu.amazon.com/easyShip/2022-03-23/package?amazonOrderId=408-1"
    )


async def test_a_short_lived_token_is_renewed_at_half_its_life():
    clock = Clock()
    amazon = ScriptedAmazon({"/auth/o2/token": [token("Atza|one", 60), token("Atza|two", 60)]})
    sp_api = connection(amazon, clock=clock)
    assert await sp_api.access_token() == "Atza|one"
    clock.now += 29
    assert await sp_api.access_token() == "Atza|one"
    clock.now += 2
    assert await sp_api.access_token() == "Atza|two"


async def test_login_with_amazon_refusals_are_raised_with_lwa_s_code():
    for status, error in ((400, "invalid_grant"), (401, "invalid_client")):
        amazon = ScriptedAmazon(
            {
                "/auth/o2/token": [
                    httpx.Response(
                        status, json={"error": error, "error_description": "Client authentication failed"}
                    )
                ]
            }
        )
        with pytest.raises(LoginWithAmazonRefused) as refused:
            await connection(amazon).request("GET", PACKAGE)
        assert (refused.value.status, refused.value.code) == (status, error)
        assert isinstance(refused.value, SellingPartnerError) and "Client authentication failed" in str(
            refused.value
        )
        assert not amazon.calls(PACKAGE)


async def test_a_refused_token_is_exchanged_again_once_then_access_is_denied():
    denied = httpx.Response(
        403,
        json={
            "errors": [
                {
                    "code": "Unauthorized",
                    "message": "Access to requested resource is denied.",
                    "details": "The access token you provided has expired.",
                }
            ]
        },
    )
    amazon = ScriptedAmazon(
        {
            "/auth/o2/token": [token("Atza|one"), token("Atza|two")],
            PACKAGE: [denied, httpx.Response(200, json={})],
        }
    )
    assert (await connection(amazon).request("GET", PACKAGE)).status_code == 200
    assert [c.headers["x-amz-access-token"] for c in amazon.calls(PACKAGE)] == ["Atza|one", "Atza|two"]

    amazon = ScriptedAmazon({"/auth/o2/token": [token("Atza|one"), token("Atza|two")], PACKAGE: [denied]})
    with pytest.raises(SellingPartnerAccessDenied) as refused:
        await connection(amazon).request("GET", PACKAGE)
    assert (refused.value.status, refused.value.code) == (403, "Unauthorized") and "expired" in str(
        refused.value
    )
    assert len(amazon.calls(PACKAGE)) == 2


async def test_throttling_and_server_errors_are_retried_honouring_retry_after_and_the_rate():
    amazon = ScriptedAmazon(
        {
            PACKAGE: [
                httpx.Response(429, json=QUOTA, headers={"Retry-After": "3"}),
                httpx.Response(429, json=QUOTA, headers={"x-amzn-RateLimit-Limit": "0.2"}),
                httpx.Response(
                    503, json={"errors": [{"code": "ServiceUnavailable", "message": "try later"}]}
                ),
                httpx.Response(429, json=QUOTA, headers={"Retry-After": "600"}),
                httpx.Response(200, json={"done": True}),
            ]
        }
    )
    sleeps: list[float] = []
    answer = await connection(amazon, sleeps=sleeps).request("GET", PACKAGE)
    assert answer.json() == {"done": True}
    # Retry-After 3 s; a request's worth of 0.2/s is 5 s (above the 2 s backoff); backoff 4 s; at most 60 s
    assert sleeps == [3.0, 5.0, 4.0, 60.0]


async def test_every_attempt_failing_is_unavailable_and_refusals_are_the_callers_to_read():
    amazon = ScriptedAmazon(
        {PACKAGE: [httpx.Response(429, json=QUOTA, headers={"x-amzn-RequestId": "req-9"})]}
    )
    with pytest.raises(SellingPartnerUnavailable) as unavailable:
        await connection(amazon, attempts=3).request("GET", PACKAGE)
    assert (unavailable.value.status, unavailable.value.code, unavailable.value.request_id) == (
        429,
        "QuotaExceeded",
        "req-9",
    )
    assert len(amazon.calls(PACKAGE)) == 3

    amazon = ScriptedAmazon({PACKAGE: [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")]})
    with pytest.raises(SellingPartnerUnavailable, match="failed 2 times"):
        await connection(amazon, attempts=2).request("GET", PACKAGE)

    refusal = httpx.Response(
        400,
        json={"errors": [{"code": "InvalidInput", "message": "Order is not Easy Ship.", "details": "408-1"}]},
        headers={"x-amzn-RequestId": "req-1"},
    )
    amazon = ScriptedAmazon({PACKAGE: [refusal]})
    answer = await connection(amazon).request("POST", PACKAGE, json={"amazonOrderId": "408-1"})
    assert answer.status_code == 400 and len(amazon.calls(PACKAGE)) == 1  # not retried
    error = sp_api_error(SellingPartnerError, "Easy Ship refused", answer)
    assert (error.status, error.code, error.request_id) == (400, "InvalidInput", "req-1")
    assert str(error) == (
        "Easy Ship refused (400 POST /easyShip/2022-03-23/package): "
        "InvalidInput: Order is not Easy Ship. (408-1)"
    )
