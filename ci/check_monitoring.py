"""Checks of the monitoring profile's files that promtool does not do itself
(ci/check-monitoring.sh runs both).

  python3 ci/check_monitoring.py dashboards MONITORING_DIR RULE_FILE_OUT
  python3 ci/check_monitoring.py alerts MONITORING_DIR RUNBOOK

`dashboards` validates the Grafana provisioning files and dashboards the way Grafana
would read them:
  - the data source provisioning file: apiVersion 1, each source has name, type, uid, url;
  - the dashboard provider: apiVersion 1, type file, a path;
  - each dashboard JSON: parses; uid (<= 40 characters, Grafana's limit) and title unique
    across files; panel ids unique integers; every panel has a gridPos inside the
    24-column grid and no two panels overlap; every datasource reference (panel, target,
    template variable) names a provisioned data source uid; every target has a refId
    (unique within its panel) and an expr; every `$variable` used in an expr is a
    template variable of that dashboard or one of Grafana's built-ins.
  It writes every panel expr (Grafana's built-in interval variables replaced by a
  duration, template variables by a regex) as a recording rule into RULE_FILE_OUT, for
  `promtool check rules` to parse them with Prometheus's own parser.

`alerts` checks that every alert of MONITORING_DIR/prometheus/rules/*.yml is expected to
fire (non-empty exp_alerts) by some promtool test of MONITORING_DIR/prometheus/tests/*.yml
and to stay quiet (empty exp_alerts) by another, and that its `runbook` annotation is
`runbook.md#<anchor>` with a heading of RUNBOOK for that anchor (GitHub's: lower case,
spaces to dashes, punctuation dropped).

Each prints every problem found and exits 1 if there was one.
"""

import json
import re
import sys
from pathlib import Path

import yaml

GRID_COLUMNS = 24
# Grafana's built-in variables (https://grafana.com/docs/grafana/latest/dashboards/variables/add-template-variables/#global-variables).
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "__interval_ms": "60000",
    "__range_s": "3600",
    "__range_ms": "3600000",
}
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")


def check_dashboards(monitoring: Path, rule_out: Path) -> int:
    problems: list[str] = []
    provisioning = monitoring / "grafana" / "provisioning"
    uids = datasource_uids(provisioning / "datasources", problems)
    dashboards_path = dashboard_provider(provisioning / "dashboards", problems)
    rules = []
    seen_uids: dict[str, str] = {}
    seen_titles: dict[str, str] = {}
    files = sorted((monitoring / "grafana" / "dashboards").glob("*.json"))
    if not files:
        problems.append("no dashboards in monitoring/grafana/dashboards")
    for path in files:
        name = path.name
        try:
            dashboard = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            problems.append(f"{name}: not JSON: {err}")
            continue
        uid, title = dashboard.get("uid"), dashboard.get("title")
        if not isinstance(uid, str) or not 0 < len(uid) <= 40:
            problems.append(f"{name}: uid must be 1-40 characters, is {uid!r}")
        elif uid in seen_uids:
            problems.append(f"{name}: uid {uid} also used by {seen_uids[uid]}")
        else:
            seen_uids[uid] = name
        if not title:
            problems.append(f"{name}: no title")
        elif title in seen_titles:
            problems.append(f"{name}: title {title!r} also used by {seen_titles[title]}")
        else:
            seen_titles[title] = name
        if "id" in dashboard and dashboard["id"] is not None:
            problems.append(f"{name}: a provisioned dashboard must not carry a database id")
        variables = check_variables(name, dashboard, uids, problems)
        panels = flatten(dashboard.get("panels", []))
        if not panels:
            problems.append(f"{name}: no panels")
        check_ids_and_grid(name, panels, problems)
        for panel in panels:
            for index, expr in enumerate(check_targets(name, panel, uids, variables, problems)):
                rules.append({
                    # A valid metric name (no dashes) that says where the expr came from.
                    "record": re.sub(r"\W", "_", f"dashboard:{uid}:panel{panel.get('id')}:{index}"),
                    "expr": substitute(expr, variables),
                })
    rule_out.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-exprs", "rules": rules}]}, sort_keys=False))
    return report(
        "dashboard check",
        problems,
        f"{len(files)} dashboards, {len(rules)} panel queries, data source uid(s) {sorted(uids)}, files from {dashboards_path}",
    )


