"""The simulated payment provider through FastAPI's TestClient, and the orchestrator's HttpPaymentProvider
against it: authorise (approved, each decline), partial then final capture, over-capture refused, void and
void after capture refused, refund, idempotent replays and reused keys, outages retried or outlasting the
attempts, a wrong key. The client reaches the simulator in process through a synchronous transport over the
TestClient (httpx.ASGITransport is asynchronous only); one test serves it with uvicorn on a free port."""

import threading
import time
from decimal import Decimal

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from order_orchestrator.adapters.payment_provider import (
    HttpPaymentProvider,
    PaymentProviderMisconfigured,
    PaymentProviderUnavailable,
    ProviderAnswer,
    payment_provider_from_env,
)

from oms_cli.simulators.payment_provider import payment_provider_simulator

pytestmark = pytest.mark.unit
KEY = "sim-test-key"
BASE_URL = "http://payments.test"
AUTHORISE = {"token": "tok_visa", "amount": "1299.00", "currency": "INR", "reference": "order-1",
             "payment_id": "pay-1"}


class SimulatorTransport(httpx.BaseTransport):
    """A synchronous httpx transport that hands each request to the app through Starlette's TestClient."""

    def __init__(self, app) -> None:
        self._client = TestClient(app, base_url=BASE_URL)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self._client.request(request.method, str(request.url), headers=dict(request.headers),
                                      content=request.read())
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    def close(self) -> None:
        self._client.close()


@pytest.fixture
def app():
    return payment_provider_simulator(api_key=KEY)


