"""`frontdesk digest --print`: the managers' digest for any day, on demand, as text or JSON."""

from __future__ import annotations

import json
from datetime import date

import click

from bot.cli_support import friendly_errors


@click.command()
@click.option("--print", "to_print", is_flag=True, help="Print the digest here (it is posted on schedule).")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="The last day of the period (default: yesterday).")
@click.option("--days", default=1, show_default=True, type=click.IntRange(1, 366), help="Days in the period.")
@click.option("--json", "as_json", is_flag=True, help="Every figure, and the chart's path, as JSON.")
@friendly_errors
def digest(to_print: bool, day: str | None, days: int, as_json: bool) -> None:
    """The managers' digest: requests, what the bot resolved, tickets, SLA, satisfaction, the 7-day trend."""
    from bot.bootstrap import build_app
    from bot.cli import _read_settings, _show
    from bot.clock import now
    from handlers import digest as figures
    from handlers import digest_report

    if not to_print:
        raise click.UsageError(
            "frontdesk digest --print shows the digest; the scheduler posts it at FRONTDESK_DIGEST_TIME"
        )
    settings = _read_settings()
    last = _parse_day(day) if day else figures.yesterday(now(), settings.timezone)
    span = figures.period(last, days, settings.timezone)
    app = build_app(settings)
    with app.sessions() as session:
        numbers = figures.figures(session, settings, span)
    chart = digest_report.chart_for(settings.digest_chart_dir, numbers)
    if as_json:
        click.echo(json.dumps({**numbers, "chart": str(chart) if chart else None}, indent=2))
        return
    for line in digest_report.render(numbers).splitlines():
        _show(line)
    if chart is not None:
        _show(f"Chart: {chart}")


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"not a date: {text!r} (YYYY-MM-DD)", param_hint="--date") from None
