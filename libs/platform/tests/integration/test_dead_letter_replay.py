"""Dead letters on a real broker and a real PostgreSQL, through a service assembled as every service is
(``assemble_service``): a message its handler refuses is dead-lettered while the partition moves on; after the fix
a replay through the API has its effect once, a second replay (also from a restarted process) changes nothing, and
the list shows it replayed."""

from __future__ import annotations

from uuid import uuid4

import httpx
import psycopg
import pytest

from oms_contracts.inventory import StockLevelChanged
from oms_contracts.topics import INVENTORY_STOCK_LEVELS, dead_letter_topic
from oms_platform.consumer import Delivery, PoisonMessage, run_step
from oms_platform.http import create_http_app
from oms_platform.kafka_probe import envelope_of, publish
from oms_platform.service_runtime import assemble_service
from oms_platform.testing import RunningWorkers, eventually
from oms_platform.testing_tallies import Mirrors

pytestmark = pytest.mark.integration

SERVICE = "returns"


def level(sku: str, on_hand: int) -> StockLevelChanged:
    return StockLevelChanged(sku=sku, location_id="WH-A", on_hand=on_hand, reserved=0, available=on_hand, version=1,
                             cause="count")


class Service:
    """A service process whose consumer mirrors stock levels, refusing the SKUs in ``refused``."""

    def __init__(self, settings, refused: set[str]):
        self.mirrors = Mirrors(env=settings.event_store_env())

        async def level_changed(d: Delivery) -> None:
            m: StockLevelChanged = d.message
            if m.sku in refused:
                raise PoisonMessage(f"{m.sku}: figures from a count not yet trusted")
            await run_step(self.mirrors.apply, tally=m.sku, amount=m.on_hand, tracking=d.tracking)

        self.process = assemble_service(settings, create_http_app(SERVICE, title=SERVICE), app=self.mirrors,
                                        handlers={StockLevelChanged: level_changed})

    def api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.process.http_app), base_url="http://svc",
                                 timeout=60)


async def test_a_dead_letter_replayed_after_the_fix_has_its_effect_once(service_settings):
    from devstack.kafka import create_topics

    namespace = f"dlq-{uuid4().hex[:8]}."
    settings = service_settings(SERVICE, topic_namespace=namespace)
    await create_topics(settings.kafka_bootstrap, [(namespace + t.name, t.partitions)
                                                   for t in (INVENTORY_STOCK_LEVELS, dead_letter_topic(SERVICE))])
    refused = {"SKU-COUNTED"}
    service = Service(settings, refused)
    async with RunningWorkers.of(service.process), service.api() as api:
        for sku, on_hand in (("SKU-COUNTED", 7), ("SKU-OK", 5)):
            await publish(settings.kafka_bootstrap, envelope_of(level(sku, on_hand), f"{sku}@WH-A", "inventory-ledger"),
                          INVENTORY_STOCK_LEVELS, namespace=namespace)
        await eventually(lambda: service.mirrors.seen("SKU-OK") == [5], what="the partition moving on")

        async def dead_letters() -> list[dict]:
            return (await api.get("/v1/dead-letters")).json()["dead_letters"]

        [letter] = await eventually(dead_letters, what="the dead letter")
        assert letter["source_topic"] == namespace + INVENTORY_STOCK_LEVELS.name and letter["key"] == "SKU-COUNTED@WH-A"
        assert letter["event_type"] == "StockLevelChanged" and "not yet trusted" in letter["reason"]
        assert letter["replayed"] is False and letter["consumer"] == settings.consumer_group()
        shown = (await api.get(f"/v1/dead-letters/{letter['id']}")).json()
        assert shown["original"]["payload"]["sku"] == "SKU-COUNTED" and shown["decoding_problem"] is None

        still = await api.post(f"/v1/dead-letters/{letter['id']}/replay")
        assert still.status_code == 422 and "not yet trusted" in still.json()["reason"]
        refused.clear()  # the fix
        replayed = await api.post(f"/v1/dead-letters/{letter['id']}/replay")
        assert replayed.status_code == 200 and replayed.json()["outcome"] == "replayed", replayed.text
        assert service.mirrors.seen("SKU-COUNTED") == [7]
        again = await api.post(f"/v1/dead-letters/{letter['id']}/replay")
        assert again.status_code == 200 and again.json()["outcome"] == "already_replayed"
        every = (await api.post("/v1/dead-letters/replay")).json()
        assert every["attempted"] == 0
        [listed] = await dead_letters()
        assert listed["replayed"] is True and listed["replay"]["attempts"] == 3
        assert (await api.get("/v1/dead-letters/0-999")).status_code == 404

    # another process of the service (a restart): its tracking records say the replay was done
    restarted = Service(settings, set())
    async with restarted.api() as api:
        third = await api.post(f"/v1/dead-letters/{letter['id']}/replay")
        assert third.status_code == 200 and third.json()["outcome"] == "already_replayed"
    assert restarted.mirrors.seen("SKU-COUNTED") == [7]
    with psycopg.connect(settings.dsn()) as conn:
        row = conn.execute("SELECT outcome, attempts, replayed_at IS NOT NULL FROM dead_letter_replays").fetchone()
    assert row == ("replayed", 4, True)
    service.mirrors.close()
    restarted.mirrors.close()
