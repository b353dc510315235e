"""What deploy/ ships for operating the platform is valid: the Kubernetes overlays rendered by kustomize and
checked against the Kubernetes JSON schemas (kubernetes-validate, offline, strict), with the properties the
architecture asks for (probes, resources, disruption budgets, network flows, secrets by reference only,
migrations as Jobs); the Prometheus alert rules by `promtool check rules`; the Grafana dashboard against
its JSON schema here, every query of it parsed by promtool, and every metric the rules and panels name
exported by the kit or listed as a service's to export. kustomize and promtool come from the Go module
proxy through deploy/bin/ops-tools.sh."""

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
MONITORING = ROOT / "deploy" / "monitoring"
SERVICES = {"intake": 8001, "casework": 8002, "disclosure": 8003, "rights": 8004}
APPS = {**SERVICES, "console": 8000}
KUBERNETES_VERSION = "1.33.0"
# Metrics the services export for the clock-driven backlogs (README "Metrics and alerts"); not the kit's.
SERVICE_METRICS = {"cme_casework_cases_overdue", "cme_rights_requests_due_within_seconds",
                   "cme_rights_requests_overdue"}


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    script = ROOT / "deploy" / "bin" / "ops-tools.sh"
    subprocess.run([str(script), "install"], check=True, capture_output=True, timeout=1800)
    return {tool: subprocess.run([str(script), "path", tool], check=True, capture_output=True, text=True)
            .stdout.strip() for tool in ("kustomize", "promtool")}


def rendered(tools: dict[str, str], overlay: str) -> list[dict]:
    out = subprocess.run([tools["kustomize"], "build", str(K8S / "overlays" / overlay)], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_every_rendered_manifest_validates_against_the_kubernetes_schemas(tools, overlay):
    docs = rendered(tools, overlay)
    assert len(docs) > 20
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)  # raises on any error
    assert {d["metadata"].get("namespace") for d in docs} == {"cme-dev" if overlay == "dev" else "cme"}


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_deployments_probe_limit_and_take_secrets_by_reference_only(tools, overlay):
    docs = rendered(tools, overlay)
    deployments = of_kind(docs, "Deployment")
    assert set(deployments) == set(APPS)
    for name, d in deployments.items():
        [c] = d["spec"]["template"]["spec"]["containers"]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == ("/healthz" if name == "console" else "/readyz")
        assert c["ports"][0]["containerPort"] == APPS[name]
        assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]
        assert c["securityContext"]["readOnlyRootFilesystem"] and not c["securityContext"]["allowPrivilegeEscalation"]
        assert c["envFrom"] == [{"secretRef": {"name": f"cme-{name}"}}]
        # No secret value in git: nothing sensitive among the literal env values, no Secret objects.
        for env in c["env"]:
            assert not re.search(r"PASSWORD|SECRET|DATABASE_URL|KEY", env["name"]) or "valueFrom" in env
    assert not of_kind(docs, "Secret") and not of_kind(docs, "ConfigMap")
    pdbs = of_kind(docs, "PodDisruptionBudget")
    assert set(pdbs) == set(APPS)
    if overlay == "production":
        assert all(d["spec"]["replicas"] == 2 for d in deployments.values())
        assert all(p["spec"]["minAvailable"] == 1 for p in pdbs.values())


