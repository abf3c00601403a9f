"""Every alert has a severity, a `for:`, and a runbook link to a section of docs/runbook.md."""

from __future__ import annotations

import re

import yaml

from services.runtime.settings import REPO_ROOT


def test_every_alert_links_to_its_runbook_section() -> None:
    rules = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    runbook = (REPO_ROOT / "docs" / "runbook.md").read_text()
    anchors = {heading.strip().lower() for heading in re.findall(r"^### (.+)$", runbook, re.MULTILINE)}
    assert len(alerts) >= 12
    for alert in alerts:
        assert alert["labels"]["severity"] in ("page", "ticket"), alert["alert"]
        assert re.fullmatch(r"\d+[smh]", alert["for"]), alert["alert"]
        url = alert["annotations"]["runbook_url"]
        assert url == f"docs/runbook.md#{alert['alert'].lower()}", url
        assert alert["alert"].lower() in anchors, f"docs/runbook.md has no section {alert['alert']}"
