"""Prometheus config and alert rules, Grafana provisioning and dashboard."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from deploy_support import (
    DOCKER,
    EXPORTED_METRICS,
    REJECTION_REASONS,
    check_promql,
    load_yaml,
    metric_families,
    require_tool,
    walk_dashboard_targets,
)

DASHBOARD = DOCKER / "grafana" / "dashboards" / "biotag.json"

# What the dashboard must show (the list), as metric families.
REQUIRED_ON_DASHBOARD = {
    "biotag_http_requests_total",  # request rate and errors
    "biotag_rejections_total",
    "biotag_http_request_duration_seconds",  # latency p50/p95/p99
    "biotag_queue_depth",
    "biotag_batch_size",
    "biotag_batch_tokens",
    "biotag_batch_padding_ratio",
    "biotag_inference_duration_seconds",  # per model (bundle)
    "biotag_entities_total",  # per type
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = require_tool("promtool", "apt-get install -y prometheus (as .ci/run does)")
    return subprocess.run(
        [tool, *args], capture_output=True, text=True, cwd=DOCKER, check=False, timeout=120
    )


def test_promtool_check_config() -> None:
    result = promtool("check", "config", "prometheus.yml")  # also checks its rule_files
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", "prometheus-alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_alert_unit_tests() -> None:
    result = promtool("test", "rules", "prometheus-alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def alert_rules() -> list[dict[str, Any]]:
    return [
        rule
        for group in load_yaml(DOCKER / "prometheus-alerts.yml")["groups"]
        for rule in group["rules"]
    ]


def test_alert_rules_are_complete_and_use_exported_metrics() -> None:
    rules = alert_rules()
    names = {rule["alert"] for rule in rules}
    assert {"BiotagDown", "BiotagHighLatencyP99", "BiotagOverloadRejections"} <= names
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert rule["annotations"]["summary"]
        assert "for" in rule, f"{rule['alert']}: a `for:` avoids paging on one bad scrape"
        problems = check_promql(rule["expr"])
        assert not problems.unknown_metrics, (rule["alert"], problems)
        assert not problems.unknown_labels, (rule["alert"], problems)
    unit_tests = load_yaml(DOCKER / "prometheus-alerts.test.yml")
    tested = {
        case["alertname"]
        for test in unit_tests["tests"]
        for case in test.get("alert_rule_test", [])
    }
    assert names <= tested, f"alerts without a promtool unit test: {names - tested}"


def test_rejection_reasons_in_rules_exist() -> None:
    for rule in alert_rules():
        for reasons in __import__("re").findall(r'reason[!=]~"([^"]+)"', rule["expr"]):
            assert set(reasons.split("|")) <= REJECTION_REASONS


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def test_dashboard_queries_use_only_exported_metrics_and_labels() -> None:
    queries = [target["expr"] for _panel, target in walk_dashboard_targets(dashboard()["panels"])]
    queries += [
        var["query"]["query"] for var in dashboard()["templating"]["list"] if var["type"] == "query"
    ]
    assert queries
    for query in queries:
        problems = check_promql(query)
        assert not problems.unknown_metrics, (query, problems)
        assert not problems.unknown_labels, (query, problems)


def test_dashboard_covers_the_required_views() -> None:
    used: set[str] = set()
    for _panel, target in walk_dashboard_targets(dashboard()["panels"]):
        used |= metric_families(target["expr"])
    missing = REQUIRED_ON_DASHBOARD - used
    assert not missing, f"no panel shows {missing}"
    assert used <= set(EXPORTED_METRICS)


def test_dashboard_uses_the_provisioned_datasource() -> None:
    (source,) = load_yaml(DOCKER / "grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert source["url"] == "http://prometheus:9090", "compose service name and port"
    data = dashboard()
    assert data["uid"]
    assert data["title"]
    ids = []
    for panel, target in walk_dashboard_targets(data["panels"]):
        assert panel["datasource"]["uid"] == source["uid"]
        assert target["datasource"]["uid"] == source["uid"]
        ids.append(panel["id"])
    all_panels = data["panels"]
    panel_ids = [p["id"] for p in all_panels]
    assert len(panel_ids) == len(set(panel_ids)), "panel ids must be unique"
    for panel in all_panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
    for var in data["templating"]["list"]:
        assert var["datasource"]["uid"] == source["uid"]
