/* 停电查询: the customers' phone page at /public/ (plain JS, no framework, same origin only).
 * Every value from the server reaches the page through textContent, never as HTML. */
"use strict";

(function () {
  const CAUSES = {
    fault: "故障", planned: "计划检修", weather: "自然灾害",
    external: "外力破坏", customer: "用户原因", unknown: "原因待查",
  };
  const STEPS = {
    reported: "已受理", dispatched: "已派单", on_site: "已到达现场",
    repairing: "抢修中", restored: "已恢复",
  };
  const STEP_ORDER = ["reported", "dispatched", "on_site", "repairing", "restored"];
  const METHODS = {
    live_line: "带电作业", load_transfer: "负荷转供", generator: "发电车保供", outage: "停电检修",
  };
  // Beijing time is UTC+8 all year (no daylight saving since 1991), so no time-zone data is needed.
  const BEIJING = 8 * 3600 * 1000;
  const POLITE = "暂时无法查询，请稍后再试。如需帮助，请拨打供电服务热线 95598。";

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

  /** `2026年11月28日 14:59`, Beijing time. */
  function when(iso) {
    const p = beijing(iso);
    return p ? `${p.y}年${p.mo}月${p.d}日 ${p.hm}` : "时间不详";
  }

  /** A start and an end; the end's date is left out when it is the same day. */
  function span(startIso, endIso) {
    const a = beijing(startIso), b = beijing(endIso);
    if (!b) return `${when(startIso)} 起`;
    if (a && a.y === b.y && a.mo === b.mo && a.d === b.d) return `${when(startIso)} – ${b.hm}`;
    return `${when(startIso)} – ${when(endIso)}`;
  }

  function duration(startIso, endIso) {
    const start = Date.parse(startIso);
    const end = endIso ? Date.parse(endIso) : Date.now();
    if (Number.isNaN(start) || Number.isNaN(end)) return "";
    const minutes = Math.max(0, Math.round((end - start) / 60000));
    if (minutes < 1) return "不到 1 分钟";
    const days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    return (days ? `${days}天` : "") + (hours ? `${hours}小时` : "") + (mins ? `${mins}分钟` : "");
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
    button.textContent = on ? "查询中…" : "查询";
  }

  function showOutage(outage) {
    $("since").textContent = when(outage.since);
    $("cause").textContent = cause(outage.cause);
    $("eta").textContent = outage.estimated_restoration
      ? when(outage.estimated_restoration) : "暂未确定，请稍后再查";
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
      if (!r.end_time) head.appendChild(el("span", "open", "尚未恢复"));
      item.appendChild(head);
      const lasted = duration(r.start_time, r.end_time);
      item.appendChild(el("span", "what",
        `${r.end_time ? "持续" : "已持续"} ${lasted} · ${cause(r.cause)}`));
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
      item.appendChild(el("span", "what", METHODS[w.method] || "施工方式待定"));
      list.appendChild(item);
    });
    $("works-none").hidden = rows.length > 0;
  }

  function show(body) {
    $("message").hidden = true;
    const out = body.out_now === true;
    $("status").className = "card status " + (out ? "out" : "ok");
    $("status-text").textContent = out ? "正在停电" : "供电正常";
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

  async function detail(response) {
    try {
      const body = await response.json();
      return typeof body.detail === "string" ? body.detail : "";
    } catch (e) {
      return "";
    }
  }

  async function lookUp(raw, remember) {
    const meter = (raw || "").trim();
    if (!meter) {
      $("answer").hidden = true;
      message("请输入电表号。", true);
      return;
    }
    if (remember && new URLSearchParams(location.search).get("meter") !== meter) {
      history.pushState({meter}, "", "/public/?meter=" + encodeURIComponent(meter));
    }
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
      message((await detail(response)) || "没有找到这个电表号，请核对后再试。", true);
    } else if (response && response.status === 429) {
      const wait = parseInt(response.headers.get("Retry-After") || "", 10);
      message(`查询太频繁，请 ${wait > 0 ? wait : 60} 秒后再试`, false);
    } else if (response && (response.status === 400 || response.status === 422)) {
      message("电表号格式不对，请核对电费单上的电表号后再试。", true);
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
      total.textContent = "暂时无法获取全省停电情况。";
      return;
    }
    const outages = body.outages;
    if (!outages.length) {
      total.textContent = "全省目前没有停电的台区。";
      return;
    }
    const by = new Map();
    let customers = 0;
    outages.forEach((o) => {
      const n = Number(o.customersAffected) || 0;
      customers += n;
      const name = o.county ? String(o.county) : "未知区县";
      const c = by.get(name) || {name, areas: 0, customers: 0};
      c.areas += 1;
      c.customers += n;
      by.set(name, c);
    });
    clear(total);
    total.appendChild(el("span", "big", `${outages.length} 个台区停电，影响 ${customers} 户`));
    total.appendChild(el("span", "", `（更新于 ${when(body.generatedAt)}）`));
    [...by.values()]
      .sort((a, b) => b.customers - a.customers || b.areas - a.areas || a.name.localeCompare(b.name))
      .slice(0, 5)
      .forEach((c) => counties.appendChild(el("li", "", `${c.name}：${c.areas} 个台区，${c.customers} 户`)));
  }

  function fromUrl() {
    const meter = new URLSearchParams(location.search).get("meter") || "";
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
