"""docker-compose.yml: validated by docker-compose itself, then checked for what it must contain."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest
from deploy_support import (
    DOCKER,
    REPO,
    compose_default,
    duration_seconds,
    load_yaml,
    parse_dockerfile,
    require_tool,
)

COMPOSE_FILE = REPO / "docker-compose.yml"


def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)


def clean_env() -> dict[str, str]:
    """The caller's environment minus anything compose would interpolate from it."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BIOTAG_", "COMPOSE_", "GRAFANA_", "PROMETHEUS_", "DOCKER_"))
    }


@pytest.mark.parametrize(
    "profile_args", [[], ["--profile", "cpu"]], ids=["gpu-default", "cpu-profile"]
)
def test_docker_compose_config_is_valid(profile_args: list[str]) -> None:
    tool = require_tool("docker-compose", "apt-get install -y docker-compose (as .ci/run does)")
    result = subprocess.run(
        [
            tool,
            "--project-directory",
            str(REPO),
            "-f",
            str(COMPOSE_FILE),
            *profile_args,
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=REPO,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr


def test_gpu_tagger() -> None:
    tagger = compose()["services"]["tagger"]
    assert tagger["build"]["dockerfile"] == "docker/Dockerfile.gpu"
    assert "profiles" not in tagger, "the GPU tagger is the default deployment"
    (device,) = tagger["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia"
    assert "gpu" in device["capabilities"]
    assert tagger["environment"]["BIOTAG_EXECUTION_PROVIDER"].endswith("cuda}")


def test_cpu_tagger_stands_in_for_the_gpu_one() -> None:
    services = compose()["services"]
    cpu = services["tagger-cpu"]
    assert cpu["profiles"] == ["cpu"]
    assert cpu["build"]["dockerfile"] == "docker/Dockerfile.cpu"
    assert "deploy" not in cpu, "no GPU reservation on the CPU variant"
    assert cpu["environment"]["BIOTAG_EXECUTION_PROVIDER"] == "cpu"
    # Prometheus scrapes `tagger`; the CPU variant answers to that name too.
    assert "tagger" in cpu["networks"]["default"]["aliases"]


@pytest.mark.parametrize("name", ["tagger", "tagger-cpu"])
def test_tagger_runtime_settings(name: str) -> None:
    service = compose()["services"][name]
    flavour = "gpu" if name == "tagger" else "cpu"
    image_env = parse_dockerfile(DOCKER / f"Dockerfile.{flavour}").final.env()
    env = {k: compose_default(v) for k, v in service["environment"].items() if v is not None}
    # Every setting is a BIOTAG_* variable the service knows.
    assert all(key.startswith("BIOTAG_") for key in service["environment"])
    assert env["BIOTAG_MODELS_DIR"] == image_env["BIOTAG_MODELS_DIR"]
    assert env["BIOTAG_PORT"] == image_env["BIOTAG_PORT"]
    # Models volume mounted read-only where the service looks.
    mounts = [compose_default(v) for v in service["volumes"]]
    assert any(m.endswith(f":{env['BIOTAG_MODELS_DIR']}:ro") for m in mounts), mounts
    assert any(p.endswith(f":{env['BIOTAG_PORT']}") for p in service["ports"])
    health = service["healthcheck"]
    assert health["test"][0] == "CMD"
    assert health["test"][-1] == "/usr/local/bin/biotag-healthcheck"
    assert duration_seconds(health["start_period"]) >= 60
    assert service["restart"] in ("unless-stopped", "always", "on-failure")
    # docker stop must wait longer than the service drains.
    drain = float(env["BIOTAG_SHUTDOWN_TIMEOUT_S"])
    assert duration_seconds(compose_default(service["stop_grace_period"])) >= drain + 5


def test_monitoring_services() -> None:
    services = compose()["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    assert "depends_on" not in prometheus, "Prometheus must come up (and alert) without the tagger"
    for service in (prometheus, grafana):
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"mounted file {source} is missing"
    mounted = {v.split(":")[1] for v in prometheus["volumes"]}
    assert "/etc/prometheus/prometheus.yml" in mounted
    assert "/etc/prometheus/prometheus-alerts.yml" in mounted, (
        "rule_files is relative to the config"
    )
    assert any("--config.file=/etc/prometheus/prometheus.yml" in c for c in prometheus["command"])
    grafana_mounts = {v.split(":")[0]: v.split(":")[1] for v in grafana["volumes"]}
    assert grafana_mounts["./docker/grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboards_path = load_yaml(DOCKER / "grafana/provisioning/dashboards/biotag.yml")["providers"][
        0
    ]["options"]["path"]
    assert grafana_mounts["./docker/grafana/dashboards"] == dashboards_path


def test_prometheus_scrapes_the_tagger_by_service_name() -> None:
    config = load_yaml(DOCKER / "prometheus.yml")
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "biotag"]
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    port = compose_default(compose()["services"]["tagger"]["environment"]["BIOTAG_PORT"])
    assert targets == [f"tagger:{port}"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
