"""template.yaml as the tests read it: where it is, and the metrics its dashboard reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def dashboard_metrics(source: dict) -> set[tuple[str, frozenset[str]]]:
    """(metric name, dimension names) for every gateway metric the dashboard reads."""
    body = json.loads(source["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
    found = set()
    for widget in body["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            if isinstance(metric[0], dict):  # a SEARCH expression
                expression = metric[0]["expression"]
                match = re.search(r"\{SfAnthropicGateway/\$\{Stage\},([^}]*)\} MetricName=\"(\w+)\"", expression)
                assert match, expression
                found.add((match.group(2), frozenset(match.group(1).split(","))))
            elif metric[0] == "SfAnthropicGateway/${Stage}":
                names = [x for x in metric[2:] if isinstance(x, str)][::2]
                found.add((metric[1], frozenset(names)))
    return found
