-- One database per service ("oms_" + service name with "_" for "-"), as the local stack makes them.
-- Runs once, when the postgres volume is first initialised.
CREATE DATABASE oms_channel_gateway;
CREATE DATABASE oms_order_orchestrator;
CREATE DATABASE oms_inventory_ledger;
CREATE DATABASE oms_router;
CREATE DATABASE oms_shipping;
CREATE DATABASE oms_returns;
CREATE DATABASE oms_erp_bridge;
