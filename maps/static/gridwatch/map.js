/* gridwatch map helpers: styles, tooltips, legend, vector-tile layers and live outages for folium pages.
   Every value from feature properties reaches HTML only through esc() (tooltips, popups); the legend
   and attribution are markup the server built with its input already escaped.
   Words: every message is an English literal in _("..."), translated from the "maps" catalog the
   page embeds (cfg.messages, from core.i18n Lang.messages); `make messages` extracts them. Times
   are Asia/Shanghai, written as the page's language writes them (cfg.lang). */
(function () {
  "use strict";
  var cfg = {
    statusColors: {}, statusLabels: {}, statusFillOpacity: {}, overlayColors: {}, overlayLabels: {},
    causeLabels: {}, progressLabels: {}, ruleLabels: {}, severityLabels: {}, subjectLabels: {},
    alertColors: {}, choropleth: null, areaLink: null, metricLabel: "", panes: {}, messages: {},
    lang: "zh_CN", hostingColors: {}, hostingLabels: {}, hostingFillOpacity: {}
  };
  var own = Object.prototype.hasOwnProperty;

  function _(m) { return cfg.messages && own.call(cfg.messages, m) && cfg.messages[m] ? cfg.messages[m] : m; }

  // "{name}" placeholders of a translated message, filled with plain values (escape the result).
  function fmt(msg, values) {
    return msg.replace(/\{(\w+)\}/g, function (all, k) { return own.call(values, k) ? String(values[k]) : all; });
  }

  function label(table, key) {
    return table && own.call(table, key) ? table[key] : key;
  }

  function esc(v) {
    return String(v === null || v === undefined ? "" : v)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  // "(text)" with the page's language's brackets; text is markup.
  function paren(textHtml) {
    return cfg.lang === "zh_CN" ? "（" + textHtml + "）" : " (" + textHtml + ")";
  }

  // "label: value" in the page's language (a full-width colon in Chinese); value is markup.
  function row(name, valueHtml) {
    return esc(name) + (cfg.lang === "zh_CN" ? "：" : ": ") + valueHtml;
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

  // Status is not colour alone: frequent areas are cross-hatched, at-risk ones hatched, and areas
  // never evaluated have a faint fill and a dotted outline (maps/styles.py STATUS_PATTERNS).
  var HATCH = { frequent: "M0,0L6,6M6,0L0,6", at_risk: "M-1,1L1,-1M0,6L6,0M5,7L7,5" };

  function patterns() {
    if (document.getElementById("gw-patterns")) { return; }
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg"), defs = document.createElementNS(ns, "defs");
    svg.setAttribute("id", "gw-patterns");
    svg.setAttribute("width", "0");
    svg.setAttribute("height", "0");
    svg.setAttribute("aria-hidden", "true");
    svg.style.position = "absolute";
    var hatches = Object.keys(HATCH).map(function (s) { return [s, cfg.statusColors[s], HATCH[s]]; });
    // PV hosting grades (maps/hosting.py): red crossed, yellow hatched
    hatches.push(["host-red", cfg.hostingColors.red, HATCH.frequent],
                 ["host-yellow", cfg.hostingColors.yellow, HATCH.at_risk]);
    hatches.forEach(function (h) {
      var s = h[0];
      var pat = document.createElementNS(ns, "pattern"), rect = document.createElementNS(ns, "rect");
      var path = document.createElementNS(ns, "path");
      pat.setAttribute("id", "gw-hatch-" + s);
      pat.setAttribute("patternUnits", "userSpaceOnUse");
      pat.setAttribute("width", "6");
      pat.setAttribute("height", "6");
      rect.setAttribute("width", "6");
      rect.setAttribute("height", "6");
      rect.setAttribute("fill", h[1] || "#999");
      path.setAttribute("d", h[2]);
      path.setAttribute("stroke", "#000");
      path.setAttribute("stroke-opacity", "0.45");
      path.setAttribute("stroke-width", "1");
      pat.appendChild(rect);
      pat.appendChild(path);
      defs.appendChild(pat);
    });
    svg.appendChild(defs);
    document.body.appendChild(svg);
  }

  function assetStyle(kind) {
    return function (p) {
      var s = statusOf(p), color = cfg.statusColors[s] || cfg.statusColors.none;
      if (kind === "feeder") {
        return { color: color, weight: s === "frequent" ? 3.5 : (s === "at_risk" ? 3 : 1.5),
                 opacity: 0.9, fill: false, dashArray: s === "none" ? "2 4" : null };
      }
      var opacity = own.call(cfg.statusFillOpacity, s) ? cfg.statusFillOpacity[s] : 0.35;
      return { color: color, weight: s === "none" ? 1.5 : 1, opacity: 0.9, fill: true,
               fillColor: own.call(HATCH, s) ? "url(#gw-hatch-" + s + ")" : color, fillOpacity: opacity,
               dashArray: s === "none" ? "2 3" : null };
    };
  }

  function dash(v) { return v === undefined || v === null || v === "" ? "—" : v; }

  // ---- PV hosting capacity (SPEC section 15): grade colour and pattern, grade word, C1 and C2.
  function gradeOf(p) {
    var g = p && p.grade ? p.grade : "unassessed";
    return own.call(cfg.hostingColors, g) ? g : "unassessed";
  }

  function hostingStyle(p) {
    var g = gradeOf(p), color = cfg.hostingColors[g];
    var hatch = g === "red" || g === "yellow";
    return { color: g === "yellow" ? "#8a7a00" : color, weight: g === "unassessed" ? 1.5 : 1, opacity: 0.9,
             fill: true, fillColor: hatch ? "url(#gw-hatch-host-" + g + ")" : color,
             fillOpacity: own.call(cfg.hostingFillOpacity, g) ? cfg.hostingFillOpacity[g] : 0.5,
             dashArray: g === "unassessed" ? "2 3" : null };
  }

  function kw(v) {
    if (v === undefined || v === null || v === "" || !isFinite(Number(v))) { return "—"; }
    return fmt(_("{kw} kW"), { kw: String(Math.round(Number(v) * 10) / 10) });
  }

  // The legend's hosting section is shown while the layer is on the map (maps/hosting.py).
  function hostingLegend(layer) {
    function show(on) {
      var el = document.querySelector(".gw-legend .gw-hosting-legend");
      if (el) { el.hidden = !on; }
    }
    layer.on("add", function () { show(true); });
    layer.on("remove", function () { show(false); });
    return layer;
  }

  function hostingHtml(p) {
    var g = gradeOf(p);
    return [
      "<b>" + esc(p.name || p.id) + "</b> <small>" + esc(_("area")) + " " + esc(p.id) + "</small>",
      row(_("County"), esc(p.county || "—")),
      row(_("PV hosting grade"), "<b class=\"gw-grade-word\" data-grade=\"" + esc(g) + "\">" +
        esc(label(cfg.hostingLabels, g)) + "</b>"),
      row(_("C1 (room before registered PV)"), esc(kw(p.c1_kw))),
      row(_("C2 (room after registered PV)"), esc(kw(p.c2_kw)))
    ].join("<br>");
  }

  function assetHtml(kind, p) {
    var tags = tagList(p.tags).map(function (t) { return esc(label(cfg.overlayLabels, t)); });
    var s = statusOf(p);
    var rows = [
      "<b>" + esc(p.name || p.id) + "</b> <small>" + esc(kind === "feeder" ? _("feeder") : _("area")) +
        " " + esc(p.id) + "</small>",
      row(_("County"), esc(p.county || "—")),
      row(_("Status"), "<b class=\"gw-status-word\" data-status=\"" + esc(s) + "\" style=\"color:" +
        (cfg.statusColors[s] || "#555") + "\">" + esc(label(cfg.statusLabels, s)) + "</b>"),
      esc(fmt(_("Outages in 365 days: {count} · most in 60 days: {max}"),
              { count: dash(p.count_365), max: dash(p.max_60) })),
      row(_("Overlays"), tags.length ? tags.join(cfg.lang === "zh_CN" ? "、" : ", ") : esc(_("none")))
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
    if (href) { html += "<br><a href=\"" + esc(href) + "\">" + esc(_("Open area page")) + " &rarr;</a>"; }
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
    } else if (kind === "hosting") {
      layerOpts.style = function (f) { return hostingStyle(f.properties); };
      layerOpts.onEachFeature = function (f, layer) {
        layer.on("add", function () {
          var el = layer.getElement ? layer.getElement() : null;
          if (el) { el.setAttribute("data-area", String(f.properties.id)); el.setAttribute("data-grade", gradeOf(f.properties)); }
        });
        layer.bindTooltip(hostingHtml(f.properties), { sticky: true });
        var href = areaHref(f.properties);
        layer.bindPopup(hostingHtml(f.properties) + (href ? "<br><a href=\"" + esc(href) + "\">" +
          esc(_("Open area page")) + " &rarr;</a>" : ""));
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
          row(cfg.metricLabel, v === null || v === undefined ? esc(_("no data")) : esc(v.toFixed(3))),
          { sticky: true });
      };
    } else if (kind === "alert") {
      layerOpts.pointToLayer = function (f, latlng) {
        var critical = f.properties.severity === "critical";
        return L.circleMarker(latlng, { pane: cfg.panes.alert || "markerPane", radius: critical ? 8 : 6,
          color: "#000", weight: 1.5, fillColor: critical ? (cfg.alertColors.critical || "#b10026")
            : (cfg.alertColors.warning || "#feb24c"), fillOpacity: 0.95 });
      };
      layerOpts.onEachFeature = function (f, layer) {
        var p = f.properties;
        layer.bindTooltip("<b>" + esc(label(cfg.ruleLabels, p.rule)) + "</b>" +
          paren(esc(label(cfg.severityLabels, p.severity))) + "<br>" +
          esc(label(cfg.subjectLabels, p.asset_type)) + " " + esc(p.asset_id) +
          (p.summary ? "<br>" + esc(p.summary) : "") +
          (p.since ? "<br>" + row(_("Firing since"), esc(p.since)) : ""));
      };
    }
    var built = L.geoJSON(data, layerOpts);
    return kind === "hosting" ? hostingLegend(built) : built;
  }

  function tileOptions(kind, extra) {
    var style = kind === "overlay"
      ? function () {
          var color = cfg.overlayColors[extra.layer] || "#555";
          return { color: color, weight: 1.5, dashArray: "5 4", fill: true, fillColor: color, fillOpacity: 0.15 };
        }
      : (kind === "hosting" ? hostingStyle : assetStyle(kind));
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
    if (kind === "hosting") { hostingLegend(layer); }
    layer.on("click", function (e) {
      var p = e.layer && e.layer.properties ? e.layer.properties : {};
      if (!p.id) { p.id = p.area_id || p.feeder_id || p.feature_id; }
      var html = kind === "overlay" ? "<b>" + esc(p.name) + "</b>" : (kind === "hosting" ? hostingHtml(p) : popupHtml(kind, p));
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

  // ---- Live outages (SPEC section 13): the areas out now, coloured by how long they have been out,
  // and a summary box; the server page refreshes both from the planners' API without reloading.
  var HOUR = 3600000;
  var SHANGHAI = 8 * HOUR;  // Asia/Shanghai: UTC+8, no daylight saving since 1991

  function parseTime(v) {
    return v === null || v === undefined || v === "" ? NaN : Date.parse(String(v));
  }

  // As core.i18n Lang.datetime: "2026年11月28日 14:59" in Chinese, "2026-11-28T14:59+08:00" in English.
  function localTime(ms, seconds) {
    if (typeof ms !== "number" || !isFinite(ms)) { return "—"; }
    var s = new Date(ms + SHANGHAI).toISOString(), clock = s.slice(11, seconds ? 19 : 16);
    if (cfg.lang === "zh_CN") {
      return +s.slice(0, 4) + "年" + +s.slice(5, 7) + "月" + +s.slice(8, 10) + "日 " + clock;
    }
    return s.slice(0, 10) + "T" + clock + "+08:00";
  }

  function duration(ms) {
    var min = Math.max(0, Math.floor(ms / 60000)), h = Math.floor(min / 60);
    if (min < 60) { return fmt(_("{m} min"), { m: min }); }
    if (h < 48) { return fmt(_("{h} h {m} min"), { h: h, m: (min % 60 < 10 ? "0" : "") + (min % 60) }); }
    return fmt(_("{d} d {h} h"), { d: Math.floor(h / 24), h: h % 24 });
  }

  function count(v) {
    var n = Math.round(Number(v));
    return isFinite(n) && n > 0 ? n : 0;
  }

  function grouped(n) { return String(count(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

  function bandOf(bands, hours) {
    for (var i = 0; i < bands.length; i++) {
      if (bands[i][0] === null || hours < bands[i][0]) { return i; }
    }
    return bands.length - 1;
  }

  function liveHtml(p, ref, o) {
    var since = parseTime(p.since), eta = parseTime(p.estimated_end);
    var steps = o.steps || [], step = steps.indexOf(p.progress);
    var progress = p.progress
      ? esc(label(o.progress, p.progress)) + (step >= 0 ? " &middot; " +
        esc(fmt(_("step {step} of {steps}"), { step: step + 1, steps: steps.length })) : "")
      : esc(_("not reported"));
    var source = p.source === "record" ? _("outage record") : (p.source === "meters" ? _("meters") : p.source);
    return [
      "<b>" + esc(p.name || p.area_id) + "</b> <small>" + esc(_("area")) + " " + esc(p.area_id) + "</small>",
      row(_("County"), esc(p.county || "—")),
      row(_("Out since"), esc(localTime(since)) +
        (isNaN(since) ? "" : paren(esc(fmt(_("out for {time}"), { time: duration(ref - since) }))))),
      row(_("Cause"), esc(label(cfg.causeLabels, p.cause || "unknown"))) + " &middot; " +
        row(_("Source"), esc(source || "—")),
      row(_("Customers"), esc(fmt(_("{n} customers"), { n: grouped(p.customers) }))),
      row(_("Estimated restoration"), isNaN(eta) ? esc(_("not given"))
        : esc(localTime(eta)) + (eta < ref ? "<b class=\"gw-overdue\">" + paren(esc(_("overdue"))) + "</b>" : "")),
      row(_("Progress"), progress)
    ].join("<br>");
  }

  function getJson(url, timeoutMs) {
    var ctl = typeof AbortController === "function" ? new AbortController() : null;
    var timer = ctl ? setTimeout(function () { ctl.abort(); }, timeoutMs) : null;
    return fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
                        signal: ctl ? ctl.signal : undefined })
      .then(function (r) {
        if (!r.ok) { var e = new Error("HTTP " + r.status); e.status = r.status; throw e; }
        var date = Date.parse(r.headers.get("Date") || "");
        return r.json().then(function (body) { return { body: body, date: date }; });
      })
      .finally(function () { if (timer) { clearTimeout(timer); } });
  }

  // data: {live: FeatureCollection, summary: {outages, customers, by_county}} as of opts.asOf;
  // opts: title, asOf, refreshSeconds (null: a static copy), urls {live, summary}, counties (the
  // adcodes of the view, or null for all), bands [[upper hours|null, colour, label]], steps, progress.
  function live(map, data, opts) {
    var o = opts || {}, bands = o.bands || [], inView = null;
    if (o.counties) { inView = {}; o.counties.forEach(function (c) { inView[c] = true; }); }
    var st = { ref: parseTime(o.asOf), features: [], summary: null, stale: false, reason: "",
               refreshes: 0, failures: 0 };
    if (isNaN(st.ref)) { st.ref = Date.now(); }
    st.updated = st.ref;
    function shown(county) { return !inView || (county !== null && county !== undefined && own.call(inView, county)); }

    function wanted(f) { return !!(f && f.geometry && f.properties) && shown(f.properties.county_adcode); }

    function styleOf(f) {
      var since = parseTime(f.properties.since);
      var b = bands[bandOf(bands, isNaN(since) ? 0 : (st.ref - since) / HOUR)];
      return { color: "#1a1a1a", weight: 1.5, opacity: 1, fill: true,
               fillColor: b ? b[1] : "#51127c", fillOpacity: 1 };
    }

    function popupOf(p) {
      var href = areaHref({ id: p.area_id, href: p.href });
      return liveHtml(p, st.ref, o) +
        (href ? "<br><a href=\"" + esc(href) + "\">" + esc(_("Open area page")) + " &rarr;</a>" : "");
    }

    var drawn = Object.create(null);  // area id -> its shape on the layer
    var layer = L.geoJSON(null, {
      pane: cfg.panes.live || "overlayPane",
      filter: wanted,
      style: styleOf,
      onEachFeature: function (f, lyr) {
        var id = String(f.properties.area_id);
        drawn[id] = lyr;
        lyr.gwGeometry = JSON.stringify(f.geometry);
        lyr.bindTooltip(liveHtml(f.properties, st.ref, o), { sticky: true });
        lyr.bindPopup(popupOf(f.properties));
        lyr.on("add", function () {
          var el = lyr.getElement ? lyr.getElement() : null;
          if (el) { el.setAttribute("data-area", id); }
        });
      }
    });

    // Update the shapes in place (an open tooltip or popup stays open), add the new areas and
    // remove the areas that are back.
    function fill(features, ref) {
      st.ref = ref;
      var keep = Object.create(null);
      features.forEach(function (f) {
        if (!wanted(f)) { return; }
        var id = String(f.properties.area_id), old = drawn[id] || null;
        keep[id] = true;
        if (old && old.gwGeometry === JSON.stringify(f.geometry)) {
          old.feature = f;
          old.setStyle(styleOf(f));
          old.setTooltipContent(liveHtml(f.properties, ref, o));
          old.setPopupContent(popupOf(f.properties));
          return;
        }
        if (old) { layer.removeLayer(old); delete drawn[id]; }
        layer.addData(f);
      });
      Object.keys(drawn).forEach(function (id) {
        if (!keep[id]) { layer.removeLayer(drawn[id]); delete drawn[id]; }
      });
    }

    // Draw new data, or (if it cannot be drawn) put the last good data back and fail.
    function apply(features, summary, ref) {
      var before = st.ref;
      try {
        fill(features, ref);
      } catch (e) {
        fill(st.features, before);
        throw e;
      }
      st.features = features;
      st.summary = summary;
    }

    var div = null;
    function render() {
      if (!div) { return; }
      var s = st.summary || { outages: 0, customers: 0, by_county: [] };
      var rows = (Array.isArray(s.by_county) ? s.by_county : []).filter(function (c) {
        return c && shown(c.county_adcode);
      });
      var sum = function (key) { return rows.reduce(function (t, c) { return t + count(c[key]); }, 0); };
      var outages = inView ? sum("outages") : count(s.outages);
      var customers = inView ? sum("customers") : count(s.customers);
      var top = rows.slice().sort(function (a, b) { return count(b.customers) - count(a.customers); }).slice(0, 5);
      var html = "<h4>" + esc(o.title || _("Out now")) + "</h4>" +
        "<div class=\"gw-live-total\">" +
        esc(outages === 1 ? _("{customers} customers out · {areas} area") : _("{customers} customers out · {areas} areas"))
          .replace("{customers}", "<b class=\"gw-live-customers\">" + grouped(customers) + "</b>")
          .replace("{areas}", "<b class=\"gw-live-outages\">" + grouped(outages) + "</b>") + "</div>";
      if (top.length) {
        html += "<table class=\"gw-live-counties\"><tr><th>" + esc(_("Top counties")) + "</th><th>" +
          esc(_("customers")) + "</th><th>" + esc(_("areas")) + "</th></tr>" +
          top.map(function (c) {
            return "<tr><td>" + esc(c.county || c.county_adcode || _("no county")) + "</td><td class=\"n\">" +
              grouped(c.customers) + "</td><td class=\"n\">" + grouped(c.outages) + "</td></tr>";
          }).join("") + "</table>";
      }
      var when = esc(localTime(st.updated, true));
      html += "<div class=\"gw-live-time\">" +
        esc(o.refreshSeconds ? _("updated {time}") : _("as of {time} (not refreshed)")).replace("{time}", when) +
        (st.stale ? " <span class=\"gw-stale\" title=\"" + esc(st.reason) + "\">" + esc(_("stale")) + "</span>"
          : "") + "</div>";
      div.innerHTML = html;
      div.setAttribute("data-refreshes", String(st.refreshes));
      div.setAttribute("data-failures", String(st.failures));
      div.setAttribute("data-stale", st.stale ? "1" : "0");
    }

    try {
      apply(data && data.live && Array.isArray(data.live.features) ? data.live.features : [],
            data && data.summary ? data.summary : null, st.ref);
    } catch (e) {
      st.stale = true;
      st.reason = _("the embedded outages could not be drawn");
    }

    var box = L.control({ position: "bottomleft" });
    box.onAdd = function () {
      div = L.DomUtil.create("div", "gw-live-box leaflet-control");
      L.DomEvent.disableScrollPropagation(div);
      L.DomEvent.disableClickPropagation(div);
      render();
      return div;
    };
    box.addTo(map);

    if (o.refreshSeconds && o.urls && typeof fetch === "function") {
      var period = Math.max(2, Number(o.refreshSeconds) || 30) * 1000;
      var timeout = Math.min(Math.max(period, 10000), 30000);
      var tick = function () {
        Promise.all([getJson(o.urls.live, timeout), getJson(o.urls.summary, timeout)])
          .then(function (res) {
            var g = res[0].body, s = res[1].body;
            if (!g || !Array.isArray(g.features) || !s || typeof s !== "object") {
              throw new Error("an unexpected answer");
            }
            var ref = isNaN(res[1].date) ? Date.now() : res[1].date;
            apply(g.features, s, ref);
            st.updated = ref;
            st.stale = false;
            st.reason = "";
            st.refreshes += 1;
          })
          .catch(function (e) {
            st.stale = true;
            st.failures += 1;
            st.reason = (e && e.status === 401 ? _("signed out: reload the page to sign in")
              : fmt(_("the refresh at {time} failed"), { time: localTime(Date.now(), true) })) +
              (cfg.lang === "zh_CN" ? "；" : "; ") +
              fmt(_("showing the outages of {time}"), { time: localTime(st.updated, true) });
          })
          .then(function () {
            try { render(); } catch (e) { st.stale = true; }
            setTimeout(tick, period);
          });
      };
      setTimeout(tick, period);
    }
    return layer;
  }

  // ---- Tooltips stay inside the map: Leaflet places a tooltip left or right of the pointer by the
  // pointer's side of the map ("auto"), and vertically centred on it; a tooltip that would still
  // cross an edge of the map (a wide one on a phone, a shape near the top or bottom) is moved in.
  var MARGIN = 4;

  function clampTooltip(tip) {
    var map = tip._map, el = tip._container;
    if (!map || !el || !el.offsetWidth) { return; }
    var at = L.DomUtil.getPosition(el);
    if (!at) { return; }
    // Measured as drawn (Leaflet's direction classes shift the box by a margin).
    var r = el.getBoundingClientRect(), m = map.getContainer().getBoundingClientRect();
    var dx = Math.max(0, m.left + MARGIN - r.left) || -Math.max(0, r.right - (m.right - MARGIN));
    var dy = Math.max(0, m.top + MARGIN - r.top) || -Math.max(0, r.bottom - (m.bottom - MARGIN));
    if (dx || dy) {
      L.DomUtil.setPosition(el, at.add(L.point(dx, dy)));
      L.DomUtil.addClass(el, "gw-clamped");
    } else {
      L.DomUtil.removeClass(el, "gw-clamped");
    }
  }

  if (window.L && L.Tooltip && !L.Tooltip.prototype.gwClamped) {
    var place = L.Tooltip.prototype._setPosition;
    L.Tooltip.prototype._setPosition = function (pos) {
      place.call(this, pos);
      clampTooltip(this);
    };
    L.Tooltip.prototype.gwClamped = true;
  }

  function relabel(el, text) {
    if (el) { el.setAttribute("title", text); el.setAttribute("aria-label", text); }
  }

  // ---- Narrow screens: the layer control and the legend fold away behind two buttons (closed at
  // first on a phone, open on a desk, where map.css hides the buttons); one open at a time on a phone.
  var NARROW = "(max-width: 699px)";

  function narrow() {
    return window.matchMedia ? window.matchMedia(NARROW).matches : window.innerWidth < 700;
  }

  function fold(map) {
    var box = map.getContainer();
    var panels = [
      { el: box.querySelector(".leaflet-control-layers"), id: "gw-layers", text: _("Layers") },
      { el: box.querySelector(".gw-legend"), id: "gw-legend", text: _("Legend") }
    ].filter(function (p) { return !!p.el; });
    relabel(box.querySelector(".leaflet-control-layers-toggle"), _("Layers"));
    var closed = narrow();
    var ctl = L.control({ position: "topright" });
    ctl.onAdd = function () {
      var div = L.DomUtil.create("div", "gw-fold leaflet-control");
      panels.forEach(function (p) {
        var b = L.DomUtil.create("button", "gw-fold-" + p.id.slice(3), div);
        b.type = "button";
        b.textContent = p.text;
        p.el.id = p.id;
        p.button = b;
        b.setAttribute("aria-controls", p.id);
        set(p, !closed);
        L.DomEvent.on(b, "click", function (e) {
          L.DomEvent.stop(e);
          var open = b.getAttribute("aria-expanded") !== "true";
          if (open && narrow()) { panels.forEach(function (q) { if (q !== p) { set(q, false); } }); }
          set(p, open);
        });
      });
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    function set(p, open) {
      p.button.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) { L.DomUtil.removeClass(p.el, "gw-folded"); } else { L.DomUtil.addClass(p.el, "gw-folded"); }
    }
    ctl.addTo(map);
    var corner = ctl.getContainer().parentNode;
    corner.insertBefore(ctl.getContainer(), corner.firstChild);

    // The header box: one line on a phone, with a button that unfolds the rest.
    var more = document.querySelector(".gw-title .gw-more"), title = document.getElementById("gw-title");
    if (more && title) {
      L.DomEvent.on(more, "click", function () {
        var open = more.getAttribute("aria-expanded") !== "true";
        more.setAttribute("aria-expanded", open ? "true" : "false");
        if (open) { L.DomUtil.addClass(title, "gw-open"); } else { L.DomUtil.removeClass(title, "gw-open"); }
      });
    }
    return ctl;
  }

  function init(map, options) {
    for (var k in options) { if (own.call(options, k)) { cfg[k] = options[k]; } }
    // An explicit zoom range: otherwise Leaflet raises the map's minimum to a tile layer's minZoom.
    map.options.minZoom = options.minZoom === undefined ? 4 : options.minZoom;
    map.options.maxZoom = options.maxZoom === undefined ? 19 : options.maxZoom;
    var z = { overlay: 410, choropleth: 405, feeder: 440, area: 430, hosting: 435, live: 450, alert: 620,
              county: 415 };
    Object.keys(z).forEach(function (kind) {
      var name = "gw-" + kind;
      if (!map.getPane(name)) { map.createPane(name).style.zIndex = z[kind]; }
      cfg.panes[kind] = name;
    });
    patterns();
    // Leaflet's own words, in the page's language.
    if (map.zoomControl) {
      relabel(map.zoomControl._zoomInButton, _("Zoom in"));
      relabel(map.zoomControl._zoomOutButton, _("Zoom out"));
    }
    map.on("popupopen", function (e) {
      var close = e.popup && e.popup._closeButton;
      if (close) { close.setAttribute("aria-label", _("Close popup")); close.setAttribute("title", _("Close popup")); }
    });
    if (map.attributionControl) {
      map.attributionControl.setPrefix("<a href=\"https://leafletjs.com\" title=\"" +
        esc(_("A JavaScript library for interactive maps")) + "\">Leaflet</a>");
      if (options.attribution) { map.attributionControl.addAttribution(options.attribution); }
    }
    if (options.scale) { L.control.scale({ imperial: false }).addTo(map); }
  }

  window.gridwatch = { init: init, geo: geo, tileOptions: tileOptions, bindTiles: bindTiles,
                       legend: legend, live: live, fold: fold, esc: esc, idle: idle, _: _ };
})();
