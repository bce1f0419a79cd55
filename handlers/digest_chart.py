"""The digest's picture: the 7-day volumes, what the bot resolved, and the deflection rate, as a PNG.

matplotlib is imported only when a chart is drawn (it takes a moment to load), with the Agg backend:
no display, safe in a worker thread.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any


def chart_dir(configured: Path | None) -> Path:
    return configured or Path(tempfile.gettempdir()) / "frontdesk-digest"


def draw(trend: list[dict[str, Any]], folder: Path, name: str) -> Path:
    """Write `<folder>/<name>.png` from the digest's trend rows and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    days = [row["day"][5:] for row in trend]  # MM-DD
    figure = Figure(figsize=(7, 3.2), dpi=100)
    volumes = figure.add_subplot()
    positions = range(len(days))
    requests, resolved = [row["requests"] for row in trend], [row["bot_resolved"] for row in trend]
    volumes.bar([p - 0.2 for p in positions], requests, 0.4, label="requests")
    volumes.bar([p + 0.2 for p in positions], resolved, 0.4, label="bot resolved")
    volumes.set_xticks(list(positions), days)
    volumes.set_ylabel("per day")
    rate = volumes.twinx()
    rate.plot(
        list(positions),
        # A day without questions has no rate: a gap in the line, not a 0%.
        [float("nan") if row["deflection_rate"] is None else 100 * row["deflection_rate"] for row in trend],
        color="black",
        marker="o",
        label="deflection %",
    )
    rate.set_ylim(0, 100)
    rate.set_ylabel("deflection %")
    handles = volumes.get_legend_handles_labels()
    more = rate.get_legend_handles_labels()
    volumes.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize="small")
    volumes.set_title("The desk, last 7 days")
    figure.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    figure.savefig(path, format="png")
    return path
