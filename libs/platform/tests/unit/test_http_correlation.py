"""Every request's correlation id reaches the work it causes and comes back in the response."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from oms_platform.http import create_http_app
from oms_platform.message_context import current_message_context

pytestmark = pytest.mark.unit


def _app():
    app = create_http_app("test-service", title="test")

    @app.get("/work")
    async def work():
        ctx = current_message_context()
        return {"correlation_id": ctx.correlation_id, "cause": ctx.cause_service}

    return app


def test_the_callers_correlation_id_is_used_and_echoed():
    with TestClient(_app()) as client:
        response = client.get("/work", headers={"X-Correlation-Id": "corr-123"})
    assert response.status_code == 200
    assert response.json() == {"correlation_id": "corr-123", "cause": "http"}
    assert response.headers["x-correlation-id"] == "corr-123"


def test_a_request_without_one_gets_a_new_correlation_id_also_on_errors():
    with TestClient(_app()) as client:
        first, second = client.get("/work"), client.get("/work")
        missing = client.get("/nowhere")
    assert first.json()["correlation_id"] == first.headers["x-correlation-id"]
    assert first.headers["x-correlation-id"] != second.headers["x-correlation-id"]
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["x-correlation-id"]
