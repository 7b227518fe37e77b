"""deploy/k8s: offline schema validation (kubernetes-validate ships its schemas), consistency."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from deploy_support import (
    DOCKER,
    K8S,
    check_promql,
    load_yaml,
    load_yaml_docs,
    parse_dockerfile,
)

CORE_FILES = ("deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml")
# Oldest Kubernetes we claim to support, and the newest the validator ships.
K8S_VERSIONS = ("1.29.0", "latest")


def docs(name: str) -> list[dict[str, Any]]:
    return load_yaml_docs(K8S / name)


def one(name: str, kind: str) -> dict[str, Any]:
    (found,) = [d for d in docs(name) if d["kind"] == kind]
    return found


def container() -> dict[str, Any]:
    (c,) = one("deployment.yaml", "Deployment")["spec"]["template"]["spec"]["containers"]
    return c


def env_of(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c["env"]}


def _validator():
    import kubernetes_validate  # in the dev extra

    return kubernetes_validate


def _version(kv: Any, version: str) -> str:
    return kv.utils.latest_version() if version == "latest" else version


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("name", CORE_FILES)
def test_manifest_matches_kubernetes_schema(name: str, version: str) -> None:
    kv = _validator()
    for doc in docs(name):
        kv.validate(doc, _version(kv, version), strict=True)


def test_validator_rejects_a_typo() -> None:
    """Negative control: strict validation really catches unknown fields."""
    kv = _validator()
    broken = copy.deepcopy(one("deployment.yaml", "Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, kv.utils.latest_version(), strict=True)


def test_kustomizations_list_existing_files() -> None:
    for path in (K8S / "kustomization.yaml", K8S / "monitoring" / "kustomization.yaml"):
        for resource in load_yaml(path)["resources"]:
            assert (path.parent / resource).exists(), f"{path}: {resource} does not exist"
    assert set(load_yaml(K8S / "kustomization.yaml")["resources"]) == set(CORE_FILES)


def test_gpu_and_probes() -> None:
    c = container()
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["port"] in ports
    env = env_of(c)
    assert ports["http"] == int(env["BIOTAG_PORT"])
    assert env["BIOTAG_EXECUTION_PROVIDER"] == "cuda"
    assert c["args"] == parse_dockerfile(DOCKER / "Dockerfile.gpu").final.all("CMD")[0].exec_form()


def test_termination_grace_covers_the_drain() -> None:
    pod = one("deployment.yaml", "Deployment")["spec"]["template"]["spec"]
    c = container()
    drain = float(env_of(c)["BIOTAG_SHUTDOWN_TIMEOUT_S"])
    pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    needed = float(pre_stop[1]) + drain + 5  # + a margin for the process to exit
    assert pod["terminationGracePeriodSeconds"] >= needed
    assert pod["terminationGracePeriodSeconds"] <= needed + 30, (
        "grace period far beyond the drain: keep them together"
    )


def test_security_context_matches_image_user() -> None:
    pod = one("deployment.yaml", "Deployment")["spec"]["template"]["spec"]
    uid = int(parse_dockerfile(DOCKER / "Dockerfile.gpu").final.all("USER")[-1].value.split(":")[0])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid
    assert container()["securityContext"]["readOnlyRootFilesystem"] is True


def test_service_selects_the_pods() -> None:
    deployment = one("deployment.yaml", "Deployment")
    service = one("service.yaml", "Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    port_names = {p["name"] for p in container()["ports"]}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in port_names
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == container()["ports"][0]["containerPort"]
    assert annotations["prometheus.io/path"] == "/metrics"


def test_hpa_metric_is_served_by_prometheus_adapter() -> None:
    hpa = one("hpa.yaml", "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "biotag",
    }
    adapter = load_yaml(K8S / "prometheus-adapter" / "values.yaml")
    rules = adapter["rules"]["custom"]
    served = {rule["name"]["as"] for rule in rules}
    for metric in hpa["spec"]["metrics"]:
        assert metric["type"] in ("Pods", "Object", "External"), "scale on queue/latency, not CPU"
        name = metric[metric["type"].lower()]["metric"]["name"]
        assert name in served, f"HPA metric {name} has no prometheus-adapter rule"
    for rule in rules:
        for query in (rule["seriesQuery"], rule["metricsQuery"]):
            problems = check_promql(query)
            assert not problems.unknown_metrics, problems
            assert not problems.unknown_labels, problems
        assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}


def test_service_monitor_scrapes_the_service() -> None:
    monitor = load_yaml(K8S / "monitoring" / "servicemonitor.yaml")
    service = one("service.yaml", "Service")
    # No schema ships for CRDs; check the fields the Operator needs.
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "ServiceMonitor"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    port_names = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"
    # The job label becomes the Service name; alerts and dashboard select job="biotag".
    assert service["metadata"]["name"] == "biotag"


def test_prometheus_rule_equals_the_compose_alerts() -> None:
    rule = load_yaml(K8S / "monitoring" / "prometheusrule.yaml")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == load_yaml(DOCKER / "prometheus-alerts.yml")["groups"]


def test_readme_documents_every_manifest() -> None:
    readme = (K8S / "README.md").read_text()
    files = [p for p in K8S.rglob("*.yaml")]
    for path in files:
        assert str(path.relative_to(K8S)) in readme, (
            f"{path.relative_to(K8S)} not described in README.md"
        )
    for topic in (
        "prometheus-adapter",
        "terminationGracePeriodSeconds",
        "nvidia.com/gpu",
        "/readyz",
        "/healthz",
    ):
        assert topic in readme
    assert re.search(r"custom\.metrics\.k8s\.io", readme)


def test_no_unexpected_files() -> None:
    known = {
        Path(p)
        for p in (
            *CORE_FILES,
            "kustomization.yaml",
            "README.md",
            "monitoring/kustomization.yaml",
            "monitoring/servicemonitor.yaml",
            "monitoring/prometheusrule.yaml",
            "prometheus-adapter/values.yaml",
        )
    }
    present = {p.relative_to(K8S) for p in K8S.rglob("*") if p.is_file()}
    assert present == known, "new manifests need a schema check here and a README entry"
