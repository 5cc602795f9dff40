"""The web console for support staff and SREs, served by the orchestrator under ``/console``: order search,
an order's timeline with every event and its cause, stock by location (from the inventory-ledger), held orders
with release and cancel, behind a sign-in. Thin: it shows what the application's queries answer and calls its
use cases (``pages``); how it looks is ``presentation``, ``templates/`` and ``static/``."""