@pytest.fixture
def http(app):
    with TestClient(app, base_url=BASE_URL, headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def provider(app, sleeps):
    client = HttpPaymentProvider(BASE_URL, KEY, transport=SimulatorTransport(app), sleep=sleeps.append,
                                 jitter=lambda: 0.0)
    yield client
    client.close()


def post(http: TestClient, path: str, key: str | None, document: dict | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return http.post(path, json=document, headers=headers) if document is not None else http.post(
        path, headers=headers)


def authorised(http: TestClient, key: str = "pay-1", **changes) -> str:
    answer = post(http, "/v1/authorisations", key, AUTHORISE | {"payment_id": key} | changes)
    assert answer.status_code == 201 and answer.json()["status"] == "authorised", answer.text
    return answer.json()["authorisation_id"]


def ledger(http: TestClient) -> dict:
    return http.get("/simulator/ledger").json()


def stats(http: TestClient) -> dict:
    return http.get("/simulator/stats").json()


# the simulator on its own


def test_an_authorisation_is_approved_for_every_approving_test_token(http):
    for n, token in enumerate(("tok_visa", "tok_mastercard", "tok_rupay", "tok_upi", "tok_anythingElse")):
        answer = post(http, "/v1/authorisations", f"pay-{n}", AUTHORISE | {"token": token, "amount": "10.5"})
        assert answer.status_code == 201
        body = answer.json()
        assert body["authorisation_id"].startswith("auth_")
        assert {k: v for k, v in body.items() if k != "authorisation_id"} == {
            "status": "authorised", "decline_reason": None, "amount": "10.50", "currency": "INR",
            "authorised_amount": "10.50"}
    assert stats(http)["authorisations"] == 5


@pytest.mark.parametrize(("token", "reason"), [("tok_chargeDeclined", "card_declined"),
                                               ("tok_insufficientFunds", "insufficient_funds"),
                                               ("tok_expiredCard", "expired_card")])
def test_declining_tokens_are_declined_with_their_reason(http, token, reason):
    answer = post(http, "/v1/authorisations", "pay-d", AUTHORISE | {"token": token})
    assert answer.status_code == 201
    body = answer.json()
    assert (body["status"], body["decline_reason"], body["authorised_amount"]) == ("declined", reason, "0.00")
    capture = post(http, f"/v1/authorisations/{body['authorisation_id']}/captures", "cap-d",
                   {"amount": "1.00", "final": True})
    assert capture.status_code == 409 and capture.json()["error"]["code"] == "authorisation_declined"


@pytest.mark.parametrize(("changes", "code"), [
    ({"token": "4242424242424242"}, "invalid_token"),
    ({"amount": "0"}, "invalid_amount"),
    ({"amount": "-5.00"}, "invalid_amount"),
    ({"amount": "10.001"}, "invalid_amount"),
    ({"amount": 10}, "invalid_amount"),
    ({"amount": "ten"}, "invalid_amount"),
    ({"currency": "inr"}, "invalid_currency"),
    ({"currency": "RUPEE"}, "invalid_currency"),
    ({"reference": ""}, "invalid_reference"),
])
def test_malformed_authorisations_are_400_and_not_kept(http, changes, code):
    answer = post(http, "/v1/authorisations", "pay-bad", AUTHORISE | changes)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == code
    assert set(answer.json()["error"]) == {"code", "message"}
    assert post(http, "/v1/authorisations", "pay-bad", AUTHORISE).status_code == 201  # the key is still free


def test_the_v1_api_needs_the_key_and_an_idempotency_key(app, http):
    with TestClient(app, base_url=BASE_URL) as anonymous:
        assert post(anonymous, "/v1/authorisations", "pay-1", AUTHORISE).status_code == 401
        wrong = anonymous.post("/v1/authorisations", json=AUTHORISE,
                               headers={"Authorization": "Bearer nope", "Idempotency-Key": "pay-1"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorised"
    missing = post(http, "/v1/authorisations", None, AUTHORISE)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "idempotency_key_missing"
    assert ledger(http)["authorisations"] == [] and stats(http)["unauthorised"] == 2


def test_partial_captures_then_a_final_one_close_the_authorisation(http):
    auth = authorised(http)
    first = post(http, f"/v1/authorisations/{auth}/captures", "cap-1", {"amount": "500.00", "final": False})
    assert first.status_code == 201
    assert {k: first.json()[k] for k in ("amount", "captured_total", "status")} == {
        "amount": "500.00", "captured_total": "500.00", "status": "partially_captured"}
    last = post(http, f"/v1/authorisations/{auth}/captures", "cap-2", {"amount": "299.00", "final": True})
    assert {k: last.json()[k] for k in ("amount", "captured_total", "status")} == {
        "amount": "299.00", "captured_total": "799.00", "status": "captured"}
    after = post(http, f"/v1/authorisations/{auth}/captures", "cap-3", {"amount": "1.00", "final": False})
    assert after.status_code == 409 and after.json()["error"]["code"] == "authorisation_captured"
    [entry] = ledger(http)["authorisations"]
    assert (entry["status"], entry["captured_total"]) == ("captured", "799.00")
    assert [(c["amount"], c["final"]) for c in entry["captures"]] == [("500.00", False), ("299.00", True)]


def test_a_final_capture_of_nothing_only_releases_the_rest(http):
    auth = authorised(http)
    post(http, f"/v1/authorisations/{auth}/captures", "cap-1", {"amount": "100.00", "final": False})
    close = post(http, f"/v1/authorisations/{auth}/captures", "cap-2", {"amount": "0.00", "final": True})
    assert close.status_code == 201 and close.json()["status"] == "captured"
    assert close.json()["captured_total"] == "100.00"
    other = authorised(http, "pay-2")
    nothing = post(http, f"/v1/authorisations/{other}/captures", "cap-3", {"amount": "0.00", "final": True})
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "nothing_captured"
    zero = post(http, f"/v1/authorisations/{other}/captures", "cap-4", {"amount": "0.00", "final": False})
    assert zero.status_code == 400


def test_captures_may_not_exceed_the_authorisation(http):
    auth = authorised(http)
    post(http, f"/v1/authorisations/{auth}/captures", "cap-1", {"amount": "1000.00", "final": False})
    over = post(http, f"/v1/authorisations/{auth}/captures", "cap-2", {"amount": "299.01", "final": False})
    assert over.status_code == 422 and over.json()["error"]["code"] == "amount_exceeds_authorisation"
    rest = post(http, f"/v1/authorisations/{auth}/captures", "cap-3", {"amount": "299.00", "final": False})
    assert rest.json()["status"] == "captured"  # all of it: nothing left to release


def test_void_only_while_nothing_is_captured(http):
    auth = authorised(http)
    void = post(http, f"/v1/authorisations/{auth}/void", "void-1")
    assert void.status_code == 201 and void.json()["status"] == "voided"
    assert void.json()["void_id"].startswith("void_")
    capture = post(http, f"/v1/authorisations/{auth}/captures", "cap-1", {"amount": "1.00", "final": True})
    assert capture.status_code == 409 and capture.json()["error"]["code"] == "authorisation_voided"
    captured = authorised(http, "pay-2")
    post(http, f"/v1/authorisations/{captured}/captures", "cap-2", {"amount": "1.00", "final": False})
    refused = post(http, f"/v1/authorisations/{captured}/void", "void-2")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "authorisation_captured"


def test_refunds_may_not_exceed_the_capture(http):
    auth = authorised(http)
    capture = post(http, f"/v1/authorisations/{auth}/captures", "cap-1",
                   {"amount": "800.00", "final": True}).json()["capture_id"]
    first = post(http, f"/v1/captures/{capture}/refunds", "ref-1", {"amount": "300.00"})
    assert first.status_code == 201
    assert {k: first.json()[k] for k in ("amount", "refunded_total")} == {"amount": "300.00",
                                                                         "refunded_total": "300.00"}
    over = post(http, f"/v1/captures/{capture}/refunds", "ref-2", {"amount": "500.01"})
    assert over.status_code == 422 and over.json()["error"]["code"] == "amount_exceeds_capture"
    rest = post(http, f"/v1/captures/{capture}/refunds", "ref-3", {"amount": "500.00"})
    assert rest.json()["refunded_total"] == "800.00"
    [entry] = ledger(http)["authorisations"]
    assert entry["refunded_total"] == "800.00"
    assert [r["amount"] for r in entry["captures"][0]["refunds"]] == ["300.00", "500.00"]


def test_unknown_ids_are_404(http):
    for n, (path, code) in enumerate((("/v1/authorisations/auth_nope/captures", "authorisation_not_found"),
                                      ("/v1/authorisations/auth_nope/void", "authorisation_not_found"),
                                      ("/v1/captures/cap_nope/refunds", "capture_not_found"))):
        answer = post(http, path, f"key-{n}", {} if path.endswith("void") else {"amount": "1.00"})
        assert answer.status_code == 404 and answer.json()["error"]["code"] == code


def test_the_same_key_and_body_answer_the_same_without_a_second_effect(http):
    first = post(http, "/v1/authorisations", "pay-1", AUTHORISE)
    again = post(http, "/v1/authorisations", "pay-1", AUTHORISE)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    auth = first.json()["authorisation_id"]
    capture = {"amount": "100.00", "final": False}
    one = post(http, f"/v1/authorisations/{auth}/captures", "cap-1", capture)
    two = post(http, f"/v1/authorisations/{auth}/captures", "cap-1", capture)
    assert one.json() == two.json() and two.json()["captured_total"] == "100.00"
    over = {"amount": "5000.00", "final": False}
    refusals = [post(http, f"/v1/authorisations/{auth}/captures", "cap-2", over) for _ in range(2)]
    assert [r.status_code for r in refusals] == [422, 422] and refusals[0].json() == refusals[1].json()
    [entry] = ledger(http)["authorisations"]
    assert (entry["replays"], entry["captured_total"]) == (1, "100.00")
    assert [(c["idempotency_key"], c["replays"]) for c in entry["captures"]] == [("cap-1", 1)]
    assert ledger(http)["idempotency_keys"]["cap-2"] == {
        "route": f"POST /v1/authorisations/{auth}/captures", "status": 422, "replays": 1}
    assert stats(http)["replays"] == 3 and stats(http)["captures"] == 1


def test_the_same_key_with_another_body_or_route_is_refused(http):
    auth = authorised(http)
    reused = post(http, "/v1/authorisations", "pay-1", AUTHORISE | {"amount": "1.00"})
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"
    elsewhere = post(http, f"/v1/authorisations/{auth}/void", "pay-1")
    assert elsewhere.status_code == 422 and elsewhere.json()["error"]["code"] == "idempotency_key_reused"
    assert len(ledger(http)["authorisations"]) == 1 and ledger(http)["authorisations"][0]["status"] == "authorised"


def test_an_outage_fails_the_next_calls_with_its_status_and_retry_after(http):
    plan = http.post("/simulator/outage", json={"count": 2, "status": 429, "retry_after_s": 1.5})
    assert plan.json() == {"outage_calls": 2}
    refused = [post(http, "/v1/authorisations", "pay-1", AUTHORISE) for _ in range(2)]
    assert [(r.status_code, r.headers.get("Retry-After")) for r in refused] == [(429, "1.5"), (429, "1.5")]
    assert refused[0].json()["error"]["code"] == "rate_limited"
    assert post(http, "/v1/authorisations", "pay-1", AUTHORISE).status_code == 201  # not kept: first answer
    assert stats(http)["refused_by_outage"] == 2 and stats(http)["authorisations"] == 1
    assert http.post("/simulator/outage", json={"count": 1, "status": 418}).status_code == 422


# the orchestrator's client against it


def test_client_authorises_and_declines(provider, http):
    answer = provider.authorise(payment_id="pay-1", order_id="order-1", token="tok_visa",
                                amount=Decimal("1299"), currency="INR")
    assert answer.approved and answer.reason is None and answer.reference.startswith("auth_")
    for n, (token, reason) in enumerate((("tok_chargeDeclined", "card_declined"),
                                         ("tok_insufficientFunds", "insufficient_funds"),
                                         ("tok_expiredCard", "expired_card"))):
        declined = provider.authorise(payment_id=f"pay-d{n}", order_id="order-2", token=token,
                                      amount=Decimal("10.00"), currency="INR")
        assert (declined.approved, declined.reason) == (False, reason) and declined.reference
    entry = ledger(http)["authorisations"][0]
    assert (entry["payment_id"], entry["reference"], entry["amount"]) == ("pay-1", "order-1", "1299.00")
    assert entry["idempotency_key"] == "pay-1"


def test_client_captures_in_parts_refuses_over_capture_and_refunds(provider, http):
    auth = provider.authorise(payment_id="pay-1", order_id="order-1", token="tok_rupay",
                              amount=Decimal("1000.00"), currency="INR").reference
    part = provider.capture(capture_id="cap-1", authorisation=auth, amount=Decimal("600"), final=False)
    assert part.approved and part.reference.startswith("cap_")
    over = provider.capture(capture_id="cap-2", authorisation=auth, amount=Decimal("400.01"), final=False)
    assert over == ProviderAnswer(approved=False, reference=None, reason="amount_exceeds_authorisation")
    last = provider.capture(capture_id="cap-3", authorisation=auth, amount=Decimal("150.00"), final=True)
    assert last.approved
    late = provider.capture(capture_id="cap-4", authorisation=auth, amount=Decimal("1"), final=False)
    assert (late.approved, late.reason) == (False, "authorisation_captured")
    refund = provider.refund(refund_id="ref-1", capture=part.reference, amount=Decimal("600.00"))
    assert refund.approved and refund.reference.startswith("ref_")
    too_much = provider.refund(refund_id="ref-2", capture=last.reference, amount=Decimal("150.01"))
    assert (too_much.approved, too_much.reason) == (False, "amount_exceeds_capture")
    [entry] = ledger(http)["authorisations"]
    assert (entry["status"], entry["captured_total"], entry["refunded_total"]) == ("captured", "750.00", "600.00")


def test_client_voids_and_is_refused_a_void_after_capture(provider):
    auth = provider.authorise(payment_id="pay-1", order_id="order-1", token="tok_upi",
                              amount=Decimal("50"), currency="INR").reference
    void = provider.void(void_id="void-1", authorisation=auth)
    assert void.approved and void.reference.startswith("void_")
    captured = provider.authorise(payment_id="pay-2", order_id="order-2", token="tok_mastercard",
                                  amount=Decimal("50"), currency="INR").reference
    assert provider.capture(capture_id="cap-1", authorisation=captured, amount=Decimal("50"), final=True).approved
    refused = provider.void(void_id="void-2", authorisation=captured)
    assert (refused.approved, refused.reason) == (False, "authorisation_captured")
    unknown = provider.void(void_id="void-3", authorisation="auth_nope")
    assert (unknown.approved, unknown.reason) == (False, "authorisation_not_found")


def test_client_calls_repeated_after_a_crash_have_no_second_effect(provider, http):
    def authorise() -> ProviderAnswer:
        return provider.authorise(payment_id="pay-1", order_id="order-1", token="tok_visa",
                                  amount=Decimal("200.00"), currency="INR")

    first, again = authorise(), authorise()
    assert first == again
    capture = [provider.capture(capture_id="cap-1", authorisation=first.reference, amount=Decimal("200"),
                                final=True) for _ in range(2)]
    refund = [provider.refund(refund_id="ref-1", capture=capture[0].reference, amount=Decimal("20"))
              for _ in range(3)]
    assert capture[0] == capture[1] and refund[0] == refund[1] == refund[2]
    [entry] = ledger(http)["authorisations"]
    assert (entry["replays"], entry["captured_total"], entry["refunded_total"]) == (1, "200.00", "20.00")
    [cap] = entry["captures"]
    assert (cap["replays"], [(r["idempotency_key"], r["replays"]) for r in cap["refunds"]]) == (1, [("ref-1", 2)])


def test_client_reusing_an_id_for_another_request_is_refused(provider):
    provider.authorise(payment_id="pay-1", order_id="order-1", token="tok_visa", amount=Decimal("10"),
                       currency="INR")
    reused = provider.authorise(payment_id="pay-1", order_id="order-1", token="tok_visa", amount=Decimal("11"),
                                currency="INR")
    assert reused == ProviderAnswer(approved=False, reference=None, reason="idempotency_key_reused")


@pytest.mark.parametrize("status", [503, 429, 500])
def test_client_retries_an_outage_honouring_retry_after_then_succeeds(provider, http, sleeps, status):
    http.post("/simulator/outage", json={"count": 2, "status": status, "retry_after_s": 0.25})
    answer = provider.authorise(payment_id="pay-1", order_id="order-1", token="tok_visa", amount=Decimal("10"),
                                currency="INR")
    assert answer.approved and sleeps == [0.25, 0.25]
    assert stats(http)["calls"] == 3 and stats(http)["authorisations"] == 1
    assert ledger(http)["authorisations"][0]["replays"] == 0


def test_client_caps_retry_after_and_backs_off_without_one(app, http, sleeps):
    http.post("/simulator/outage", json={"count": 1, "status": 503, "retry_after_s": 3600})
    with HttpPaymentProvider(BASE_URL, KEY, transport=SimulatorTransport(app), sleep=sleeps.append,
                             max_wait_s=2.0, backoff_s=0.5, jitter=lambda: 1.0) as provider:
        assert provider.authorise(payment_id="pay-1", order_id="order-1", token="tok_visa",
                                  amount=Decimal("10"), currency="INR").approved
        http.post("/simulator/outage", json={"count": 2, "status": 500, "retry_after_s": None})
        assert provider.void(void_id="void-1", authorisation=ledger(http)["authorisations"][0]
                             ["authorisation_id"]).approved
    assert sleeps == [2.0, 0.5, 1.0]


def test_an_outage_longer_than_the_attempts_is_unavailable_and_the_retry_later_succeeds(app, provider, http,
                                                                                        sleeps):
    http.post("/simulator/outage", json={"count": 4, "status": 503, "retry_after_s": 0.1})
    with pytest.raises(PaymentProviderUnavailable) as unavailable:
        provider.authorise(payment_id="pay-1", order_id="order-1", token="tok_visa", amount=Decimal("10"),
                           currency="INR")
    assert (unavailable.value.status, unavailable.value.code) == (503, "service_unavailable")
    assert len(sleeps) == 2 and stats(http)["calls"] == 3 and ledger(http)["authorisations"] == []
    with pytest.raises(PaymentProviderUnavailable):  # the fourth refused call
        HttpPaymentProvider(BASE_URL, KEY, attempts=1, transport=SimulatorTransport(app)).authorise(
            payment_id="pay-1", order_id="order-1", token="tok_visa", amount=Decimal("10"), currency="INR")
    assert provider.authorise(payment_id="pay-1", order_id="order-1", token="tok_visa", amount=Decimal("10"),
                              currency="INR").approved


def test_network_errors_are_retried_then_unavailable(sleeps):
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["Idempotency-Key"])
        raise httpx.ConnectError("connection refused", request=request)

    with HttpPaymentProvider(BASE_URL, KEY, transport=httpx.MockTransport(refuse), sleep=sleeps.append,
                             jitter=lambda: 0.0) as provider, pytest.raises(PaymentProviderUnavailable):
        provider.refund(refund_id="ref-1", capture="cap_1", amount=Decimal("1"))
    assert calls == ["ref-1"] * 3 and sleeps == [0.1, 0.2]


def test_a_wrong_key_or_a_malformed_request_is_misconfigured(app, provider, sleeps):
    with HttpPaymentProvider(BASE_URL, "not-the-key", transport=SimulatorTransport(app),
                             sleep=sleeps.append) as wrong, pytest.raises(PaymentProviderMisconfigured) as refused:
        wrong.authorise(payment_id="pay-1", order_id="order-1", token="tok_visa", amount=Decimal("10"),
                        currency="INR")
    assert (refused.value.status, refused.value.code) == (401, "unauthorised") and sleeps == []
    with pytest.raises(PaymentProviderMisconfigured) as bad:
        provider.authorise(payment_id="pay-2", order_id="order-1", token="4242424242424242", amount=Decimal("10"),
                           currency="INR")
    assert (bad.value.status, bad.value.code) == (400, "invalid_token")
    with pytest.raises(PaymentProviderMisconfigured):
        provider.capture(capture_id="cap-1", authorisation="auth_x", amount=Decimal("0.001"), final=False)
    not_the_provider = httpx.MockTransport(lambda request: httpx.Response(404, text="<h1>Not Found</h1>"))
    with HttpPaymentProvider(BASE_URL, KEY, transport=not_the_provider) as elsewhere, pytest.raises(
            PaymentProviderMisconfigured):
        elsewhere.void(void_id="void-1", authorisation="auth_x")


def test_payment_provider_from_env():
    assert payment_provider_from_env({}) is None
    assert payment_provider_from_env({"OMS_PAYMENT_PROVIDER_URL": " "}) is None
    with pytest.raises(PaymentProviderMisconfigured):
        payment_provider_from_env({"OMS_PAYMENT_PROVIDER_URL": "http://localhost:8090"})
    provider = payment_provider_from_env({"OMS_PAYMENT_PROVIDER_URL": "http://localhost:8090",
                                          "OMS_PAYMENT_PROVIDER_KEY": "k"})
    assert isinstance(provider, HttpPaymentProvider)
    provider.close()


def test_client_against_the_simulator_served_by_uvicorn(app):
    """Over a real socket: Retry-After as a header, a replay, and a refused connection once it is gone."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    sleeps: list[float] = []
    try:
        httpx.post(f"{base_url}/simulator/outage", json={"count": 1, "status": 503, "retry_after_s": 0.05})
        with HttpPaymentProvider(base_url, KEY, sleep=sleeps.append) as provider:
            first = provider.authorise(payment_id="pay-1", order_id="order-1", token="tok_visa",
                                       amount=Decimal("99.90"), currency="INR")
            assert first.approved and sleeps == [0.05]
            assert provider.authorise(payment_id="pay-1", order_id="order-1", token="tok_visa",
                                      amount=Decimal("99.9"), currency="INR") == first
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    with HttpPaymentProvider(base_url, KEY, attempts=2, timeout=1.0, sleep=sleeps.append) as provider, \
            pytest.raises(PaymentProviderUnavailable):
        provider.void(void_id="void-1", authorisation=first.reference)
