"""The outside world of a local stack in one process: the payment provider under ``/payments`` and Amazon's
Selling Partner API (Login with Amazon, the Orders API, Listings Items quantities) under ``/amazon``, the
webstore's stock endpoint under ``/webstore``, the dropship vendors' portal under ``/vendors``, and where customer
notifications arrive: a mail relay (an SMTP server on ``OMS_MAIL_SIMULATOR_SMTP_PORT``, what it took under
``/mail``), an SMS gateway under ``/sms`` and the sales channels' status webhooks under ``/status-webhooks``; and
the couriers' booking and tracking APIs under ``/carriers`` (``carrier_api``).
``oms up``, the tests and the benchmark run it beside the seven services and point the orchestrator
(``OMS_PAYMENT_PROVIDER_URL``), the gateway's SP-API channel (``OMS_AMAZON_SP_API_ENDPOINT``,
``OMS_AMAZON_LWA_*``), the erp-bridge (``OMS_VENDOR_PORTAL_URL``) and shipping's notifications (``OMS_SMTP_*``,
``OMS_SMS_GATEWAY_URL``, ``OMS_WEBSTORE_STATUS_WEBHOOK_*``) and carrier bookings (``OMS_CARRIER_API_*``) at it,
and the ERP the erp-bridge delivers its documents to under ``/erp`` (``erp``; ``OMS_ERP_WEBHOOK_*``);
a deployment points them at the real ones.

Run it on its own with ``uvicorn --factory oms_cli.simulators.stack_simulators:stack_simulators``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .amazon_sp_api import sp_api_simulator
from .carrier_api import courier_simulator
from .erp import DEMO_ERP_WEBHOOK_SECRET, ErpSimulator, erp_simulator_routes
from .notification_receivers import (
    MailSimulator,
    mail_simulator,
    sms_gateway_simulator,
    start_smtp_server,
    status_webhook_receiver,
)
from .payment_provider import payment_provider_simulator
from .vendor_portal import vendor_portal_simulator

# the local stack's demo credentials of the simulated SP-API application (what the gateway is given)
SP_API_CLIENT_ID = "amzn1.application-oa2-client.oms-demo"
SP_API_CLIENT_SECRET = "oms-demo-client-secret"
SP_API_REFRESH_TOKEN = "Atzr|oms-demo-refresh-token"
# the key the webstore's status webhook is signed with on the local stack (shipping signs, the simulator checks)
DEMO_STATUS_WEBHOOK_SECRET = "webstore-status-demo-secret"


def webstore_stock_simulator() -> FastAPI:
    """The brand's webstore as the stock feed sees it: ``POST /stock`` ``{"channel", "sku", "quantity",
    "as_of"}`` is kept; ``GET /simulator/stock`` shows every SKU's figures in the order they came."""
    app = FastAPI(title="webstore stock endpoint (simulated)", openapi_url=None)
    received: dict[str, list[dict[str, Any]]] = {}

    @app.post("/stock")
    async def stock(request: Request) -> JSONResponse:
        try:
            update = await request.json()
            sku, quantity = str(update["sku"]), int(update["quantity"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected {channel, sku, quantity, as_of}"}, status_code=400)
        if quantity < 0:
            return JSONResponse({"error": "quantity must not be negative"}, status_code=422)
        received.setdefault(sku, []).append({"quantity": quantity, "as_of": update.get("as_of")})
        return JSONResponse({"sku": sku, "quantity": quantity}, status_code=200)

    @app.get("/simulator/stock")
    async def shown() -> dict[str, list[dict[str, Any]]]:
        return received

    return app


def stack_simulators() -> FastAPI:
    mail = MailSimulator()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # the mail relay's SMTP side, when the stack gave it a port (OMS_MAIL_SIMULATOR_SMTP_PORT)
        port = os.environ.get("OMS_MAIL_SIMULATOR_SMTP_PORT")
        server = await start_smtp_server(mail, os.environ.get("OMS_MAIL_SIMULATOR_SMTP_HOST") or "127.0.0.1",
                                         int(port)) if port else None
        try:
            yield
        finally:
            if server is not None:
                server.close()
                await server.wait_closed()

    app = FastAPI(title="local stack simulators: payment provider, Amazon SP-API, webstore, vendor portal, "
                        "mail relay, SMS gateway, status webhooks", openapi_url=None, lifespan=lifespan)
    app.mount("/payments", payment_provider_simulator(
        api_key=os.environ.get("OMS_PAYMENT_PROVIDER_KEY") or "payments-demo-key"))
    app.mount("/amazon", sp_api_simulator(client_id=SP_API_CLIENT_ID, client_secret=SP_API_CLIENT_SECRET,
                                          refresh_token=SP_API_REFRESH_TOKEN))

    app.mount("/webstore", webstore_stock_simulator())
    app.mount("/vendors", vendor_portal_simulator())
    # the couriers' booking and tracking APIs (OMS_CARRIER_SIMULATOR_*: webhooks to shipping, autoplay for the demo)
    app.mount("/carriers", courier_simulator())
    app.mount("/mail", mail_simulator(mail))
    app.mount("/sms", sms_gateway_simulator())
    app.mount("/status-webhooks", status_webhook_receiver(
        {"webstore": os.environ.get("OMS_WEBSTORE_STATUS_WEBHOOK_SECRET") or DEMO_STATUS_WEBHOOK_SECRET}))
    # the ERP the erp-bridge hands its documents to (/erp/documents; its controls under /simulator/erp)
    app.include_router(erp_simulator_routes(ErpSimulator(os.environ.get("OMS_ERP_WEBHOOK_SECRET")
                                                         or DEMO_ERP_WEBHOOK_SECRET)))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
