"""Folium elements of gridwatch maps: GeoJSON layers, vector-tile layers, legend, basemaps, setup."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import folium
from branca.element import Element, MacroElement
from folium.plugins import VectorGridProtobuf
from folium.template import Template

from core.settings import Settings
from maps.assets import JS, Links

log = logging.getLogger(__name__)


def _script_safe(text: str) -> str:
    """JSON text that cannot close a <script> element."""
    return text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def feature_collection(features: Iterable[tuple[str | None, Mapping[str, Any]]]) -> str:
    """A GeoJSON FeatureCollection text from (geometry GeoJSON text, properties) pairs."""
    parts = []
    for geometry, props in features:
        if not geometry:
            continue
        parts.append('{"type":"Feature","geometry":' + geometry + ',"properties":'
                     + json.dumps(props, ensure_ascii=False, default=str, separators=(",", ":")) + "}")
    return '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}"


class Setup(MacroElement):
    """Calls ``gridwatch.init`` on the map (panes, colours, links, extra attribution)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        gridwatch.init({{ this._parent.get_name() }}, {{ this.options }});
        {% endmacro %}"""
    )

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__()
        self._name = "GridwatchSetup"
        self.options = _script_safe(json.dumps(options, ensure_ascii=False, default=str))


class GeoLayer(folium.map.Layer):
    """An inline GeoJSON layer drawn by ``gridwatch.geo`` (style, tooltips and popups in JS)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        var {{ this.get_name() }} = gridwatch.geo({{ this.data }}, {{ this.opts }});
        {% endmacro %}"""
    )

    def __init__(self, data: str, *, kind: str, name: str, show: bool = True, control: bool = True,
                 layer: str | None = None) -> None:
        super().__init__(name=name, overlay=True, control=control, show=show)
        self._name = "GeoLayer"
        self.kind = kind
        self.data = _script_safe(data)
        self.opts = json.dumps({"kind": kind, "layer": layer})


class TileLayer(VectorGridProtobuf):
    """A vector-tile layer from the server (pinned, vendored Leaflet.VectorGrid), with popups."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        var {{ this.get_name() }} = gridwatch.bindTiles(L.vectorGrid.protobuf(
            {{ this.url|tojson }}, gridwatch.tileOptions({{ this.kind|tojson }}, {{ this.extra }})),
            {{ this.kind|tojson }}, {{ this._parent.get_name() }});
        {% endmacro %}"""
    )

    def __init__(self, url: str, *, kind: str, name: str, links: Links, tile_names: list[str],
                 layer: str | None = None, show: bool = True, min_zoom: int = 0) -> None:
        super().__init__(url, name=name, show=show)
        self.kind = kind
        self.extra = json.dumps({"names": tile_names, "layer": layer, "minZoom": min_zoom})
        self.default_js = [("vectorGrid", links.asset(JS["vectorgrid"]))]


class Legend(MacroElement):
    """The legend control (bottom right)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        gridwatch.legend({{ this._parent.get_name() }}, {{ this.html }});
        {% endmacro %}"""
    )

    def __init__(self, html: str) -> None:
        super().__init__()
        self._name = "Legend"
        self.html = _script_safe(json.dumps(html, ensure_ascii=False))


def attribution(settings: Settings) -> str:
    """Extra attribution: the map review number (审图号) when configured."""
    if settings.map_review_number:
        return f"审图号: {settings.map_review_number}"
    return ""


def add_basemap(m: folium.Map, settings: Settings) -> None:
    """The configured basemap: none, OpenStreetMap, or Tianditu (vector + labels, Web Mercator)."""
    if settings.basemap == "osm":
        folium.TileLayer(
            tiles="https://tile.openstreetmap.org/{z}/{x}/{y}.png", name="OpenStreetMap",
            attr='&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
            max_zoom=19, control=False,
        ).add_to(m)
    elif settings.basemap == "tianditu":
        key = settings.tianditu_key or ""
        for layer, name, overlay in (("vec", "Tianditu", False), ("cva", "Tianditu labels", True)):
            folium.TileLayer(
                tiles=(f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                       f"&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                       f"&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"),
                name=name, attr="&copy; 天地图 Tianditu", subdomains="01234567", max_zoom=18,
                overlay=overlay, control=False,
            ).add_to(m)


def title_box(html_text: str) -> Element:
    """A title box drawn over the map (top left, beside the zoom buttons)."""
    return Element(f'<div class="gw-title">{html_text}</div>')