def test_migrations_are_one_job_per_service_as_its_owner(tools):
    jobs = of_kind(rendered(tools, "production"), "Job")
    assert set(jobs) == {f"{s}-migrate" for s in SERVICES}
    for service in SERVICES:
        [c] = jobs[f"{service}-migrate"]["spec"]["template"]["spec"]["containers"]
        assert c["command"] == ["python", "-m", f"cme_{service}", "migrate"]
        env = {e["name"]: e for e in c["env"]}
        assert env["CME_MIGRATION_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == f"cme-{service}-owner"
        assert env["CME_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == f"cme-{service}"


def test_disposal_is_one_nightly_job_per_service_as_its_disposal_login(tools):
    """Retention (issue 14): the disposal login is given to the disposal job alone, never to a Deployment."""
    docs = rendered(tools, "production")
    jobs = of_kind(docs, "CronJob")
    assert set(jobs) == {f"{s}-dispose" for s in SERVICES} | {"casework-ehe-lapsed"}
    [lapsed] = jobs["casework-ehe-lapsed"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert lapsed["command"] == ["python", "-m", "cme_casework", "ehe-lapsed-notices"]
    assert "CME_DISPOSAL_DATABASE_URL" not in {e["name"] for e in lapsed["env"]}
    for service in SERVICES:
        spec = jobs[f"{service}-dispose"]["spec"]
        assert spec["concurrencyPolicy"] == "Forbid" and spec["timeZone"] == "Europe/London"
        [c] = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        assert c["command"] == ["python", "-m", f"cme_{service}", "dispose"]
        env = {e["name"]: e for e in c["env"]}
        assert env["CME_DISPOSAL_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == f"cme-{service}-disposal"
    for name, deployment in of_kind(docs, "Deployment").items():
        [c] = deployment["spec"]["template"]["spec"]["containers"]
        assert "CME_DISPOSAL_DATABASE_URL" not in {e["name"] for e in c.get("env", [])}, name


def egress_ports(policy: dict) -> set[tuple[str, int]]:
    """(what, port) for each egress rule: the pod or cluster label it reaches, or 'outside' for an ipBlock."""
    flows = set()
    for rule in policy["spec"].get("egress", []):
        for peer in rule["to"]:
            labels = peer.get("podSelector", {}).get("matchLabels", {})
            what = "outside" if "ipBlock" in peer else (labels.get("cnpg.io/cluster") or labels.get("strimzi.io/cluster")
                                                        or labels.get("cme.council/tier") or labels.get("k8s-app"))
            flows |= {(what, p["port"]) for p in rule["ports"]}
    return flows


def test_network_policies_allow_only_the_architecture_flows(tools):
    policies = of_kind(rendered(tools, "production"), "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    for service, port in SERVICES.items():
        policy = policies[service]
        # Kafka, its own database and no other, and the identity provider's key set over HTTPS.
        assert egress_ports(policy) == {("cme-kafka", 9093), (f"cme-{service}", 5432), ("outside", 443)}
        sources = [(peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                    or peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"])
                   for rule in policy["spec"]["ingress"] for peer in rule["from"]]
        assert sorted(sources) == sorted(["console", "monitoring", *(["ingress-nginx"] if service == "intake" else [])])
        assert egress_ports(policies[f"{service}-migrate"]) == {(f"cme-{service}", 5432)}
        assert egress_ports(policies[f"{service}-dispose"]) == {(f"cme-{service}", 5432)}
    assert egress_ports(policies["casework-ehe-lapsed"]) == {("cme-casework", 5432)}
    assert egress_ports(policies["console"]) == {("service", p) for p in SERVICES.values()} | {("outside", 443)}
    [ingress] = of_kind(rendered(tools, "production"), "Ingress").values()
    paths = {(p["path"], p["backend"]["service"]["name"]) for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {("/", "console"), ("/public/referrals", "intake")}


def test_alert_rules_pass_promtool(tools):
    checked = subprocess.run([tools["promtool"], "check", "rules", str(MONITORING / "alerts.yml")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


# The shape Grafana needs to import a dashboard and draw these panels (Grafana publishes no JSON Schema in a
# registry package this project can use, so this is ours, kept to what the panels rely on).
DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {"type": "object", "required": ["list"],
                       "properties": {"list": {"type": "array", "items": {
                           "type": "object", "required": ["name", "type"],
                           "properties": {"type": {"enum": ["datasource", "query", "custom", "constant",
                                                            "interval", "textbox"]}}}}}},
        "panels": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["id", "type", "title", "gridPos", "datasource", "targets"],
            "properties": {
                "id": {"type": "integer"},
                "type": {"enum": ["timeseries", "stat", "gauge", "table", "bargauge", "heatmap"]},
                "gridPos": {"type": "object", "required": ["h", "w", "x", "y"],
                            "properties": {k: {"type": "integer", "minimum": 0, "maximum": 24}
                                           for k in ("w", "x")}},
                "datasource": {"type": "object", "required": ["type", "uid"],
                               "properties": {"type": {"const": "prometheus"}}},
                "targets": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["refId", "expr"],
                    "properties": {"expr": {"type": "string", "minLength": 1}}}},
            }}},
    },
}


def dashboard() -> dict:
    return json.loads((MONITORING / "dashboard.json").read_text())


def test_the_dashboard_matches_its_schema_and_every_query_parses(tools, tmp_path):
    board = dashboard()
    jsonschema.validate(board, DASHBOARD_SCHEMA)
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    # promtool parses PromQL only inside rules: each panel query becomes a recording rule.
    exprs = [t["expr"].replace("$service", ".*") for p in board["panels"] for t in p["targets"]]
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"cme:panel_{i}", "expr": e}
                                                        for i, e in enumerate(exprs)]}]}
    (tmp_path / "panels.yml").write_text(yaml.safe_dump(rules))
    checked = subprocess.run([tools["promtool"], "check", "rules", str(tmp_path / "panels.yml")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def named_metrics(expr: str) -> set[str]:
    return {m.removesuffix("_bucket") for m in re.findall(r"\b(cme_[a-z_]+)\b", expr)}


def test_every_metric_named_is_exported_by_the_kit_or_listed_for_a_service():
    import cme_casework.adapters.backlog_metrics  # noqa: F401 - the services' backlog gauges register on import
    import cme_rights.adapters.backlog_metrics  # noqa: F401
    from cme_shared import metrics
    from prometheus_client import REGISTRY

    exported = {m.name for m in REGISTRY.collect()} | {f"{m.name}_total" for m in REGISTRY.collect()}
    assert metrics.HANDLER_SECONDS  # the kit's histogram is registered
    alerts = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    named = set()
    for group in alerts["groups"]:
        for rule in group["rules"]:
            named |= named_metrics(rule["expr"])
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            named |= named_metrics(target["expr"])
    assert named <= exported and SERVICE_METRICS <= named
