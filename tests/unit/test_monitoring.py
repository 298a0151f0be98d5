"""Prometheus and Grafana under deploy/monitoring/: valid, tested, and only over real series.

- ``promtool check config`` and ``promtool check rules`` accept the scrape configuration
  and the alert rules; ``promtool test rules`` runs the unit tests in
  ``deploy/monitoring/tests/`` (each rule fires in one case and stays quiet in another);
- every metric name an alert rule or a dashboard query uses is a series the hub's code
  exports (the prometheus_client collectors of ``streams.metrics``, ``streams.public``,
  ``hub.view.bus`` and ``connectors.metrics``), and every label it selects or groups by is
  one of those series' labels or a target label;
- the scrape targets are the ports ``liangfa up`` gives its processes.

No broker is needed. ``promtool`` comes from Debian's ``prometheus`` package
(``scripts/ensure-prometheus.sh``, run by ``scripts/bootstrap.sh --test``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, CollectorRegistry

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULE_FILES = sorted((MONITORING / "rules").glob("*.yml"))
RULE_TESTS = sorted((MONITORING / "tests").glob("*_test.yml"))
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
OPERATIONS_DOC = ROOT / "docs" / "operations.md"

#: Labels Prometheus adds to every series of a target (job, instance) and the ones
#: prometheus.yml sets on its static targets.
TARGET_LABELS = {"job", "instance", "component"}
#: Series Prometheus itself writes for each target.
PROMETHEUS_SERIES = {"up": set()}

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}
_HISTOGRAM_LABELS = {"_bucket": {"le"}}
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
             "group_right", "offset", "bool", "inf", "nan"}
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_IDENT = re.compile(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*")
_SELECTOR = re.compile(r"(?<![\w.$])([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.+),)?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$")


def _collector_series(registry: CollectorRegistry) -> dict[str, set[str]]:
    """Exposed series name → label names, for every ``liangfa_*`` collector of a registry."""
    series: dict[str, set[str]] = {}
    for collector in set(registry._names_to_collectors.values()):
        name = getattr(collector, "_name", "")
        kind = getattr(collector, "_type", "")
        if not name.startswith("liangfa_") or kind not in _SUFFIXES:
            continue
        for suffix in _SUFFIXES[kind]:
            labels = set(collector._labelnames) | _HISTOGRAM_LABELS.get(suffix, set())
            series[name + suffix] = labels
    return series


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    """Every series the hub's processes can serve, with its labels (read-only imports)."""
    import hub.audit.sealer  # the audit sealer's metrics
    import hub.dlq.exporter  # the DLQ depth exporter's metrics
    import hub.view.bus  # registers the view's metrics
    import hub.view.metrics  # noqa: F401 - the view's open-alert gauges
    import streams.metrics  # the stream workers' metrics
    import streams.public  # noqa: F401 - the public-feed publisher's metrics
    from connectors.metrics import ConnectorMetrics
    from connectors.sinks.runner import SinkMetrics

    series = _collector_series(REGISTRY)
    series.update(_collector_series(ConnectorMetrics("probe", CollectorRegistry()).registry))
    series.update(_collector_series(SinkMetrics("probe", "probe", CollectorRegistry()).registry))
    series.update(PROMETHEUS_SERIES)
    return series


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: run scripts/ensure-prometheus.sh (Debian's prometheus)")
    return path


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=MONITORING, capture_output=True, text=True,
                          timeout=300, check=False)


def _rules() -> list[dict[str, Any]]:
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules.extend(group["rules"])
    return rules


