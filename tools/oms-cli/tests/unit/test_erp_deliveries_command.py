"""``oms erp deliveries | delivery | resend`` against the erp-bridge's delivery API served by uvicorn on a free port
(the bridge's application in memory, its delivery desk handing documents to the simulated ERP in process): the
delivery log drawn and filtered, one delivery with its attempts, the dead letters re-sent after a fix and recorded
once at the ERP, a re-send refused while a document is on its way, an unknown document, a command used wrongly."""

import asyncio
import threading
import time
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import httpx
import pytest
import uvicorn
from erp_bridge.adapters.delivery_api import document_delivery_routes
from erp_bridge.adapters.delivery_log import InMemoryDeliveryLog, delivery_log_projection
from erp_bridge.adapters.erp_delivery_desk import (
    ErpDeliveryDesk,
    delivery_schedule_projection,
    in_memory_delivery_schedule,
)
from erp_bridge.adapters.erp_transports import ErpWebhook
from erp_bridge.application.erp_documents import ErpDocuments
from erp_bridge.domain.document_delivery import DeliveryRetryPolicy
from rich.console import Console
from typer.testing import CliRunner

from oms_cli import erp_deliveries
from oms_cli.main import app as oms
from oms_cli.simulators.erp import erp_simulator
from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit
SECRET = "cli-test-secret"


class Bridge:
    def __init__(self) -> None:
        self.documents = ErpDocuments(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.log = InMemoryDeliveryLog()
        schedule = in_memory_delivery_schedule()
        self.projections = [delivery_log_projection(self.documents, self.log),
                            delivery_schedule_projection(self.documents, schedule)]
        self.erp = erp_simulator(SECRET)
        self.transport = ErpWebhook("http://erp.test/erp/documents", SECRET,
                                    transport=httpx.ASGITransport(app=self.erp))
        self.desk = ErpDeliveryDesk(self.documents, schedule, self.transport, lease=timedelta(seconds=60),
                                    call_timeout=5.0, policy=DeliveryRetryPolicy(max_attempts=1))

    def settle(self) -> None:
        for projection in self.projections:
            while projection.catch_up():
                pass

    def work(self) -> None:
        self.settle()

        async def one_round() -> None:
            try:
                await self.desk.work_due()
            finally:
                await self.transport.aclose()
        asyncio.run(one_round())
        self.settle()


@pytest.fixture
def served():
    """The bridge, and the URL its delivery API is served at."""
    bridge = Bridge()
    app = create_http_app("erp-bridge", title="erp-bridge")
    app.include_router(document_delivery_routes(bridge.documents, bridge.log))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield bridge, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def run(*args: str) -> tuple[int, str]:
    erp_deliveries.console = Console(width=250, force_terminal=False)
    result = CliRunner().invoke(oms, ["erp", *args])
    return result.exit_code, result.output


def test_the_operator_lists_looks_at_and_resends_the_dead_letters(served):
    bridge, url = served
    order_id = str(uuid4())
    documents = [bridge.documents.record_document(kind=kind, order_id=order, total=Decimal("998.00"),
                                                  lines=[{"sku": "TSHIRT-M", "quantity": 2}], currency="INR",
                                                  source_event_id=str(uuid4()))
                 for kind, order in (("sale_order", order_id), ("invoice", str(uuid4())))]
    numbers = [bridge.documents.document(d)["number"] for d in documents]
    bridge.erp.state.simulator.fail_next(2, 503)
    bridge.work()  # one attempt each (max_attempts=1): both dead-lettered

    code, shown = run("deliveries", "--state", "dead_lettered", "--url", url)
    assert code == 0, shown
    assert all(number in shown for number in numbers) and shown.count("dead_lettered") == 2
    assert "the ERP answered 503" in shown
    code, shown = run("deliveries", "--state", "delivered", "--url", url)
    assert code == 0 and "no deliveries" in shown

    code, shown = run("resend", "--all-dead-lettered", "--by", "asha", "--url", url)
    assert code == 0 and "2 dead-lettered deliveries re-sent" in shown
    assert all(str(d) in shown for d in documents)
    code, shown = run("resend", str(documents[0]), "--url", url)
    assert code == 1 and "409" in shown and "on its way" in shown
    bridge.work()

    code, shown = run("delivery", str(documents[1]), "--url", url)
    assert code == 0, shown
    assert "ERP-INV-000001" in shown and "dead_lettered" in shown and "delivered" in shown
    assert "re-sent by asha" in shown
    code, shown = run("deliveries", "--order", order_id, "--json", "--url", url)
    assert code == 0 and shown.count('"state": "delivered"') == 1 and numbers[0] in shown and numbers[1] not in shown
    received = bridge.erp.state.simulator.shown()["documents"]
    assert sorted(d["number"] for d in received) == sorted(numbers) and {d["received"] for d in received} == {1}

    code, shown = run("resend", str(documents[1]), "--by", "asha", "--url", url)
    assert code == 0 and "on its way to the ERP again" in shown and "was delivered" in shown
    bridge.work()
    received = bridge.erp.state.simulator.shown()["documents"]
    assert {d["number"]: d["received"] for d in received} == {numbers[0]: 1, numbers[1]: 2}


def test_an_unknown_document_a_wrong_state_a_command_used_wrongly_and_no_bridge(served):
    _, url = served
    code, shown = run("delivery", str(uuid4()), "--url", url)
    assert code == 1 and "404 Document not found" in shown
    code, shown = run("delivery", "not-a-uuid", "--url", url)
    assert code == 1 and "422" in shown and "/document_id" in shown
    code, shown = run("deliveries", "--state", "lost", "--url", url)
    assert code == 2
    code, shown = run("resend", "--url", url)
    assert code == 2 and "one of the two" in shown
    code, shown = run("resend", str(uuid4()), "--all-dead-lettered", "--url", url)
    assert code == 2
    code, shown = run("deliveries", "--url", "http://127.0.0.1:9")
    assert code == 1 and "did not answer" in shown
