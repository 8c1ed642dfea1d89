/* gridwatch map helpers: styles, tooltips, legend, vector-tile layers and live outages for folium pages.
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

  // ---- Live outages (SPEC section 13): the areas out now, coloured by how long they have been out,
  // and a summary box; the server page refreshes both from the planners' API without reloading.
  var HOUR = 3600000;
  var SHANGHAI = 8 * HOUR;  // Asia/Shanghai: UTC+8, no daylight saving since 1991
  var own = Object.prototype.hasOwnProperty;

  function parseTime(v) {
    return v === null || v === undefined || v === "" ? NaN : Date.parse(String(v));
  }

  function localTime(ms, seconds) {
    if (typeof ms !== "number" || !isFinite(ms)) { return "—"; }
    var s = new Date(ms + SHANGHAI).toISOString();
    return s.slice(0, 10) + " " + s.slice(11, seconds ? 19 : 16);
  }

  function duration(ms) {
    var min = Math.max(0, Math.floor(ms / 60000)), h = Math.floor(min / 60);
    if (min < 60) { return min + " min"; }
    if (h < 48) { return h + " h " + (min % 60 < 10 ? "0" : "") + (min % 60) + " min"; }
    return Math.floor(h / 24) + " d " + (h % 24) + " h";
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
      ? esc(o.progress && own.call(o.progress, p.progress) ? o.progress[p.progress] : p.progress) +
        (step >= 0 ? " &middot; step " + (step + 1) + " of " + steps.length : "")
      : "not reported";
    return [
      "<b>" + esc(p.name || p.area_id) + "</b> <small>area " + esc(p.area_id) + "</small>",
      "County: " + esc(p.county || "—"),
      "Out since " + esc(localTime(since)) + (isNaN(since) ? "" : " (" + esc(duration(ref - since)) + ")"),
      "Cause: " + esc(p.cause || "unknown") + " &middot; source: " + esc(p.source || "—"),
      "Customers: " + esc(grouped(p.customers)),
      "Estimated restoration: " + (isNaN(eta) ? "not given"
        : esc(localTime(eta)) + (eta < ref ? " <b>(overdue)</b>" : "")),
      "Progress: " + progress
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
      return liveHtml(p, st.ref, o) + (href ? "<br><a href=\"" + esc(href) + "\">Open area page &rarr;</a>" : "");
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
      var html = "<h4>" + esc(o.title || "Out now") + "</h4>" +
        "<div class=\"gw-live-total\"><b class=\"gw-live-customers\">" + grouped(customers) +
        "</b> customers out &middot; <b class=\"gw-live-outages\">" + grouped(outages) + "</b> " +
        (outages === 1 ? "area" : "areas") + "</div>";
      if (top.length) {
        html += "<table class=\"gw-live-counties\"><tr><th>Top counties</th><th>customers</th><th>areas</th></tr>" +
          top.map(function (c) {
            return "<tr><td>" + esc(c.county || c.county_adcode || "no county") + "</td><td class=\"n\">" +
              grouped(c.customers) + "</td><td class=\"n\">" + grouped(c.outages) + "</td></tr>";
          }).join("") + "</table>";
      }
      html += "<div class=\"gw-live-time\">" + (o.refreshSeconds ? "updated " : "as of ") +
        esc(localTime(st.updated, true)) + (o.refreshSeconds ? "" : " (not refreshed)") +
        (st.stale ? " <span class=\"gw-stale\" title=\"" + esc(st.reason) + "\">stale</span>" : "") + "</div>";
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
      st.reason = "the embedded outages could not be drawn";
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
            st.reason = (e && e.status === 401 ? "signed out: reload the page to sign in"
              : "the refresh at " + localTime(Date.now(), true) + " failed") +
              "; showing the outages of " + localTime(st.updated, true);
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

  function init(map, options) {
    for (var k in options) { if (Object.prototype.hasOwnProperty.call(options, k)) { cfg[k] = options[k]; } }
    // An explicit zoom range: otherwise Leaflet raises the map's minimum to a tile layer's minZoom.
    map.options.minZoom = options.minZoom === undefined ? 4 : options.minZoom;
    map.options.maxZoom = options.maxZoom === undefined ? 19 : options.maxZoom;
    var z = { overlay: 410, choropleth: 405, feeder: 440, area: 430, live: 450, alert: 620, county: 415 };
    Object.keys(z).forEach(function (kind) {
      var name = "gw-" + kind;
      if (!map.getPane(name)) { map.createPane(name).style.zIndex = z[kind]; }
      cfg.panes[kind] = name;
    });
    if (options.attribution && map.attributionControl) { map.attributionControl.addAttribution(options.attribution); }
  }

  window.gridwatch = { init: init, geo: geo, tileOptions: tileOptions, bindTiles: bindTiles,
                       legend: legend, live: live, esc: esc, idle: idle };
})();