def _dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in board["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def _dashboard_queries(board: dict[str, Any]) -> list[str]:
    """The PromQL of every panel target, and of every query variable's ``label_values``."""
    queries = [target["expr"] for panel in _panels(board) for target in panel.get("targets", [])]
    for variable in board["templating"]["list"]:
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = _LABEL_VALUES.match(text)
        assert match, f"variable {variable['name']}: not a label_values() query: {text}"
        assert match.group(1), f"variable {variable['name']}: label_values without a series"
        queries.append(f"group by ({match.group(2)}) ({match.group(1)})")
    return queries


def _promql(expr: str) -> str:
    """Grafana's variables replaced so that the expression is plain PromQL."""
    return (expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
            .replace("$__range", "1h"))


def metric_names(expr: str) -> set[str]:
    """Series names a PromQL expression selects (functions, keywords and labels left out)."""
    text = _STRING.sub('""', _promql(expr))
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        word = match.group()
        if word.lower() in _KEYWORDS or text[match.end():].lstrip().startswith("("):
            continue
        names.add(word)
    return names


def label_names(expr: str) -> set[str]:
    """Label names a PromQL expression matches on or groups by."""
    text = _STRING.sub('""', _promql(expr))
    labels = set()
    for _, matchers in _SELECTOR.findall(text):
        labels.update(_MATCHER.findall(matchers))
    for _, grouping in _GROUPING.findall(text):
        labels.update(label.strip() for label in grouping.split(",") if label.strip())
    return labels


def _check_expression(expr: str, exported: dict[str, set[str]]) -> list[str]:
    problems = []
    names = metric_names(expr)
    if not names:
        problems.append(f"selects no series: {expr}")
    unknown = sorted(names - exported.keys())
    if unknown:
        problems.append(f"unknown series {unknown} in: {expr}")
    known_labels = TARGET_LABELS.union(*(exported[n] for n in names if n in exported))
    stray = sorted(label_names(expr) - known_labels)
    if stray:
        problems.append(f"labels {stray} are on none of {sorted(names)}: {expr}")
    return problems


# --- the checker itself -------------------------------------------------------------


def test_the_expression_parser_finds_series_and_labels() -> None:
    expr = ('sum by (job, instance, connector) (increase(liangfa_connector_records_rejected_'
            'total{reason=~"Invalid.*", connector="x"}[1h])) / clamp_min(sum by (connector) '
            '(rate(liangfa_connector_records_read_total[$__rate_interval])), 1) > 0.05 '
            'and on() (day_of_week(vector(time() + 8 * 3600)) >= 1) and up offset 24h')
    assert metric_names(expr) == {"liangfa_connector_records_rejected_total",
                                  "liangfa_connector_records_read_total", "up"}
    assert label_names(expr) == {"job", "instance", "connector", "reason"}


def test_an_invented_series_or_label_is_reported(exported: dict[str, set[str]]) -> None:
    assert _check_expression("liangfa_streams_consumer_lag > 0", exported) == []
    problems = _check_expression(
        "max by (unit) (liangfa_streams_checkpoint_age_seconds) "
        "+ on() sum by (kind) (liangfa_streams_consumer_lag{topik='x'})", exported)
    assert any("liangfa_streams_checkpoint_age_seconds" in p for p in problems)
    assert any("'kind', 'topik', 'unit'" in p for p in problems)


def test_the_exported_series_are_every_metric_the_code_declares(
        exported: dict[str, set[str]]) -> None:
    """The imports above must cover every ``liangfa_*`` metric defined in the code, or a
    rule over a newly added metric would be reported as unknown (and vice versa)."""
    declared = set()
    pattern = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"(liangfa_\w+)\"", re.S)
    for package in ("hub", "connectors", "streams"):
        for path in (ROOT / package).rglob("*.py"):
            for kind, name in pattern.findall(path.read_text(encoding="utf-8")):
                if kind == "Counter" and not name.endswith("_total"):
                    name += "_total"  # prometheus_client exposes a counter as <name>_total
                if kind in {"Histogram", "Summary"}:
                    name += "_count"
                declared.add(name)
    assert declared, "no metric found in the code"
    assert declared <= exported.keys()
    assert {n for n in exported if n.endswith(("_total", "_lag", "_seconds_bucket"))} >= {
        "liangfa_streams_not_entitled_total", "liangfa_streams_consumer_lag",
        "liangfa_connector_records_rejected_total", "liangfa_streams_handle_seconds_bucket"}


# --- Prometheus ----------------------------------------------------------------------


def test_promtool_accepts_the_scrape_configuration(promtool: str) -> None:
    result = _run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(RULE_FILES)} rule files found" in result.stdout


