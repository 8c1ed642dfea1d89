/* gridwatch map helpers: styles, tooltips, legend and vector-tile layers for folium pages.
   Every value from feature properties reaches HTML only through esc() (tooltips, popups); the legend
   and attribution are markup the server built with its input already escaped. */
(function () {
  "use strict";
  var cfg = {
    statusColors: {}, statusLabels: {}, overlayColors: {}, overlayLabels: {},
    causeColors: {}, choropleth: null, areaLink: null, metricLabel: "", panes: {}
  };

  function esc(v) {
    return String(v === null || v === undefined ? "" : v)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  function tagList(tags) {
    if (tags === null || tags === undefined || tags === "") { return []; }
    if (typeof tags === "string") {
      try { tags = JSON.parse(tags); } catch (e) { tags = tags.split(","); }
    }
    return tags;
  }

  function statusOf(p) {
    var s = p && p.status ? p.status : "none";
    return cfg.statusColors[s] ? s : "none";
  }

  function assetStyle(kind) {
    return function (p) {
      var s = statusOf(p), color = cfg.statusColors[s] || cfg.statusColors.none;
      if (kind === "feeder") {
        return { color: color, weight: s === "frequent" ? 3.5 : (s === "at_risk" ? 3 : 1.5),
                 opacity: 0.9, fill: false };
      }
      return { color: color, weight: 1, opacity: 0.9, fill: true, fillColor: color,
               fillOpacity: s === "frequent" || s === "at_risk" ? 0.7 : 0.35 };
    };
  }

  function assetHtml(kind, p) {
    var tags = tagList(p.tags).map(function (t) { return esc(cfg.overlayLabels[t] || t); });
    var s = statusOf(p);
    var rows = [
      "<b>" + esc(p.name || p.id) + "</b> <small>" + esc(kind === "feeder" ? "feeder" : "area") +
        " " + esc(p.id) + "</small>",
      "County: " + esc(p.county || "—"),
      "Status: <b style=\"color:" + (cfg.statusColors[s] || "#555") + "\">" +
        esc(cfg.statusLabels[s] || s) + "</b>",
      "count_365: " + esc(p.count_365 === undefined || p.count_365 === null ? "—" : p.count_365) +
        " &middot; max_60: " + esc(p.max_60 === undefined || p.max_60 === null ? "—" : p.max_60),
      "Tags: " + (tags.length ? tags.join(", ") : "none")
    ];
    return rows.join("<br>");
  }

  // Only relative links or http(s): never a javascript:, data: or other scheme from the data.
  function safeHref(href) {
    var s = String(href).replace(/[\u0000-\u0020]/g, "");
    var scheme = /^([a-z][a-z0-9+.\-]*):/i.exec(s);
    return scheme && !/^https?$/i.test(scheme[1]) ? null : href;
  }

  function areaHref(p) {
    if (p.href) { return safeHref(p.href); }
    if (!cfg.areaLink) { return null; }
    return cfg.areaLink.replace("{id}", function () { return encodeURIComponent(p.id); });
  }

  function popupHtml(kind, p) {
    var html = assetHtml(kind, p);
    var href = kind === "area" ? areaHref(p) : null;
    if (href) { html += "<br><a href=\"" + esc(href) + "\">Open area page &rarr;</a>"; }
    return html;
  }

  function choroplethColor(v) {
    var c = cfg.choropleth;
    if (!c || v === null || v === undefined) { return null; }
    for (var i = 0; i < c.breaks.length; i++) { if (v <= c.breaks[i]) { return c.colors[i]; } }
    return c.colors[c.colors.length - 1];
  }

  function geo(data, opts) {
    var kind = opts.kind, layerOpts = { pane: cfg.panes[kind] || "overlayPane" };
    if (kind === "area" || kind === "feeder") {
      layerOpts.style = function (f) { return assetStyle(kind)(f.properties); };
      layerOpts.onEachFeature = function (f, layer) {
        layer.bindTooltip(assetHtml(kind, f.properties), { sticky: true });
        layer.bindPopup(popupHtml(kind, f.properties));
      };
    } else if (kind === "overlay") {
      var color = cfg.overlayColors[opts.layer] || "#555";
      layerOpts.style = function () {
        return { color: color, weight: 1.5, dashArray: "5 4", fillColor: color, fillOpacity: 0.15 };
      };
      layerOpts.onEachFeature = function (f, layer) {
        layer.bindTooltip("<b>" + esc(f.properties.name) + "</b><br>" +
                          esc(cfg.overlayLabels[opts.layer] || opts.layer), { sticky: true });
      };
    } else if (kind === "county") {
      layerOpts.interactive = false;
      layerOpts.style = function () { return { color: "#4d4d4d", weight: 1.2, fill: false, opacity: 0.8 }; };
    } else if (kind === "choropleth") {
      layerOpts.style = function (f) {
        var c = choroplethColor(f.properties.value);
        return { color: "#777", weight: 0.6, fill: true, fillColor: c || "#ffffff",
                 fillOpacity: c ? 0.55 : 0.1 };
      };
      layerOpts.onEachFeature = function (f, layer) {
        var v = f.properties.value;
        layer.bindTooltip("<b>" + esc(f.properties.name) + "</b> " + esc(f.properties.adcode) + "<br>" +
          esc(cfg.metricLabel) + ": " + (v === null || v === undefined ? "no data" : esc(v.toFixed(3))),
          { sticky: true });
      };
    } else if (kind === "alert") {
      layerOpts.pointToLayer = function (f, latlng) {
        var critical = f.properties.severity === "critical";
        return L.circleMarker(latlng, { pane: cfg.panes.alert || "markerPane", radius: critical ? 8 : 6,
          color: "#000", weight: 1.5, fillColor: critical ? "#b10026" : "#feb24c", fillOpacity: 0.95 });
      };
      layerOpts.onEachFeature = function (f, layer) {
        var p = f.properties;
        layer.bindTooltip("<b>" + esc(p.rule) + "</b> (" + esc(p.severity) + ")<br>" +
          esc(p.asset_type) + " " + esc(p.asset_id) + (p.summary ? "<br>" + esc(p.summary) : "") +
          (p.since ? "<br>since " + esc(p.since) : ""));
      };
    }
    return L.geoJSON(data, layerOpts);
  }

  function tileOptions(kind, extra) {
    var style = kind === "overlay"
      ? function () {
          var color = cfg.overlayColors[extra.layer] || "#555";
          return { color: color, weight: 1.5, dashArray: "5 4", fill: true, fillColor: color, fillOpacity: 0.15 };
        }
      : assetStyle(kind);
    var styles = {};
    (extra.names || []).forEach(function (n) { styles[n] = style; });
    return {
      vectorTileLayerStyles: styles, interactive: true, pane: cfg.panes[kind] || "overlayPane",
      maxNativeZoom: extra.maxNativeZoom || 16, minZoom: extra.minZoom || 0,
      getFeatureId: function (f) { return f.properties.id || f.properties.area_id || f.properties.feeder_id; }
    };
  }

  var tileLayers = [];

  function idle() {
    return tileLayers.every(function (l) { return !l._map || l.isLoading() !== true; });
  }

  function bindTiles(layer, kind, map) {
    tileLayers.push(layer);
    layer.on("click", function (e) {
      var p = e.layer && e.layer.properties ? e.layer.properties : {};
      if (!p.id) { p.id = p.area_id || p.feeder_id || p.feature_id; }
      var html = kind === "overlay" ? "<b>" + esc(p.name) + "</b>" : popupHtml(kind, p);
      L.popup().setLatLng(e.latlng).setContent(html).openOn(map);
    });
    return layer;
  }

  function legend(map, html) {
    var ctl = L.control({ position: "bottomright" });
    ctl.onAdd = function () {
      var div = L.DomUtil.create("div", "gw-legend leaflet-control");
      div.innerHTML = html;
      L.DomEvent.disableScrollPropagation(div);
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    ctl.addTo(map);
    return ctl;
  }

  function init(map, options) {
    for (var k in options) { if (Object.prototype.hasOwnProperty.call(options, k)) { cfg[k] = options[k]; } }
    // An explicit zoom range: otherwise Leaflet raises the map's minimum to a tile layer's minZoom.
    map.options.minZoom = options.minZoom === undefined ? 4 : options.minZoom;
    map.options.maxZoom = options.maxZoom === undefined ? 19 : options.maxZoom;
    var z = { overlay: 410, choropleth: 405, feeder: 440, area: 430, alert: 620, county: 415 };
    Object.keys(z).forEach(function (kind) {
      var name = "gw-" + kind;
      if (!map.getPane(name)) { map.createPane(name).style.zIndex = z[kind]; }
      cfg.panes[kind] = name;
    });
    if (options.attribution && map.attributionControl) { map.attributionControl.addAttribution(options.attribution); }
  }

  window.gridwatch = { init: init, geo: geo, tileOptions: tileOptions, bindTiles: bindTiles,
                       legend: legend, esc: esc, idle: idle };
})();
