"""deploy/prometheus and deploy/grafana agree with the code: Prometheus scrapes the seven services (compose and
the local stack), and every metric the Grafana dashboard queries is one the services expose
(oms_platform.metrics, or a read-model gauge a service registers). Reading files only; promtool, when
installed (Debian's prometheus package), also checks the configurations and the dashboard's PromQL."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from oms_cli.stack import SERVICES  # noqa: E402
from oms_contracts.topics import ALL_TOPICS  # noqa: E402
from oms_platform import metrics  # noqa: E402

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "oms-dashboard.json"
PORTS = {s.name: 8000 + s.port_offset for s in SERVICES}
# read-model gauges the services register with register_read_model_gauge (orchestrator, ledger): name -> labels
REGISTERED_BY_SERVICES = {"oms_orders": ("status",), "oms_stock_reserved_units": ()}
SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
# labels every scraped sample has (Prometheus adds them), and a histogram bucket's bound
SCRAPE_LABELS = {"job", "instance", "le"}


def families() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each shared family's name: its type and labels."""
    described = {}
    for family in metrics.FAMILIES:
        (description,) = family.describe()
        described[description.name] = (description.type, tuple(family._labelnames))
    return described


def exposed_sample_names() -> set[str]:
    names = {name + suffix for name, (kind, _) in families().items() for suffix in SAMPLE_SUFFIXES[kind]}
    return names | set(REGISTERED_BY_SERVICES)


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row keeps its panels
    return found


def queries(dashboard: dict) -> list[str]:
    """Every PromQL expression of the dashboard: its panels' targets and its variables' queries."""
    exprs = [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            exprs.append(query["query"] if isinstance(query, dict) else query)
    return exprs


def test_every_metric_the_dashboard_queries_is_one_the_services_expose(dashboard):
    used = {name for expr in queries(dashboard) for name in re.findall(r"\boms_[a-zA-Z0-9_:]*", expr)}
    unknown = used - exposed_sample_names()
    assert not unknown, f"the dashboard queries metrics no service exposes: {sorted(unknown)}"
    # and the dashboard shows every shared family but the read-model gauges' failures (a log line tells those)
    shown = {name for name in families() if any(n.startswith(name) for n in used)}
    assert shown == set(families()) - {"oms_read_model_gauge_failures"}
    assert set(REGISTERED_BY_SERVICES) <= used


def test_the_dashboard_groups_only_by_labels_its_metrics_have(dashboard):
    known = SCRAPE_LABELS | {label for _, labels in families().values() for label in labels}
    known |= {label for labels in REGISTERED_BY_SERVICES.values() for label in labels}
    for expr in queries(dashboard):
        for clause in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
            labels = {label.strip() for label in clause.split(",") if label.strip()}
            assert labels <= known, (expr, labels - known)
        for topic in re.findall(r'topic="([^"]+)"', expr):
            assert topic in {t.name for t in ALL_TOPICS}, expr


def test_the_dashboard_has_the_panels_operators_asked_for(dashboard):
    exprs = queries(dashboard)

    def some(*fragments: str) -> bool:
        return any(all(fragment in expr for fragment in fragments) for expr in exprs)

    for quantile in ("0.5", "0.95", "0.99"):
        assert some(f"histogram_quantile({quantile},", "oms_handler_duration_seconds_bucket")
    assert some("oms_consumer_lag", "partition")
    assert some("oms_outbox_backlog")
    assert some("rate(oms_dead_letters_total", "reason")
    assert some("rate(oms_http_requests_total", "by (status)")
    assert some("oms_messages_published_total", 'topic="oms.orchestrator.orders.v1"', "message_type")
    assert some("oms_messages_published_total", 'topic="oms.inventory.reservations.v1"', "message_type")
    assert some("oms_orders", "by (status)")
    assert some("oms_stock_reserved_units")


def test_the_dashboard_is_a_grafana_dashboard_on_a_prometheus_data_source(dashboard):
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]


@pytest.mark.parametrize("config, host", [("prometheus.yml", None), ("local.yml", "127.0.0.1")],
                         ids=["compose", "local stack"])
def test_prometheus_scrapes_every_service_on_its_port(config, host):
    scrape = yaml.safe_load((PROMETHEUS / config).read_text())["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape}
    assert set(jobs) == set(PORTS)
    for name, port in PORTS.items():
        job = jobs[name]
        assert job.get("metrics_path", "/metrics") == "/metrics"
        targets = [t for group in job["static_configs"] for t in group["targets"]]
        assert targets == [f"{host or name}:{port}"]


def test_compose_runs_prometheus_and_grafana_on_these_files():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name, port in PORTS.items():  # the compose targets are the services' own ports
        assert int(services[name]["environment"]["OMS_HTTP_PORT"]) == port

    def mounts(service: str) -> dict[str, Path]:
        found = {}
        for volume in services[service]["volumes"]:
            source, target = volume.split(":")[:2]
            assert (ROOT / source).exists(), volume
            found[target] = ROOT / source
        return found

    prometheus = services["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:")
    (config,) = [a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file=")]
    assert mounts("prometheus")[config].resolve() == (PROMETHEUS / "prometheus.yml").resolve()
    grafana = services["grafana"]
    assert grafana["image"].startswith("grafana/grafana:")
    grafana_mounts = mounts("grafana")
    provisioning = grafana_mounts["/etc/grafana/provisioning"]
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == f"http://prometheus:{prometheus['ports'][0].rsplit(':', 1)[1]}"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "oms.yml").read_text())["providers"]
    folder = provider["options"]["path"]
    dashboards = {target: source for target, source in grafana_mounts.items() if target.startswith(folder + "/")}
    assert [source.resolve() for source in dashboards.values()] == [DASHBOARD.resolve()]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus package) not installed")
def test_promtool_accepts_the_configurations_and_the_dashboards_queries(tmp_path):
    for config in ("prometheus.yml", "local.yml"):
        checked = subprocess.run(["promtool", "check", "config", "--syntax-only", str(PROMETHEUS / config)],
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    # the dashboard's PromQL, with Grafana's variables as Grafana fills them in, as recording rules
    exprs = queries(json.loads(DASHBOARD.read_text()))
    filled = [re.sub(r"\$\{service:regex\}|\$service", ".*", e).replace("$__rate_interval", "1m")
              .replace("$__range", "1h") for e in exprs if not e.startswith("label_values(")]
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"oms:dashboard:{i}", "expr": e}
                                                        for i, e in enumerate(filled)]}]}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    checked = subprocess.run(["promtool", "check", "rules", str(tmp_path / "rules.yml")], capture_output=True,
                             text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