def datasource_uids(directory: Path, problems: list[str]) -> set[str]:
    uids: set[str] = set()
    for path in sorted(directory.glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        if document.get("apiVersion") != 1:
            problems.append(f"{path.name}: apiVersion must be 1")
        for source in document.get("datasources") or []:
            for key in ("name", "type", "uid", "url"):
                if not source.get(key):
                    problems.append(f"{path.name}: data source {source.get('name')!r} has no {key}")
            if source.get("uid"):
                uids.add(source["uid"])
    if not uids:
        problems.append(f"no data source with a uid provisioned in {directory}")
    return uids


def dashboard_provider(directory: Path, problems: list[str]) -> str:
    paths = []
    for path in sorted(directory.glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        if document.get("apiVersion") != 1:
            problems.append(f"{path.name}: apiVersion must be 1")
        for provider in document.get("providers") or []:
            if provider.get("type") != "file" or not (provider.get("options") or {}).get("path"):
                problems.append(f"{path.name}: provider {provider.get('name')!r} must be type file with options.path")
            else:
                paths.append(provider["options"]["path"])
    if not paths:
        problems.append(f"no dashboard provider in {directory}")
    return ", ".join(paths)


def flatten(panels: list) -> list:
    """Panels, with those inside collapsed rows."""
    out = []
    for panel in panels:
        out.append(panel)
        out.extend(panel.get("panels") or [])
    return out


def check_variables(name: str, dashboard: dict, uids: set[str], problems: list[str]) -> set[str]:
    names = set()
    for variable in (dashboard.get("templating") or {}).get("list", []):
        var_name = variable.get("name")
        if not var_name or var_name in names:
            problems.append(f"{name}: template variable without a name or defined twice: {var_name!r}")
        names.add(var_name)
        if variable.get("type") == "query":
            check_datasource(f"{name}: variable {var_name}", variable.get("datasource"), uids, problems)
            query = variable.get("query")
            text = query.get("query") if isinstance(query, dict) else query
            if not text:
                problems.append(f"{name}: variable {var_name} has no query")
    return names


def check_datasource(where: str, reference, uids: set[str], problems: list[str]) -> None:
    if not isinstance(reference, dict) or reference.get("uid") not in uids:
        problems.append(f"{where}: datasource {reference!r} is not a provisioned uid {sorted(uids)}")
    elif reference.get("type") != "prometheus":
        problems.append(f"{where}: datasource type must be prometheus")


def check_ids_and_grid(name: str, panels: list, problems: list[str]) -> None:
    ids = set()
    cells: dict[tuple[int, int], int] = {}
    for panel in panels:
        panel_id = panel.get("id")
        if not isinstance(panel_id, int) or panel_id in ids:
            problems.append(f"{name}: panel {panel.get('title')!r}: id {panel_id!r} missing or not unique")
        ids.add(panel_id)
        grid = panel.get("gridPos") or {}
        if not all(isinstance(grid.get(key), int) for key in ("x", "y", "w", "h")):
            problems.append(f"{name}: panel {panel_id}: gridPos needs integer x, y, w, h: {grid}")
            continue
        if grid["w"] <= 0 or grid["h"] <= 0 or grid["x"] < 0 or grid["y"] < 0 or grid["x"] + grid["w"] > GRID_COLUMNS:
            problems.append(f"{name}: panel {panel_id}: gridPos {grid} outside the {GRID_COLUMNS}-column grid")
            continue
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                if (x, y) in cells:
                    problems.append(f"{name}: panels {cells[(x, y)]} and {panel_id} overlap at ({x}, {y})")
                    break
                cells[(x, y)] = panel_id
            else:
                continue
            break


def check_targets(name: str, panel: dict, uids: set[str], variables: set[str], problems: list[str]) -> list[str]:
    where = f"{name}: panel {panel.get('id')} {panel.get('title')!r}"
    if panel.get("type") == "row":
        return []
    if not panel.get("type"):
        problems.append(f"{where}: no type")
    check_datasource(where, panel.get("datasource"), uids, problems)
    targets = panel.get("targets") or []
    if not targets:
        problems.append(f"{where}: no queries")
    exprs, ref_ids = [], set()
    for target in targets:
        ref_id = target.get("refId")
        if not ref_id or ref_id in ref_ids:
            problems.append(f"{where}: refId {ref_id!r} missing or repeated")
        ref_ids.add(ref_id)
        if "datasource" in target:
            check_datasource(f"{where} {ref_id}", target["datasource"], uids, problems)
        expr = target.get("expr")
        if not expr:
            problems.append(f"{where} {ref_id}: no expr")
            continue
        for match in VARIABLE.finditer(expr):
            used = match.group(1) or match.group(2)
            if used not in variables and used not in BUILTINS:
                problems.append(f"{where} {ref_id}: ${used} is not a template variable of {name}")
        exprs.append(expr)
    return exprs


def substitute(expr: str, variables: set[str]) -> str:
    def replace(match: re.Match) -> str:
        used = match.group(1) or match.group(2)
        if used in BUILTINS:
            return BUILTINS[used]
        return ".+"  # a template variable's "All" value; used inside =~ matchers

    return VARIABLE.sub(replace, expr)


def anchors(markdown: str) -> set[str]:
    out = set()
    for line in markdown.splitlines():
        match = re.match(r"#+\s+(.*)", line)
        if match:
            heading = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            out.add(heading.replace(" ", "-"))
    return out


def check_alerts(monitoring: Path, runbook: Path) -> int:
    problems = []
    alerts = {}
    for path in sorted((monitoring / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    alerts[rule["alert"]] = rule
    fires, quiet = set(), set()
    for path in sorted((monitoring / "prometheus" / "tests").glob("*.yml")):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    known = anchors(runbook.read_text())
    for name, rule in alerts.items():
        if name not in fires:
            problems.append(f"{name}: no promtool test expects it to fire")
        if name not in quiet:
            problems.append(f"{name}: no promtool test expects it to stay quiet")
        link = (rule.get("annotations") or {}).get("runbook", "")
        anchor = link.removeprefix("runbook.md#")
        if not link.startswith("runbook.md#") or anchor not in known:
            problems.append(f"{name}: runbook annotation {link!r} names no heading of {runbook.name}")
    return report(
        "alert check",
        problems,
        f"{len(alerts)} alerts, each tested firing and quiet, each with its runbook section",
    )


def report(what: str, problems: list[str], summary: str) -> int:
    for problem in problems:
        print(f"{what}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"ok  {summary}")
    return 0


COMMANDS = {"dashboards": check_dashboards, "alerts": check_alerts}

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](Path(sys.argv[2]), Path(sys.argv[3])))
