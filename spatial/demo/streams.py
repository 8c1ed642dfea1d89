"""Fourteen months of outage records, maintenance works and meter events for the demo grid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

DAY = 86400
HOUR = 3600
PERIOD_DAYS = 425  # about 14 months, ending at the anchor
WET = (5, 6, 7, 8, 9)  # summer storms
DRY = (11, 12, 1, 2, 3, 4)  # planned work season


@dataclass
class Streams:
    """The generated stream inputs."""

    outages: pd.DataFrame
    works: pd.DataFrame
    meter_events: pd.DataFrame


class _Clock:
    """Seconds since the start of the period, and the local (UTC+8) calendar of those seconds."""

    def __init__(self, anchor: datetime) -> None:
        self.end = pd.Timestamp(anchor).tz_convert("UTC").floor("s")
        self.start = self.end - pd.Timedelta(days=PERIOD_DAYS)
        self.length = PERIOD_DAYS * DAY
        local0 = self.start.tz_convert("Asia/Shanghai")
        self.midnight_offset = -(local0.hour * HOUR + local0.minute * 60 + local0.second)

    def days(self, rng: np.random.Generator, n: int, months: tuple[int, ...] | None) -> np.ndarray:
        """``n`` local midnights (as offsets) in the period, only in ``months`` if given."""
        out: list[np.ndarray] = []
        have = 0
        while have < n:
            d = rng.integers(1, PERIOD_DAYS, max(16, 3 * (n - have)))
            if months is not None:
                m = (self.start + pd.to_timedelta(d, unit="D")).tz_convert("Asia/Shanghai").month
                d = d[np.isin(np.asarray(m), months)]
            out.append(d)
            have += len(d)
        return np.concatenate(out)[:n] * DAY + self.midnight_offset  # type: ignore[no-any-return]

    def iso(self, offsets: np.ndarray) -> np.ndarray:
        """ISO 8601 UTC strings of offsets (NaN → empty)."""
        ok = ~np.isnan(offsets)
        out = np.full(len(offsets), "", dtype=object)
        ts = self.start + pd.to_timedelta(offsets[ok].astype(np.int64), unit="s")
        out[ok] = ts.strftime("%Y-%m-%dT%H:%M:%SZ")
        return out


def _events(rng: np.random.Generator, n: int, rate: float) -> int:
    return int(rng.poisson(rate * n * PERIOD_DAYS / 365))


def generate_streams(
    rng: np.random.Generator, feeders: pd.DataFrame, areas: pd.DataFrame, meters: pd.DataFrame,
    core_area: np.ndarray, anchor: datetime, meter_event_areas: int | None,
) -> Streams:
    """Outages with a realistic cause mix, zero-perception works and meter events."""
    clock = _Clock(anchor)
    rows: list[pd.DataFrame] = []
    f_ids = feeders["feeder_id"].to_numpy()
    f_rural = ~feeders["urban"].to_numpy(dtype=bool)
    a_ids = areas["area_id"].to_numpy()

    def add(kind: str, ids: np.ndarray, start: np.ndarray, hours: np.ndarray, cause: str,
            work: np.ndarray | None = None) -> None:
        rows.append(pd.DataFrame({
            "asset_type": kind, "asset_id": ids, "start": start, "end": start + hours * HOUR,
            "cause": cause, "work_id": work if work is not None else "",
        }))

    # Feeder faults and external damage, any time of year; mountains fault more.
    for cause, urban_rate, rural_rate, median_h in (("fault", 0.6, 1.5, 2.0), ("external", 0.4, 0.3, 3.0)):
        rate = np.where(f_rural, rural_rate, urban_rate)
        n = rng.poisson(rate * PERIOD_DAYS / 365)
        ids = np.repeat(f_ids, n)
        start = clock.days(rng, len(ids), None) + rng.integers(0, DAY, len(ids))
        hours = np.clip(rng.lognormal(np.log(median_h), 0.7, len(ids)), 0.3, 24)
        short = rng.random(len(ids)) < 0.06
        hours[short] = rng.uniform(0.5, 2.5, short.sum()) / 60
        add("feeder", ids, start, hours, cause)

    # Summer storms: each hits a band of counties; rural feeders trip more often.
    counties = feeders["county"].unique()
    for day in clock.days(rng, 12, WET):
        hit = rng.choice(counties, size=max(1, len(counties) // 4), replace=False)
        sel = feeders["county"].isin(hit).to_numpy() & (rng.random(len(f_ids)) < np.where(f_rural, 0.35, 0.1))
        start = day + rng.integers(14 * HOUR, 22 * HOUR) + rng.integers(0, 2 * HOUR, sel.sum())
        add("feeder", f_ids[sel], start, rng.uniform(2, 12, sel.sum()), "weather")

    # Transformer-level (area) faults, customer-side trips and unknowns.
    for cause, per_year in (("fault", 0.35), ("customer", 0.08), ("unknown", 0.04)):
        k = _events(rng, len(a_ids), per_year)
        add("area", rng.choice(a_ids, k), clock.days(rng, k, None) + rng.integers(0, DAY, k),
            np.clip(rng.lognormal(np.log(1.5), 0.6, k), 0.1, 12), cause)

    # A few clearly frequent-outage areas: five or six faults within fifty days, recently.
    n_freq = max(3, len(a_ids) // 200)
    for aid in rng.choice(a_ids[~core_area] if (~core_area).any() else a_ids, n_freq, replace=False):
        k = int(rng.integers(5, 7))
        base = clock.length - int(rng.integers(20, 110)) * DAY
        add("area", np.repeat(aid, k), base - np.sort(rng.integers(0, 50 * DAY, k)),
            rng.uniform(0.5, 4, k), "fault")

    # Planned work in the dry season, 08:30-17:30 local. Works in core zones use live-line work
    # or load transfer (no outage), except some misses that cut customers anyway.
    core_feeders = set(areas.loc[core_area, "feeder_id"])
    is_core = np.isin(f_ids, list(core_feeders))
    n = rng.poisson(np.where(is_core, 1.5, 0.9) * PERIOD_DAYS / 365)
    ids = np.repeat(f_ids, n)
    core = np.repeat(is_core, n)
    start = clock.days(rng, len(ids), DRY) + int(8.5 * HOUR)
    hours = rng.choice([4.0, 6.0, 8.0, 9.0], len(ids))
    work_ids = np.array([f"WK-{i + 1:07d}" for i in range(len(ids))], dtype=object)
    method = np.where(core, rng.choice(["live_line", "load_transfer", "generator"], len(ids),
                                       p=[0.6, 0.3, 0.1]), "outage")
    works = pd.DataFrame({"work_id": work_ids, "asset_type": "feeder", "asset_id": ids,
                          "planned_start": clock.iso(start.astype(float)),
                          "planned_end": clock.iso((start + hours * HOUR).astype(float)),
                          "method": method})
    miss = core & (rng.random(len(ids)) < 0.15)
    cut = ~core | miss
    add("feeder", ids[cut], start[cut] + rng.integers(0, 1800, cut.sum()),
        hours[cut] * rng.uniform(0.6, 1.0, cut.sum()), "planned", work_ids[cut])

    out = pd.concat(rows, ignore_index=True)
    out = out[(out["start"] > 0) & (out["start"] < clock.length - 600)].reset_index(drop=True)
    out["end"] = out["end"].astype(float)
    out.loc[out["end"] > clock.length - 300, "end"] = np.nan  # still out at the anchor
    out = out.sort_values("start", kind="stable").reset_index(drop=True)
    outages = pd.DataFrame({
        "outage_id": [f"OT-{i + 1:08d}" for i in range(len(out))],
        "asset_type": out["asset_type"], "asset_id": out["asset_id"],
        "start_time": clock.iso(out["start"].to_numpy(float)),
        "end_time": clock.iso(out["end"].to_numpy(float)),
        "cause": out["cause"], "work_id": out["work_id"],
    })
    events = _meter_events(rng, clock, out, areas, meters, meter_event_areas)
    return Streams(outages=outages, works=works, meter_events=events)


def _meter_events(
    rng: np.random.Generator, clock: _Clock, out: pd.DataFrame, areas: pd.DataFrame,
    meters: pd.DataFrame, limit: int | None,
) -> pd.DataFrame:
    """Meter off/on events for every interruption of the areas that report (AMI coverage)."""
    a_ids = areas["area_id"].to_numpy()
    reporting = a_ids if limit is None or limit >= len(a_ids) else rng.choice(a_ids, limit, replace=False)
    rep = pd.Series(True, index=pd.Index(reporting))
    # Interruptions per reporting area: its own records plus its feeder's.
    feeder_of = areas.set_index("area_id")["feeder_id"]
    fed = out[out["asset_type"] == "feeder"]
    rep_areas = feeder_of[feeder_of.index.isin(rep.index)].reset_index()
    via_feeder = rep_areas.merge(fed, left_on="feeder_id", right_on="asset_id")[["area_id", "start", "end"]]
    own = out[(out["asset_type"] == "area") & out["asset_id"].isin(rep.index)]
    own = own.rename(columns={"asset_id": "area_id"})[["area_id", "start", "end"]]
    # Meter-only interruptions: an unrecorded low-voltage fault seen only by the meters.
    k = max(1, len(reporting) // 25)
    silent = pd.DataFrame({"area_id": rng.choice(reporting, k)})
    silent["start"] = clock.days(rng, k, None) + rng.integers(0, DAY, k)
    silent["end"] = silent["start"] + rng.uniform(0.5, 3, k) * HOUR
    spans = pd.concat([via_feeder, own, silent], ignore_index=True)
    spans = spans[spans["start"] < clock.length]

    m = meters[meters["area_id"].isin(rep.index)][["meter_id", "area_id"]]
    ev = spans.merge(m, on="area_id")
    n = len(ev)
    keep = rng.random(n) > 0.03  # a few meters fail to report
    off = ev["start"].to_numpy(float) + rng.integers(0, 90, n)
    on = ev["end"].to_numpy(float) + rng.integers(0, 90, n)
    on_ok = keep & ~np.isnan(on) & (on < clock.length)
    meter_ids = ev["meter_id"].to_numpy()
    # Single-meter trips (a customer's own breaker): not an interruption of the area.
    single = m.sample(n=max(1, len(m) // 200), random_state=int(rng.integers(0, 2**31)))
    s_off = (clock.days(rng, len(single), None) + rng.integers(0, DAY, len(single))).astype(float)
    frames = [
        pd.DataFrame({"meter_id": meter_ids[keep], "time": off[keep], "kind": "off"}),
        pd.DataFrame({"meter_id": meter_ids[on_ok], "time": on[on_ok], "kind": "on"}),
        pd.DataFrame({"meter_id": single["meter_id"].to_numpy(), "time": s_off, "kind": "off"}),
        pd.DataFrame({"meter_id": single["meter_id"].to_numpy(), "time": s_off + 1200, "kind": "on"}),
    ]
    events = pd.concat(frames, ignore_index=True)
    events = events[(events["time"] > 0) & (events["time"] < clock.length)]
    events = events.sort_values("time", kind="stable").drop_duplicates(["meter_id", "time", "kind"])
    return pd.DataFrame({"meter_id": events["meter_id"].to_numpy(),
                         "time": clock.iso(events["time"].to_numpy(float)),
                         "kind": events["kind"].to_numpy()})


STORM_MIN_AREAS = 20
STORM_MAX_AREAS = 50
STORM_OFF_SECONDS = 20  # every meter of the hit areas goes off within this many seconds
STORM_RESTORE_AFTER = (240, 420)  # half of the areas come back 4-7 minutes later


def storm(
    rng: np.random.Generator, areas: pd.DataFrame, meters: pd.DataFrame, outages: pd.DataFrame,
    anchor: datetime,
) -> pd.DataFrame:
    """A last-gasp storm starting at the anchor, for ``gridwatch replay --now``.

    Whole feeders of one county (two when one has too few areas) trip: every meter of their
    20-50 areas sends ``off`` within seconds. Half of the areas are restored 4-7 minutes
    later, every meter sending ``on`` within seconds of the others. The span stays under
    8 minutes, so that a replay with ``--now``, at any speed, never dates an event more than
    10 minutes ahead of the clock (the ingest path rejects those). Feeders and areas that are
    still out at the anchor by a record are left alone: their meters would be explained by it.
    """
    still_out = outages[outages["end_time"] == ""]
    busy = set(still_out["asset_id"])
    usable = areas[~areas["area_id"].isin(busy) & ~areas["feeder_id"].isin(busy)]
    hit: list[str] = []
    for county in rng.permutation(np.sort(usable["county"].unique())):
        here = usable[usable["county"] == county]
        for feeder in rng.permutation(np.sort(here["feeder_id"].unique())):
            hit.extend(here.loc[here["feeder_id"] == feeder, "area_id"].tolist())
            if len(hit) >= STORM_MIN_AREAS:
                break
        if len(hit) >= STORM_MIN_AREAS:
            break
    hit = hit[:STORM_MAX_AREAS]
    feeder_of = areas.set_index("area_id")["feeder_id"]
    trip = {f: int(rng.integers(0, STORM_OFF_SECONDS - 4)) for f in sorted(set(feeder_of[hit]))}
    restored = set(rng.choice(np.array(hit, dtype=object), len(hit) // 2, replace=False).tolist())
    back = {a: int(rng.integers(*STORM_RESTORE_AFTER)) for a in hit if a in restored}
    m = meters[meters["area_id"].isin(hit)][["meter_id", "area_id"]]
    n = len(m)
    off = m["area_id"].map(feeder_of).map(trip).to_numpy() + rng.integers(0, 4, n)
    frames = [pd.DataFrame({"meter_id": m["meter_id"].to_numpy(), "area_id": m["area_id"].to_numpy(),
                            "time": off, "kind": "off"})]
    on = m[m["area_id"].isin(restored)]
    frames.append(pd.DataFrame({
        "meter_id": on["meter_id"].to_numpy(), "area_id": on["area_id"].to_numpy(),
        "time": on["area_id"].map(back).to_numpy() + rng.integers(0, 20, len(on)), "kind": "on"}))
    events = pd.concat(frames, ignore_index=True).sort_values(["time", "meter_id"], kind="stable")
    start = pd.Timestamp(anchor).tz_convert("Asia/Shanghai").floor("s")
    stamps = start + pd.to_timedelta(events["time"].to_numpy(np.int64), unit="s")
    return pd.DataFrame({"meter_id": events["meter_id"].to_numpy(),
                         "area_id": events["area_id"].to_numpy(),
                         "time": [t.isoformat() for t in stamps],
                         "kind": events["kind"].to_numpy()})
