"""The demo's PV hosting-capacity inputs (SPEC section 15): areas' noon loads and rooftop PV.

Written as their own files (``area-loads.csv``, ``pv.csv``) from their own random generator,
so the other demo files stay as they were. With the default parameters (β 0.8, cos φ 0.95,
τ 1.0) an area's hosting capacity is S_d = P + 0.76·S:

* noon loads (a spring or autumn working day at noon, when PV peaks and households are out):
  0.35 kW a customer in town and 0.2 kW in the countryside (lognormal, σ 0.35), at most 60 % of
  the transformer's kW; one area in 25 has no load given (unassessed);
* rooftop PV, as a share of S_d per area (lognormal): in the countryside of the counties with a
  whole-county rooftop programme (整县推进: Kaili, Sandu and every fourth county of the autonomous
  prefectures 黔东南, 黔南, 黔西南), which put household systems on nearly every small
  transformer, a median of 1.2 (most areas yellow or red); elsewhere in the countryside one
  area in eight has PV, at a median of 0.5; in town one area in five, at 0.1. Each area's PV is
  split into household systems of about 5-30 kW (and 50-200 kW commercial roofs in town), a
  quarter to a third of them registered (approved, not yet connected). The province demo gets
  about 300,000 installations (issue 15's benchmark shape).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spatial.demo.boundaries import AUTONOMOUS_PREFECTURES

BETA, COS_PHI, TAU = 0.8, 0.95, 1.0
"""The defaults of the settings, used only to size the demo's PV against S_d."""
NO_LOAD_SHARE = 1 / 25
HOUSEHOLD_KW = np.array([5.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0])


@dataclass
class Hosting:
    """The generated inputs."""

    loads: pd.DataFrame
    pv: pd.DataFrame


PROGRAMME_COUNTIES = ("522601", "522732")
"""Kaili and Sandu (in the county demo) always have a whole-county rooftop programme."""
RURAL_PRESENCE, URBAN_PRESENCE = 1 / 8, 1 / 5
"""The share of areas with any PV outside the programme counties' countryside."""


def programme_counties(counties: np.ndarray) -> set[str]:
    """The counties with a whole-county rooftop programme among ``counties`` (adcodes)."""
    autonomous = sorted({c for c in counties if c[:4] + "00" in AUTONOMOUS_PREFECTURES})
    return set(autonomous[::4]) | set(PROGRAMME_COUNTIES)


def _kind(areas: pd.DataFrame) -> np.ndarray:
    """high (rural, programme county), rural, or urban, per area."""
    county = areas["county"].astype(str).to_numpy()
    urban = areas["urban"].to_numpy(bool)
    high = ~urban & np.isin(county, sorted(programme_counties(county)))
    return np.where(urban, "urban", np.where(high, "high", "rural"))


def generate_hosting(rng: np.random.Generator, areas: pd.DataFrame) -> Hosting:
    """Noon loads for most areas and rooftop PV for many, as ``area-loads`` and ``pv`` rows."""
    n = len(areas)
    ids = areas["area_id"].astype(str).to_numpy()
    kind = _kind(areas)
    urban = kind == "urban"
    s_kva = areas["capacity_kva"].to_numpy(float)
    customers = areas["customers"].to_numpy(float)
    per_customer = np.where(urban, 0.35, 0.2) * rng.lognormal(0.0, 0.35, n)
    load = np.minimum(np.round(customers * per_customer, 1), np.round(0.6 * s_kva * COS_PHI, 1))
    has_load = rng.random(n) >= NO_LOAD_SHARE
    loads = pd.DataFrame({"area_id": ids[has_load], "typical_load_kw": load[has_load]})

    s_d = (load + BETA * s_kva * COS_PHI) / TAU
    median = np.select([kind == "high", kind == "rural"], [1.2, 0.5], 0.1)
    spread = np.select([kind == "high", kind == "rural"], [0.35, 0.5], 0.8)
    target = s_d * median * rng.lognormal(0.0, 1.0, n) ** spread
    presence = np.select([kind == "high", kind == "rural"], [1.0, RURAL_PRESENCE], URBAN_PRESENCE)
    target[rng.random(n) >= presence] = 0.0
    unit = np.where(urban & (rng.random(n) < 0.2), rng.uniform(50, 200, n),
                    rng.choice(HOUSEHOLD_KW, n))
    count = np.where(target > 0, np.maximum(1, np.round(target / unit)), 0).astype(int)
    owner = np.repeat(np.arange(n), count)
    share = rng.uniform(0.7, 1.3, len(owner))
    # each area's systems add up to its target: the shares are normalised per area
    sums = np.bincount(owner, weights=share, minlength=n)
    kw = np.maximum(0.5, np.round(target[owner] * share / sums[owner], 1))
    registered = rng.random(len(owner)) < np.where(kind[owner] == "high", 0.33, 0.25)
    pv = pd.DataFrame({
        "pv_id": [f"PV-{i + 1:07d}" for i in range(len(owner))],
        "area_id": ids[owner],
        "kw": kw,
        "status": np.where(registered, "registered", "connected"),
    })
    return Hosting(loads=loads, pv=pv)
