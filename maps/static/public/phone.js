/* 停电查询: the customers' phone page at /public/ (plain JS, no framework, same origin only).
 * Every value from the server reaches the page through textContent, never as HTML.
 * Words: the page embeds its language and the "pages" catalog as a JSON data block (#gw-words);
 * _("...") looks a message up there (English, the msgid, when it has no translation). */
"use strict";

(function () {
  let WORDS = {lang: "zh-CN", messages: {}};
  try {
    const block = document.getElementById("gw-words");
    const parsed = block ? JSON.parse(block.textContent || "{}") : {};
    if (parsed && typeof parsed === "object") WORDS = Object.assign(WORDS, parsed);
  } catch (e) {
    WORDS = {lang: document.documentElement.lang || "zh-CN", messages: {}};
  }
  const CATALOG = WORDS.messages && typeof WORDS.messages === "object" ? WORDS.messages : {};
  const ZH = WORDS.lang !== "en";
  const own = Object.prototype.hasOwnProperty;

  function _(m) { return own.call(CATALOG, m) && CATALOG[m] ? CATALOG[m] : m; }

  /** A translated message with {name} placeholders filled in (values as text). */
  function fill(message, values) {
    return message.replace(/\{(\w+)\}/g, (all, name) => (own.call(values, name) ? String(values[name]) : all));
  }

  const CAUSES = {
    fault: _("Fault"), planned: _("Planned work"), weather: _("Weather"),
    external: _("External damage"), customer: _("Customer side"), unknown: _("Cause under investigation"),
  };
  const STEPS = {
    reported: _("Reported"), dispatched: _("Crew dispatched"), on_site: _("Crew on site"),
    repairing: _("Repairing"), restored: _("Restored"),
  };
  const STEP_ORDER = ["reported", "dispatched", "on_site", "repairing", "restored"];
  const METHODS = {
    live_line: _("Live-line work (no outage)"), load_transfer: _("Load transfer"),
    generator: _("Mobile generator supply"), outage: _("Work with the power off"),
  };
  // Beijing time is UTC+8 all year (no daylight saving since 1991), so no time-zone data is needed.
  const BEIJING = 8 * 3600 * 1000;
  const POLITE = _("The lookup is not available right now. Please try again later. For help, call the power supply service hotline 95598.");

  const $ = (id) => document.getElementById(id);
  let asked = 0;  // the latest lookup: an older answer arriving late is dropped

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function beijing(iso) {
    if (!iso) return null;
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return null;
    const d = new Date(t + BEIJING);
    return {
      y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(),
      hm: String(d.getUTCHours()).padStart(2, "0") + ":" + String(d.getUTCMinutes()).padStart(2, "0"),
    };
  }

  const two = (n) => String(n).padStart(2, "0");

  /** `2026年11月28日 14:59` in Chinese, `2026-11-28T14:59+08:00` in English; Beijing time. */
  function when(iso) {
    const p = beijing(iso);
    if (!p) return _("time unknown");
    return ZH ? `${p.y}年${p.mo}月${p.d}日 ${p.hm}` : `${p.y}-${two(p.mo)}-${two(p.d)}T${p.hm}+08:00`;
  }

  /** A start and an end; the end's date is left out when it is the same day. */
  function span(startIso, endIso) {
    const a = beijing(startIso), b = beijing(endIso);
    if (!b) return fill(_("from {time}"), {time: when(startIso)});
    if (a && a.y === b.y && a.mo === b.mo && a.d === b.d) return `${when(startIso)} – ${b.hm}`;
    return `${when(startIso)} – ${when(endIso)}`;
  }

  /** A number with its unit: the message for one or for many (`{n} hour` / `{n} hours`). */
  function count(n, one, many) {
    return fill(n === 1 ? one : many, {n});
  }

  /** `1天2小时30分钟` in Chinese, `1 day 2 hours 30 minutes` in English. */
  function duration(startIso, endIso) {
    const start = Date.parse(startIso);
    const end = endIso ? Date.parse(endIso) : Date.now();
    if (Number.isNaN(start) || Number.isNaN(end)) return "";
    const minutes = Math.max(0, Math.round((end - start) / 60000));
    if (minutes < 1) return _("less than a minute");
    const days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    const parts = [];
    if (days) parts.push(count(days, _("{n} day"), _("{n} days")));
    if (hours) parts.push(count(hours, _("{n} hour"), _("{n} hours")));
    if (mins) parts.push(count(mins, _("{n} minute"), _("{n} minutes")));
    return parts.join(ZH ? "" : " ");
  }

  const cause = (c) => CAUSES[c] || CAUSES.unknown;

  function message(text, isError) {
    const box = $("message");
    box.textContent = text;
    box.classList.toggle("error", Boolean(isError));
    box.hidden = false;
  }

  function busy(on) {
    const button = document.querySelector("#ask button");
    button.disabled = on;
    button.textContent = on ? _("Looking up…") : _("Look up");
  }

  function showOutage(outage) {
    $("since").textContent = when(outage.since);
    $("cause").textContent = cause(outage.cause);
    $("eta").textContent = outage.estimated_restoration
      ? when(outage.estimated_restoration) : _("Not known yet. Please check again later.");
    $("outage").hidden = false;
    const steps = $("steps");
    clear(steps);
    const order = Array.isArray(outage.progress_steps) && outage.progress_steps.length
      ? outage.progress_steps : STEP_ORDER;
    const at = order.indexOf(outage.progress);
    order.forEach((step, i) => {
      const item = el("li", i < at ? "done" : i === at ? "current" : "", STEPS[step] || String(step));
      if (i === at) item.setAttribute("aria-current", "step");
      steps.appendChild(item);
    });
    $("progress-note").hidden = at >= 0;
    $("progress-card").hidden = false;
  }

  function showRecent(rows) {
    const list = $("recent");
    clear(list);
    rows.forEach((r) => {
      const item = el("li");
      const head = el("span", "when", r.end_time ? span(r.start_time, r.end_time) : `${when(r.start_time)} – `);
      if (!r.end_time) head.appendChild(el("span", "open", _("not restored yet")));
      item.appendChild(head);
      const lasted = duration(r.start_time, r.end_time);
      const how = r.end_time ? _("Lasted {duration}") : _("Out for {duration} so far");
      item.appendChild(el("span", "what", `${fill(how, {duration: lasted})} · ${cause(r.cause)}`));
      list.appendChild(item);
    });
    $("recent-none").hidden = rows.length > 0;
  }

  function showWorks(rows) {
    const list = $("works");
    clear(list);
    rows.forEach((w) => {
      const item = el("li");
      item.appendChild(el("span", "when", span(w.planned_start, w.planned_end)));
      item.appendChild(el("span", "what", METHODS[w.method] || _("Method to be decided")));
      list.appendChild(item);
    });
    $("works-none").hidden = rows.length > 0;
  }

  function show(body) {
    $("message").hidden = true;
    const out = body.out_now === true;
    $("status").className = "card status " + (out ? "out" : "ok");
    $("status-text").textContent = out ? _("Power out") : _("Power on");
    if (out && body.outage) {
      showOutage(body.outage);
    } else {
      $("outage").hidden = true;
      $("progress-card").hidden = true;
    }
    showRecent(Array.isArray(body.recent_interruptions) ? body.recent_interruptions : []);
    showWorks(Array.isArray(body.planned_works) ? body.planned_works : []);
    $("answer").hidden = false;
  }

  async function lookUp(raw, remember) {
    const meter = (raw || "").trim();
    if (!meter) {
      $("answer").hidden = true;
      message(_("Please enter your meter number."), true);
      return;
    }
    if (remember && new URLSearchParams(location.search).get("meter") !== meter) {
      history.pushState({meter}, "", "/public/?meter=" + encodeURIComponent(meter));
    }
    switchLinks(meter);
    const mine = ++asked;
    busy(true);
    let response;
    try {
      response = await fetch("/public/lookup?meter=" + encodeURIComponent(meter),
        {headers: {Accept: "application/json"}, credentials: "omit", cache: "no-store"});
    } catch (e) {
      response = null;
    }
    if (mine !== asked) return;
    busy(false);
    if (response && response.ok) {
      let body = null;
      try {
        body = await response.json();
      } catch (e) {
        body = null;
      }
      if (mine !== asked) return;
      if (body) {
        show(body);
        return;
      }
    }
    $("answer").hidden = true;
    if (response && response.status === 404) {
      message(_("No meter with this number was found. Please check it against your electricity bill and try again."), true);
    } else if (response && response.status === 429) {
      const wait = parseInt(response.headers.get("Retry-After") || "", 10);
      message(fill(_("Too many lookups. Please try again in {seconds} s."), {seconds: wait > 0 ? wait : 60}), false);
    } else if (response && (response.status === 400 || response.status === 422)) {
      message(_("This does not look like a meter number. Please check the one on your electricity bill and try again."), true);
    } else {
      message(POLITE, true);
    }
  }

  async function province() {
    const total = $("province-total"), counties = $("province-counties");
    let body = null;
    try {
      const response = await fetch("/public/outages.json",
        {headers: {Accept: "application/json"}, credentials: "omit"});
      if (response.ok) body = await response.json();
    } catch (e) {
      body = null;
    }
    clear(counties);
    if (!body || !Array.isArray(body.outages)) {
      total.textContent = _("The province's outages cannot be shown right now.");
      return;
    }
    const outages = body.outages;
    if (!outages.length) {
      total.textContent = _("No area in the province is out now.");
      return;
    }
    const by = new Map();
    let customers = 0;
    outages.forEach((o) => {
      const n = Number(o.customersAffected) || 0;
      customers += n;
      const name = o.county ? String(o.county) : _("Unknown county");
      const c = by.get(name) || {name, areas: 0, customers: 0};
      c.areas += 1;
      c.customers += n;
      by.set(name, c);
    });
    clear(total);
    total.appendChild(el("span", "big", fill(_("{areas} out, {customers} affected"), {
      areas: count(outages.length, _("{n} area"), _("{n} areas")),
      customers: count(customers, _("{n} customer"), _("{n} customers")),
    })));
    total.appendChild(el("span", "", (ZH ? "" : " ") + fill(_("(updated {time})"), {time: when(body.generatedAt)})));
    [...by.values()]
      .sort((a, b) => b.customers - a.customers || b.areas - a.areas || a.name.localeCompare(b.name))
      .slice(0, 5)
      .forEach((c) => counties.appendChild(el("li", "", fill(_("{county}: {areas}, {customers}"), {
        county: c.name,
        areas: count(c.areas, _("{n} area"), _("{n} areas")),
        customers: count(c.customers, _("{n} customer"), _("{n} customers")),
      }))));
  }

  /** The language switch's links keep the meter being looked at (the HTML carries no query). */
  function switchLinks(meter) {
    document.querySelectorAll(".gw-lang a[hreflang]").forEach((a) => {
      const params = new URLSearchParams();
      if (meter) params.set("meter", meter);
      params.set("lang", a.getAttribute("hreflang"));
      a.setAttribute("href", "?" + params.toString());
    });
  }

  function fromUrl() {
    const meter = new URLSearchParams(location.search).get("meter") || "";
    switchLinks(meter.trim());
    $("meter").value = meter;
    if (meter.trim()) {
      lookUp(meter, false);
    } else {
      $("answer").hidden = true;
      $("message").hidden = true;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("ask").addEventListener("submit", (event) => {
      event.preventDefault();
      lookUp($("meter").value, true);
    });
    window.addEventListener("popstate", fromUrl);
    fromUrl();
    province();
  });
})();