def test_the_scrape_targets_are_the_ports_liangfa_up_uses() -> None:
    from hub.local.hub_services import (
        PUBLIC_FEEDS_PORT_OFFSET,
        WORKER_WEB_PORT_OFFSET,
        HubServices,
    )

    view_port = HubServices.__init__.__kwdefaults__["view_port"]
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {job["job_name"]: [t for sc in job.get("static_configs", [])
                                 for t in sc["targets"]] for job in config["scrape_configs"]}
    assert targets["liangfa-streams"] == [f"127.0.0.1:{view_port + WORKER_WEB_PORT_OFFSET}"]
    assert targets["liangfa-public-feeds"] == [
        f"127.0.0.1:{view_port + PUBLIC_FEEDS_PORT_OFFSET}"]
    assert targets["liangfa-view"] == [f"127.0.0.1:{view_port}"]
    from hub.audit.service import AUDIT_SEALER_PORT_OFFSET

    assert targets["liangfa-audit-sealer"] == [
        f"127.0.0.1:{view_port + AUDIT_SEALER_PORT_OFFSET}"]
    assert targets["liangfa-connectors"] == []  # file_sd: targets/connectors*.yml
    assert all(name.startswith("liangfa-") for name in targets)
    connectors = yaml.safe_load((MONITORING / "targets" / "connectors.yml").read_text(
        encoding="utf-8"))
    assert connectors == []


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_accepts_the_rules(promtool: str, path: Path) -> None:
    result = _run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("path", RULE_TESTS, ids=lambda p: p.name)
def test_the_rule_unit_tests_pass(promtool: str, path: Path) -> None:
    result = _run(promtool, "test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_rule_is_tested_firing_and_quiet() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    tested_files: set[Path] = set()
    for path in RULE_TESTS:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        tested_files.update((path.parent / f).resolve() for f in document["rule_files"])
        for test in document["tests"]:
            for case in test.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
    assert len(alerts) >= 15
    assert tested_files == {path.resolve() for path in RULE_FILES}
    assert alerts - fires == set(), "rules never shown firing"
    assert alerts - quiet == set(), "rules never shown quiet"


def test_every_rule_explains_itself_to_operations() -> None:
    anchors = set()
    if OPERATIONS_DOC.exists():
        for line in OPERATIONS_DOC.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                anchors.add(re.sub(r"[^\w\- ]", "", line.lstrip("#").strip()).lower()
                            .replace(" ", "-"))
    names = []
    for rule in _rules():
        if "alert" not in rule:
            continue
        names.append(rule["alert"])
        annotations = rule["annotations"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert len(annotations["summary"]) > 20, rule["alert"]
        assert len(annotations["description"]) > 150, rule["alert"]
        runbook = annotations["runbook"]
        assert runbook == f"docs/operations.md#{rule['alert'].lower()}", rule["alert"]
        assert runbook.split("#")[1] in anchors, f"{runbook}: no such section"
    assert len(names) == len(set(names))


def test_rule_expressions_use_only_exported_series(exported: dict[str, set[str]]) -> None:
    problems = [p for rule in _rules() for p in _check_expression(rule["expr"], exported)]
    assert problems == []


# --- Grafana -------------------------------------------------------------------------


def test_the_dashboards_are_the_three_asked_for() -> None:
    assert {path.stem for path in DASHBOARDS} == {"connectors", "streams", "legal-clocks"}
    uids = [_dashboard(path)["uid"] for path in DASHBOARDS]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_queries_use_only_exported_series(path: Path,
                                                    exported: dict[str, set[str]]) -> None:
    queries = _dashboard_queries(_dashboard(path))
    assert len(queries) >= 5
    problems = [p for query in queries for p in _check_expression(query, exported)]
    assert problems == []


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_panels_read_the_provisioned_prometheus(path: Path) -> None:
    source = yaml.safe_load((MONITORING / "grafana" / "provisioning" / "datasources"
                             / "liangfa.yml").read_text(encoding="utf-8"))
    uid = source["datasources"][0]["uid"]
    board = _dashboard(path)
    panels = _panels(board)
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel.get("targets"):
            assert panel["datasource"]["uid"] == uid, panel["title"]
            assert all(t["datasource"]["uid"] == uid for t in panel["targets"])
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_promtool_parses_every_dashboard_query(promtool: str, tmp_path: Path) -> None:
    """The dashboards' PromQL (Grafana variables substituted) written as recording rules,
    so that promtool's parser checks each one."""
    queries = [query for path in DASHBOARDS for query in _dashboard_queries(_dashboard(path))]
    rules = [{"record": f"liangfa:dashboard_query_{index}", "expr": _promql(query)}
             for index, query in enumerate(queries)]
    file = tmp_path / "dashboard-queries.yml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}),
                    encoding="utf-8")
    result = _run(promtool, "check", "rules", str(file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
