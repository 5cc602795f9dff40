"""What each ErpDocument event becomes on Kafka (topic ERP_DOCUMENTS, keyed by order id)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms_contracts import erp as c
from oms_contracts.topics import ERP_DOCUMENTS
from oms_platform.outbox_relay import Publication

from ..domain.erp_document import ErpDocument


def erp_publications(event: Any) -> Sequence[Publication]:
    e = event.__dict__
    match event:
        case ErpDocument.Recorded():
            return [Publication(ERP_DOCUMENTS, e["order_id"], c.ErpDocumentRecorded(
                order_id=e["order_id"], document_id=str(event.originator_id), kind=e["kind"], number=e["number"],
                total=e["total"], currency=e["currency"]))]
    return []
