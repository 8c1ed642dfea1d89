"""Folium elements of gridwatch maps: GeoJSON layers, vector-tile layers, legend, basemaps, setup."""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import folium
from branca.element import Element, Figure, MacroElement
from folium.plugins import VectorGridProtobuf
from folium.template import Template

from core.i18n import Lang
from core.settings import Settings
from maps import styles
from maps.assets import JS, Links

log = logging.getLogger(__name__)


class Raw(Element):
    """Markup or script text put into the page exactly as it is.

    branca's ``Element(text)`` compiles ``text`` as a Jinja template, so any ``{{ ... }}`` or
    ``{% ... %}`` in it is evaluated on the server when the page renders. Text that carries input
    (area ids and names, layer names, notes) must never go there: it is a template injection,
    and compiling a megabyte of inline GeoJSON as a template is also most of a big page's
    rendering time. Every element gridwatch adds to a page is a ``Raw``.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "Raw"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        """The text itself."""
        return self.text


def _render_macro(self: MacroElement, **kwargs: Any) -> None:
    """branca's ``MacroElement.render``, with the rendered header, html and script kept as ``Raw``.

    branca 0.8 wraps the output of each macro in ``Element(output)``, which compiles that output
    (with the element's data and input-derived text already in it) as a new Jinja template:
    a name such as ``{{ 7*7 }}`` would render as ``49``. Installed below for every folium
    element; tests/test_security_maps.py renders hostile names through every page.
    """
    figure = self.get_root()
    assert isinstance(figure, Figure), "You cannot render this Element if it is not in a Figure."
    module = self._template.module.__dict__
    for part in ("header", "html", "script"):
        macro = module.get(part)
        if macro is not None:
            getattr(figure, part).add_child(Raw(macro(self, kwargs)), name=self.get_name())
    for element in self._children.values():
        element.render(**kwargs)


MacroElement.render = _render_macro  # type: ignore[method-assign]


# What JSON text must not carry raw inside a <script> element: ``<`` (``</script>``, ``<!--``,
# ``<script``), ``>`` (``-->``), ``&`` (in XHTML) and the JavaScript line terminators.
_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                   "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(text: str) -> str:
    """JSON text that is safe inside an HTML ``<script>`` element, with the same value.

    Every ``<``, ``>``, ``&``, U+2028 and U+2029 becomes its ``\\uXXXX`` escape. In valid JSON these
    characters only occur inside strings, where the escape means the same character, so the
    parsed value is unchanged, and the HTML parser never sees ``</script``, ``<!--`` or ``-->``.
    Every JSON text a map page embeds goes through here.
    """
    # Five str.replace passes run in C at memory speed; str.translate with a mapping to
    # strings goes character by character in Python objects (0.15 s on the province page).
    for char, escape in _SCRIPT_ESCAPES.items():
        text = text.replace(char, escape)
    return text


def script_dumps(value: Any) -> str:
    """``value`` as JSON text that is safe inside an HTML ``<script>`` element."""
    return script_json(json.dumps(value, ensure_ascii=False, default=str))


def layer_name(text: str) -> str:
    """A layer-control label: Leaflet inserts it as HTML, so input-derived text is escaped here."""
    return html.escape(text)


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
    """Calls ``gridwatch.init`` on the map (panes, colours, links, words, extra attribution).

    With ``lang`` (default: the default language) the page's words go along: every
    ``...Labels`` table of ``options`` is translated (its values are msgids), the standard tables
    (causes, progress steps, alert rules...) are added, and so are the ``maps`` catalog for the
    browser code's own messages and the language code (which picks the date format).
    """

    _template = Template(
        """{% macro script(this, kwargs) %}
        gridwatch.init({{ this._parent.get_name() }}, {{ this.options }});
        {% endmacro %}"""
    )

    def __init__(self, options: Mapping[str, Any], *, lang: Lang | None = None) -> None:
        super().__init__()
        self._name = "GridwatchSetup"
        self.options = script_dumps(page_options(options, lang or Lang()))


def page_options(options: Mapping[str, Any], lang: Lang) -> dict[str, Any]:
    """``options`` for ``gridwatch.init`` with the words of ``lang`` (see ``Setup``)."""
    words: dict[str, Any] = {
        "statusLabels": styles.STATUS_LABELS, "overlayLabels": styles.OVERLAY_LABELS,
        "causeLabels": styles.CAUSE_LABELS, "progressLabels": styles.PROGRESS_LABELS,
        "ruleLabels": styles.RULE_LABELS, "severityLabels": styles.SEVERITY_LABELS,
        "subjectLabels": styles.SUBJECT_LABELS,
    }
    out: dict[str, Any] = {"statusFillOpacity": styles.STATUS_FILL_OPACITY, **options}
    for key, value in {**words, **options}.items():
        if key.endswith("Labels") and isinstance(value, Mapping):
            out[key] = {k: lang.gettext(v) if isinstance(v, str) else v for k, v in value.items()}
    out["lang"] = lang.code
    out["messages"] = lang.messages("maps")
    return out
class GeoLayer(folium.map.Layer):
    """An inline GeoJSON layer drawn by ``gridwatch.geo`` (style, tooltips and popups in JS)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        var {{ this.get_name() }} = gridwatch.geo({{ this.data }}, {{ this.opts }});
        {% endmacro %}"""
    )

    def __init__(self, data: str, *, kind: str, name: str, show: bool = True, control: bool = True,
                 layer: str | None = None) -> None:
        super().__init__(name=layer_name(name), overlay=True, control=control, show=show)
        self._name = "GeoLayer"
        self.kind = kind
        self.data = script_json(data)
        self.opts = script_dumps({"kind": kind, "layer": layer})


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
        super().__init__(url, name=layer_name(name), show=show)
        self.kind = kind
        self.extra = script_dumps({"names": tile_names, "layer": layer, "minZoom": min_zoom})
        self.default_js = [("vectorGrid", links.asset(JS["vectorgrid"]))]


class Legend(MacroElement):
    """The legend control (bottom right)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        gridwatch.legend({{ this._parent.get_name() }}, {{ this.html }});
        {% endmacro %}"""
    )

    def __init__(self, markup: str) -> None:
        super().__init__()
        self._name = "Legend"
        self.html = script_dumps(markup)


def attribution(settings: Settings, lang: Lang | None = None) -> str:
    """Extra attribution: the map review number (审图号) when configured."""
    if settings.map_review_number:
        label = (lang or Lang()).gettext("Map review number")
        return f"{html.escape(label)}: {html.escape(settings.map_review_number)}"
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
    """A title box drawn over the map (top left, beside the zoom buttons).

    ``html_text`` is markup: the caller escapes every input-derived piece of it.
    """
    return Raw(f'<div class="gw-title" id="gw-title">{html_text}</div>')


class Fold(MacroElement):
    """The buttons that fold the layer control and the legend away on a narrow screen.

    Add it after the layer control and the legend: ``gridwatch.fold`` finds them on the map.
    """

    _template = Template(
        """{% macro script(this, kwargs) %}
        gridwatch.fold({{ this._parent.get_name() }});
        {% endmacro %}"""
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "GridwatchFold"


def with_html_lang(document: str, lang: Lang) -> str:
    """The rendered page with ``<html lang="...">`` (folium writes a bare ``<html>``)."""
    return document.replace("<html>", f'<html lang="{html.escape(lang.html)}">', 1)
