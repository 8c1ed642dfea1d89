"""``gridwatch replay``: publish a stream file to the MQTT broker at N times its recorded pace."""

from __future__ import annotations

import json
from pathlib import Path

import click

from core import broker as mqtt_broker
from gridwatch import progress
from gridwatch.context import settings
from ingest.stream.publish import KIND_FIELDS, parse_speed, replay


@click.command("replay")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--speed", default="1", show_default=True,
              help="Times the recorded pace: 10 sleeps a tenth of each gap between event "
                   "times; 0 or 'max' sends as fast as the broker takes it.")
@click.option("--kind", type=click.Choice(sorted(KIND_FIELDS)), default=None,
              help="The stream kind (default: told by the file's columns).")
@click.option("--topic-prefix", default="gridwatch", show_default=True,
              help="Topics are PREFIX/meter-events/<area_id, else the file name>, "
                   "PREFIX/outages|works/<asset_type>/<asset_id>.")
@click.option("--batch-ms", type=click.IntRange(1, 60_000), default=100, show_default=True,
              help="Events due within this many milliseconds go out together, one JSON array "
                   "per topic.")
@click.option("--now", "--shift-to-now", "shift", is_flag=True,
              help="Move every time by the same amount so that the first event happens now "
                   "(for the demo's storm file).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="The summary as a line of text or as JSON.")
def replay_command(file: Path, speed: str, kind: str | None, topic_prefix: str, batch_ms: int,
                   shift: bool, fmt: str) -> None:
    """Publish a meter-events, outages or works file (CSV or JSON Lines) to the broker.

    The broker is the embedded one ('gridwatch broker start') or GRIDWATCH_MQTT_URL. Messages
    go at QoS 1; the command ends when the broker has acknowledged every one, and prints what
    it sent. Ids and text are published as they are: the consumer validates them.
    """
    pace = parse_speed(speed)
    conn = mqtt_broker.connection(settings())
    total = _data_lines(file) if progress.enabled() else None
    with progress.steps(f"replay {file.name}", total=total) as advance:
        done = [0]

        def published(sent: int) -> None:
            advance(sent - done[0], rows=sent)
            done[0] = sent

        result = replay(conn=conn, path=file, kind=kind, speed=pace, prefix=topic_prefix,
                        batch_ms=batch_ms, shift_to_now=shift, on_events=published)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict()))
        return
    pace_text = "as fast as possible" if pace is None else f"at speed {pace:g}"
    moved = "" if result.shifted_by is None else f", times moved by {result.shifted_by:+.0f} s"
    skipped = f", {result.skipped} line(s) skipped (not a JSON object)" if result.skipped else ""
    click.echo(
        f"replayed {file} ({result.kind}) to {conn.url(hide_password=True)} {pace_text}: "
        f"{result.events} events in {result.messages} messages on {len(result.topics)} topics "
        f"in {result.seconds:.2f} s ({result.rate:,.0f} events/s; file span "
        f"{result.span_seconds:.1f} s{moved}{skipped})")


def _data_lines(file: Path) -> int | None:
    """The lines after the header (the events, near enough), for the bar's total."""
    try:
        with file.open("rb") as f:
            return max(sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1, 0)
    except OSError:
        return None     # replay itself says what is wrong with the file


def register(cli: click.Group) -> None:
    """Add ``replay``."""
    cli.add_command(replay_command)
