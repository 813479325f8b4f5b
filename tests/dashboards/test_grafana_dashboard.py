"""The Grafana dashboard in dashboards/grafana: valid JSON for a current Grafana, its
Prometheus picked by a datasource variable, a region variable from label values, every panel
querying only series the service exports, and a panel for every family it exports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from metricnames import family_series, series_in

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "dashboards" / "grafana"
DASHBOARD = GRAFANA / "regionwatch.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Grafana 10.4 and 11 write schema 39; older ones upgrade a newer file on load only partly.
MIN_SCHEMA = 39


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels(container: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that is not a row, collapsed rows' panels included."""
    for panel in container.get("panels", []):
        if panel["type"] == "row":
            yield from panels(panel)
        else:
            yield panel


def variable(name: str) -> dict[str, Any]:
    return next(v for v in dashboard()["templating"]["list"] if v["name"] == name)


def queries() -> Iterator[tuple[str, str]]:
    """Every PromQL expression the dashboard runs, with where it is: the panels' targets and
    the query variables."""
    for panel in panels(dashboard()):
        for target in panel["targets"]:
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            yield f"variable {var['name']}", var["query"]["query"]


def test_the_dashboard_is_grafana_json_with_unique_panels() -> None:
    """It parses, has a uid and title, a current schemaVersion, and panel ids that are
    unique (Grafana drops panels sharing an id), each panel with at least one target."""
    board = dashboard()
    assert board["uid"] == "regionwatch" and board["title"]
    assert board["schemaVersion"] >= MIN_SCHEMA
    ids = [p["id"] for p in board["panels"]]
    ids += [p["id"] for row in board["panels"] if row["type"] == "row" for p in row["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels(board):
        assert panel["targets"], panel["title"]
        assert panel.get("description"), panel["title"]


def test_every_panel_reads_the_prometheus_the_datasource_variable_picks() -> None:
    """A `datasource` variable of type prometheus, and every panel, target and query
    variable pointing at it, so the dashboard works whatever the datasource is called."""
    chooser = variable("datasource")
    assert (chooser["type"], chooser["query"]) == ("datasource", "prometheus")
    for panel in panels(dashboard()):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", DATASOURCE) == DATASOURCE, panel["title"]
    for name in ("instance", "region"):
        assert variable(name)["datasource"] == DATASOURCE


def test_the_region_variable_lists_the_regions_from_label_values() -> None:
    """`region` is a multi-value query variable over the `region` label of the verdicts,
    and every panel about regions filters on it."""
    region = variable("region")
    assert region["type"] == "query" and region["multi"] and region["includeAll"]
    assert region["query"]["query"].startswith("label_values(regionwatch_region_status")
    assert region["query"]["query"].endswith(", region)")
    for panel in panels(dashboard()):
        for target in panel["targets"]:
            if "regionwatch_region_status" in target["expr"]:
                assert 'region=~"$region"' in target["expr"], panel["title"]


@pytest.mark.slow
def test_every_query_reads_only_series_the_service_exports(exported: frozenset[str]) -> None:
    """Each panel target and query variable selects at least one series, and every series
    it selects is on a live `/metrics` of the lab (or is Prometheus' own `up`)."""
    for where, expr in queries():
        used = series_in(expr)
        assert used, where
        assert used <= exported, (where, sorted(used - exported))


@pytest.mark.slow
def test_every_family_the_service_exports_has_a_panel(lab_exposition: str) -> None:
    """No family on the lab's `/metrics` is missing from the dashboard's panels."""
    shown: set[str] = set()
    for panel in panels(dashboard()):
        for target in panel["targets"]:
            shown |= series_in(target["expr"])
    exported = family_series(lab_exposition)
    assert {family for family, series in exported.items() if not series & shown} == set()


def test_the_provisioning_files_load_the_folder_and_a_prometheus() -> None:
    """The dashboards provider reads a folder of files, and the example datasource is the
    Prometheus type the dashboard's datasource variable lists."""
    provisioning = GRAFANA / "provisioning"
    providers = yaml.safe_load((provisioning / "dashboards.yaml").read_text(encoding="utf-8"))
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    sources = yaml.safe_load((provisioning / "datasources.yaml").read_text(encoding="utf-8"))
    assert sources["apiVersion"] == 1
    (source,) = sources["datasources"]
    assert source["type"] == variable("datasource")["query"] == "prometheus"
    assert source["access"] == "proxy" and source["url"].startswith("http")
