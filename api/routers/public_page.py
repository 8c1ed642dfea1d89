"""The customers' phone page at /public/ (SPEC section 13, task 53): 停电查询, no key, no cookie.

The HTML is fixed text with no data in it. Its script (``/static/public/phone.js``) reads
the meter number from the URL or the form, asks ``/public/lookup`` and ``/public/outages.json``,
and writes every answer into the page through ``textContent``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

router = APIRouter(prefix="/public", tags=["public"])

ASSETS = "/static/public"

PAGE = f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>停电查询</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{ASSETS}/phone.css">
<script src="{ASSETS}/phone.js" defer></script>
</head>
<body>
<header class="top"><h1>停电查询</h1><p>输入电表号，查看您家是否停电、何时恢复供电。</p></header>
<main>
<form id="ask" class="card" action="/public/" method="get" novalidate>
  <label for="meter">电表号</label>
  <div class="row">
    <input id="meter" name="meter" type="text" inputmode="text" autocomplete="off"
      spellcheck="false" maxlength="64" required placeholder="电费单上的电表号">
    <button type="submit">查询</button>
  </div>
  <p class="hint">电表号印在电费单和电表铭牌上。</p>
</form>
<section id="message" class="card message" role="alert" hidden></section>
<section id="answer" aria-live="polite" hidden>
  <div id="status" class="card status">
    <p class="status-label">当前是否停电</p>
    <p id="status-text" class="status-text"></p>
    <dl id="outage" class="facts" hidden>
      <dt>停电开始</dt><dd id="since"></dd>
      <dt>停电原因</dt><dd id="cause"></dd>
      <dt>预计恢复时间</dt><dd id="eta"></dd>
    </dl>
  </div>
  <div id="progress-card" class="card" hidden>
    <h2>抢修进度</h2>
    <ol id="steps" class="steps"></ol>
    <p id="progress-note" class="note" hidden>暂无抢修进度信息，工作人员正在核实。</p>
  </div>
  <div class="card">
    <h2>最近五次停电</h2>
    <ol id="recent" class="list"></ol>
    <p id="recent-none" class="note" hidden>没有停电记录。</p>
  </div>
  <div class="card">
    <h2>未来 7 天计划检修</h2>
    <ol id="works" class="list"></ol>
    <p id="works-none" class="note" hidden>未来 7 天没有计划检修。</p>
  </div>
</section>
<section id="province" class="card province" aria-live="polite">
  <h2>全省当前停电</h2>
  <p id="province-total" class="note">正在加载…</p>
  <ol id="province-counties" class="counties"></ol>
</section>
</main>
<footer class="foot">时间均为北京时间。如需帮助，请拨打供电服务热线 95598。</footer>
</body>
</html>
"""


@router.get("", include_in_schema=False)
def page_redirect(request: Request) -> RedirectResponse:
    """``/public`` goes to ``/public/``, keeping the query string (an SMS link's ``?meter=``)."""
    query = request.url.query
    return RedirectResponse("/public/" + (f"?{query}" if query else ""), status_code=307)


@router.get("/", response_class=HTMLResponse, summary="停电查询: the customers' phone page (no key)")
def page() -> HTMLResponse:
    """The mobile page in Chinese; ``/public/?meter=ID`` opens with that meter's answer."""
    return HTMLResponse(PAGE, headers={"Cache-Control": "no-cache"})
