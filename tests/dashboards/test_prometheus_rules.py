"""The Prometheus alert rules in dashboards/prometheus: valid for promtool, each alert firing on
its trouble and quiet on a healthy series (rules.test.yaml), the agreed names with what an
on-call person needs, and only series the service exports."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from metricnames import series_in

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "dashboards" / "prometheus" / "rules.yaml"
RULES_TESTS = ROOT / "dashboards" / "prometheus" / "rules.test.yaml"
ALERTS = [
    "RegionwatchDown",
    "RegionwatchRegionFailing",
    "RegionwatchCertificateExpiring",
    "RegionwatchDnsMismatch",
    "RegionwatchAlertDeliveriesFailing",
    "RegionwatchBlind",
    "RegionwatchPeerAbsent",
]
SEVERITIES = {"critical", "warning", "info"}


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def promtool() -> str:
    """Debian's promtool; scripts/install-debs.sh installs it (`make test` runs it)."""
    found = shutil.which("promtool")
    assert found is not None, (
        "promtool is missing: run scripts/install-debs.sh as root (or apt-get install prometheus)"
    )
    return found


async def run_promtool(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        promtool(),
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


async def test_promtool_checks_the_rules_clean() -> None:
    """`promtool check rules` accepts the file: every expression parses, every rule is
    well-formed, and it finds exactly the six alerts."""
    code, output = await run_promtool("check", "rules", str(RULES.relative_to(ROOT)))
    assert code == 0, output
    assert f"SUCCESS: {len(ALERTS)} rules found" in output, output


async def test_promtool_unit_tests_fire_each_alert_on_trouble_only() -> None:
    """`promtool test rules` passes rules.test.yaml: each alert fires with its labels and
    rendered annotations on a series showing the trouble, and not on a healthy one."""
    code, output = await run_promtool("test", "rules", str(RULES_TESTS.relative_to(ROOT)))
    assert code == 0, output
    assert "SUCCESS" in output, output


def test_every_alert_has_a_unit_test_that_fires_and_one_that_does_not() -> None:
    """For each alert, rules.test.yaml has an evaluation expecting it and one expecting
    nothing, so no alert's behaviour is left untested."""
    document = yaml.safe_load(RULES_TESTS.read_text(encoding="utf-8"))
    evaluations = [e for test in document["tests"] for e in test["alert_rule_test"]]
    firing = {e["alertname"] for e in evaluations if e["exp_alerts"]}
    quiet = {e["alertname"] for e in evaluations if not e["exp_alerts"]}
    assert firing == set(ALERTS)
    assert quiet == set(ALERTS)


def test_the_rules_are_the_agreed_alerts_each_with_for_severity_and_runbook() -> None:
    """Exactly the agreed names, each with a `for:`, a severity label, a summary and a
    description, and a runbook_url at its docs/operations.md section (`Runbook: NAME`)."""
    rules = alert_rules()
    assert [rule["alert"] for rule in rules] == ALERTS
    for rule in rules:
        name = rule["alert"]
        assert rule.get("for"), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert annotations["summary"].strip() and annotations["description"].strip(), name
        assert annotations["runbook_url"] == f"docs/operations.md#runbook-{name.lower()}"


def test_the_down_alert_watches_the_documented_scrape_job() -> None:
    """RegionwatchDown reads `up` of the job docs/metrics.md's scrape configuration names."""
    metrics_doc = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert "- job_name: regionwatch\n" in metrics_doc
    down = next(rule for rule in alert_rules() if rule["alert"] == "RegionwatchDown")
    assert 'up{job="regionwatch"} == 0' in down["expr"]
    assert 'absent(up{job="regionwatch"})' in down["expr"]


@pytest.mark.slow
def test_every_series_the_rules_read_is_exported_by_the_service(
    exported: frozenset[str],
) -> None:
    """Each rule selects at least one series, and every series it selects is on a live
    `/metrics` of the lab (or is Prometheus' own `up`)."""
    for rule in alert_rules():
        used = series_in(rule["expr"])
        assert used, rule["alert"]
        assert used <= exported, (rule["alert"], sorted(used - exported))


def test_every_runbook_url_leads_to_a_runbook_in_the_operations_guide() -> None:
    """Each rule's runbook_url anchor is a `Runbook: NAME` heading of docs/operations.md."""
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    headings = {
        "runbook-" + line.removeprefix("### Runbook: ").strip().lower()
        for line in guide.splitlines()
        if line.startswith("### Runbook: ")
    }
    for rule in alert_rules():
        url = rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert (ROOT / path).is_file(), url
        assert anchor in headings, url
