// vpce-proxy decision viewer: the admin listener's `/`.
//
// Safe by construction: every string that came from a request (principals, repository names, tags,
// hosts, messages, policy text) enters the DOM through textContent / createTextNode only. Nothing here
// uses innerHTML, insertAdjacentHTML, document.write, eval or inline styles (the page's CSP forbids the
// latter anyway); bar widths are set through the CSSOM (`el.style.width`), which the CSP allows.
"use strict";

(function () {
  /** Decisions the `denied` filter stands for (the server's definition). */
  const DENIED = ["ExplicitDeny", "ImplicitDeny", "Refused"];
  /** Chart and legend order. */
  const DECISIONS = ["Allow", "ExplicitDeny", "ImplicitDeny", "Refused", "Challenged", "Tunnel"];
  /** Rows fetched on load and per "Load older". */
  const PAGE = 200;
  /** Live rows beyond this push the oldest out of the table (rows paged in by hand are not capped). */
  const MAX_ROWS = 1000;
  /** Seconds before a closed event stream is opened again. */
  const RETRY_MS = 5000;

  const $ = (id) => document.getElementById(id);

  const state = {
    gen: 0, // bumped by every filter change; answers for an older generation are dropped
    source: null, // the EventSource of this generation
    buffer: null, // live events held back while a fetch is in flight (no gap, no reordering)
    retry: 0,
    shown: new Map(), // requestID -> record, for every row in the table
    counts: new Map(), // action \0 decision -> count over the rows shown
    principals: new Set(),
    selected: null,
    detailSeq: 0,
    chartTimer: 0,
    textTimer: 0,
    authFailed: false,
  };

  class AuthError extends Error {}
  class HttpError extends Error {
    constructor(status) {
      super("HTTP " + status);
      this.status = status;
    }
  }

  // ---- small DOM helpers (text only) ----------------------------------------------------------------
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }
  function str(v) {
    if (v === null || v === undefined || v === "") return "—";
    return String(v);
  }
  function principalOf(r) {
    return (r.userIdentity && r.userIdentity.arn) || "";
  }
  /** `ACCOUNT:user/NAME` for an IAM or STS ARN (the table's column; the full ARN is its tooltip). */
  function shortPrincipal(arn) {
    return arn.replace(/^arn:aws[a-z-]*:(?:iam|sts)::/, "");
  }
  function resourceOf(r) {
    return (Array.isArray(r.resources) && r.resources[0] && r.resources[0].ARN) || "";
  }
  function timeOf(r) {
    const t = String(r.eventTime || "");
    const m = /T(\d\d:\d\d:\d\d(?:\.\d+)?)/.exec(t);
    return m ? m[1] : t;
  }
  function decisionClass(d) {
    return DECISIONS.includes(d) ? "d-" + d : "";
  }
  function badge(decision) {
    return el("span", "badge " + decisionClass(decision), str(decision));
  }

  // ---- status banners ------------------------------------------------------------------------------
  function setLive(on) {
    const live = $("live");
    live.textContent = on ? "live" : "disconnected";
    live.className = "live " + (on ? "on" : "off");
  }
  function showError(text) {
    const e = $("error");
    e.textContent = text;
    e.hidden = !text;
  }
  function showAuth() {
    state.authFailed = true;
    $("auth").hidden = false;
    closeStream();
    setLive(false);
  }

  // ---- HTTP ----------------------------------------------------------------------------------------
  async function getJSON(url) {
    const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (res.status === 401) {
      showAuth();
      throw new AuthError("admin token required");
    }
    if (!res.ok) throw new HttpError(res.status);
    return res.json();
  }

  // ---- filters -------------------------------------------------------------------------------------
  function filters() {
    return {
      decision: $("filter-decision").value,
      service: $("filter-service").value,
      principal: $("filter-principal").value.trim(),
      q: $("filter-text").value.trim(),
    };
  }
  function query(extra) {
    const p = new URLSearchParams();
    const f = filters();
    for (const k of Object.keys(f)) if (f[k]) p.set(k, f[k]);
    for (const k of Object.keys(extra || {})) p.set(k, String(extra[k]));
    return p.toString();
  }
  /** The server filters; this only keeps a row out that a filter plainly excludes (text is the server's). */
  function matches(r) {
    const f = filters();
    if (f.decision === "denied" ? !DENIED.includes(r.decision) : f.decision && r.decision !== f.decision) {
      return false;
    }
    if (f.service && r.service !== f.service) return false;
    if (f.principal && principalOf(r) !== f.principal) return false;
    return true;
  }
  /** Filters live in the fragment, so a filtered view can be bookmarked (the server never sees it). */
  function saveFilters() {
    const q = query();
    history.replaceState(null, "", q ? "#" + q : location.pathname + location.search);
  }
  function loadFilters() {
    const p = new URLSearchParams(location.hash.replace(/^#/, ""));
    const setSelect = (id, v) => {
      const s = $(id);
      s.value = v && Array.from(s.options).some((o) => o.value === v) ? v : "";
    };
    setSelect("filter-decision", p.get("decision"));
    setSelect("filter-service", p.get("service"));
    $("filter-principal").value = p.get("principal") || "";
    $("filter-text").value = p.get("q") || "";
  }

  // ---- table ---------------------------------------------------------------------------------------
  function cell(text, cls, title) {
    const td = el("td", cls || "", str(text));
    if (title) td.title = title;
    return td;
  }
  function makeRow(r) {
    const tr = el("tr", "row");
    tr.dataset.requestId = String(r.requestID);
    tr.dataset.decision = String(r.decision || "");
    tr.dataset.service = String(r.service || "");
    tr.tabIndex = 0;
    const principal = principalOf(r);
    const resource = resourceOf(r);
    const td = el("td");
    td.appendChild(badge(r.decision));
    tr.append(
      cell(timeOf(r), "mono", String(r.eventTime || "")),
      td,
      cell(r.sourceIPAddress, "opt mono"),
      cell(shortPrincipal(principal), "mono", principal),
      cell(r.service, "opt"),
      cell(r.action, "mono", r.action || ""),
      cell(resource, "mono", resource),
      cell(r.deniedBy, "opt"),
      cell(r.upstreamStatus, "opt num"),
      cell(typeof r.durationMs === "number" ? r.durationMs.toFixed(1) : r.durationMs, "opt num"),
    );
    if (r.requestID === state.selected) tr.classList.add("selected");
    return tr;
  }
  function track(r, delta) {
    const key = (r.action || "") + "\u0000" + (r.decision || "");
    const n = (state.counts.get(key) || 0) + delta;
    if (n > 0) state.counts.set(key, n);
    else state.counts.delete(key);
    scheduleChart();
  }
  function remember(r) {
    state.shown.set(r.requestID, r);
    track(r, 1);
    const p = principalOf(r);
    if (p && !state.principals.has(p) && state.principals.size < 500) {
      state.principals.add(p);
      const o = document.createElement("option");
      o.value = p;
      $("principals").appendChild(o);
    }
  }
  function usable(r) {
    return r && typeof r === "object" && r.requestID && !state.shown.has(r.requestID) && matches(r);
  }
  /** Older rows, at the bottom (initial page, "Load older"). */
  function appendRecord(r) {
    if (!usable(r)) return;
    remember(r);
    $("rows").appendChild(makeRow(r));
  }
  /** A newer row, on top; the oldest leave the table past MAX_ROWS. */
  function prependRecord(r, fresh) {
    if (!usable(r)) return;
    remember(r);
    const rows = $("rows");
    const tr = makeRow(r);
    if (fresh) tr.classList.add("fresh");
    rows.insertBefore(tr, rows.firstChild);
    while (rows.rows.length > MAX_ROWS) {
      const last = rows.lastElementChild;
      const old = state.shown.get(last.dataset.requestId);
      rows.removeChild(last);
      state.shown.delete(last.dataset.requestId);
      if (old) track(old, -1);
    }
    updateShown();
  }
  function oldestShown() {
    const last = $("rows").lastElementChild;
    return last ? last.dataset.requestId : null;
  }
  function updateShown() {
    const n = $("rows").rows.length;
    $("shown").textContent = n === 1 ? "1 decision shown" : n + " decisions shown";
  }
  function olderState(s) {
    const b = $("load-older");
    b.dataset.state = s; // idle | loading | end
    b.disabled = s !== "idle";
    b.textContent = s === "end" ? "No older decisions" : s === "loading" ? "Loading…" : "Load older";
  }

  // ---- chart: counts by action and decision over the rows shown ------------------------------------
  function scheduleChart() {
    if (!state.chartTimer) state.chartTimer = setTimeout(renderChart, 60);
  }
  function renderChart() {
    state.chartTimer = 0;
    const byAction = new Map();
    for (const [key, n] of state.counts) {
      const [action, decision] = key.split("\u0000");
      if (!byAction.has(action)) byAction.set(action, new Map());
      byAction.get(action).set(decision, n);
    }
    const totals = [...byAction].map(([action, m]) => [action, m, [...m.values()].reduce((a, b) => a + b, 0)]);
    totals.sort((a, b) => b[2] - a[2] || (a[0] < b[0] ? -1 : 1));
    const max = totals.length ? totals[0][2] : 1;
    const chart = $("chart");
    clear(chart);
    let all = 0;
    for (const [action, m, total] of totals) {
      all += total;
      const row = el("div", "chart-row");
      const label = el("span", "chart-label", action || "(no action)");
      label.title = action || "(no action)";
      const bars = el("span", "chart-track");
      const order = [...m.keys()].sort((a, b) => DECISIONS.indexOf(a) - DECISIONS.indexOf(b));
      for (const decision of order) {
        const n = m.get(decision);
        const bar = el("span", "bar " + decisionClass(decision));
        bar.dataset.action = action;
        bar.dataset.decision = decision;
        bar.dataset.count = String(n);
        bar.title = (action || "(no action)") + " " + decision + ": " + n;
        bar.style.width = ((100 * n) / max).toFixed(2) + "%";
        bars.appendChild(bar);
      }
      row.append(label, bars, el("span", "chart-count", total));
      chart.appendChild(row);
    }
    $("chart-total").textContent = all ? "(" + all + ")" : "(none yet)";
  }

  // ---- loading and the live stream -----------------------------------------------------------------
  function closeStream() {
    if (state.source) state.source.close();
    state.source = null;
    clearTimeout(state.retry);
  }
  function flush() {
    const held = state.buffer || [];
    state.buffer = null;
    for (const r of held) prependRecord(r, true);
  }
  /** The newest page; live events that arrive meanwhile wait in `buffer` and go on top afterwards. */
  async function catchUp(gen, first) {
    state.buffer = state.buffer || [];
    try {
      const list = await getJSON("/api/decisions?" + query({ limit: PAGE }));
      if (gen !== state.gen) return;
      if (!Array.isArray(list)) throw new Error("unexpected answer");
      if (first) {
        list.forEach(appendRecord);
        olderState(list.length < PAGE ? "end" : "idle");
      } else {
        list.slice().reverse().forEach((r) => prependRecord(r, true));
      }
      updateShown();
      showError("");
    } catch (err) {
      if (gen !== state.gen) return;
      if (first) olderState(err instanceof AuthError ? "end" : "idle");
      if (!(err instanceof AuthError)) showError("could not load decisions: " + err.message);
    } finally {
      if (gen === state.gen) flush();
    }
  }
  function openStream(gen) {
    const es = new EventSource("/api/decisions/stream?" + query());
    let broken = false;
    state.source = es;
    es.addEventListener("open", () => {
      if (state.source !== es) return;
      setLive(true);
      if (broken) catchUp(gen, false); // the browser reconnected by itself: fill the gap
      broken = false;
    });
    es.addEventListener("decision", (ev) => {
      if (state.source !== es) return;
      let r;
      try {
        r = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      if (state.buffer) state.buffer.push(r);
      else prependRecord(r, true);
    });
    es.addEventListener("error", () => {
      if (state.source !== es) return;
      setLive(false);
      broken = true;
      if (es.readyState !== EventSource.CLOSED) return; // the browser retries by itself
      // Closed for good (a non-200 answer): find out whether it was the token, else retry later.
      state.source = null;
      getJSON("/api/decisions?limit=1").then(
        () => scheduleReopen(gen),
        (err) => {
          if (!(err instanceof AuthError)) scheduleReopen(gen);
        },
      );
    });
  }
  function scheduleReopen(gen) {
    clearTimeout(state.retry);
    state.retry = setTimeout(() => {
      if (gen !== state.gen || state.authFailed) return;
      openStream(gen);
      catchUp(gen, false);
    }, RETRY_MS);
  }
  /** Filters changed (or first load): empty the table, fetch the newest page, reopen the stream. */
  function reload() {
    const gen = ++state.gen;
    closeStream();
    setLive(false);
    saveFilters();
    clear($("rows"));
    state.shown.clear();
    state.counts.clear();
    scheduleChart();
    updateShown();
    olderState("loading");
    state.buffer = [];
    if (state.authFailed) return;
    openStream(gen);
    catchUp(gen, true);
  }
  async function loadOlder() {
    const before = oldestShown();
    if (!before || $("load-older").dataset.state !== "idle") return;
    const gen = state.gen;
    olderState("loading");
    try {
      const list = await getJSON("/api/decisions?" + query({ limit: PAGE, before }));
      if (gen !== state.gen) return;
      list.forEach(appendRecord);
      updateShown();
      olderState(list.length < PAGE ? "end" : "idle");
    } catch (err) {
      if (gen !== state.gen) return;
      if (err instanceof HttpError && err.status === 404) {
        olderState("end");
        showError("older decisions have left the proxy's memory");
      } else {
        olderState("idle");
        if (!(err instanceof AuthError)) showError("could not load older decisions: " + err.message);
      }
    }
  }

  // ---- detail pane ---------------------------------------------------------------------------------
  function addKV(dl, key, value) {
    const dd = el("dd");
    const values = Array.isArray(value) ? value : [value];
    if (!values.length) dd.textContent = "—";
    values.forEach((v) => dd.appendChild(el("div", "", str(v))));
    dl.append(el("dt", "", key), dd);
  }
  function formatValue(v) {
    if (Array.isArray(v)) return v.map(formatValue).join(", ");
    if (typeof v === "string") return v;
    return JSON.stringify(v);
  }
  function renderClassification(r) {
    const dl = $("detail-class");
    clear(dl);
    const a = r.authorization || {};
    let decision = str(r.decision);
    if (r.deniedBy) decision += " by " + r.deniedBy;
    if (r.statementSid) decision += " (statement " + r.statementSid + ")";
    addKV(dl, "decision", decision);
    addKV(dl, "time", r.eventTime);
    addKV(dl, "request ID", r.requestID);
    addKV(dl, "service", r.service);
    addKV(dl, "action", a.action || r.action);
    addKV(dl, "resource", a.resource || (Array.isArray(r.resources) ? r.resources.map((x) => x && x.ARN) : []));
    if (Array.isArray(a.additional) && a.additional.length) {
      addKV(dl, "additional", a.additional.map((p) => str(p && p.action) + " on " + str(p && p.resource)));
    }
    addKV(dl, "principal", principalOf(r));
    addKV(dl, "client", r.sourceIPAddress);
    addKV(dl, "host", r.host);
    addKV(dl, "mode", r.enforced === false ? "report-only (forwarded whatever the decision)" : "enforced");
    addKV(dl, "upstream status", r.upstreamStatus);
    if (r.errorCode) addKV(dl, "error code", r.errorCode);
    addKV(dl, "bytes in / out", str(r.bytesIn) + " / " + str(r.bytesOut));
    addKV(dl, "duration", typeof r.durationMs === "number" ? r.durationMs.toFixed(1) + " ms" : r.durationMs);
    if (r.shadow) {
      let s = str(r.shadow.decision);
      if (r.shadow.deniedBy) s += " by " + r.shadow.deniedBy;
      if (r.shadow.statementSid) s += " (statement " + r.shadow.statementSid + ")";
      addKV(dl, "shadow", s);
    }
  }
  function renderContext(r) {
    const body = $("detail-context").tBodies[0];
    clear(body);
    const ctx = (r.authorization && r.authorization.context) || {};
    const keys = Object.keys(ctx).sort();
    if (!keys.length) {
      const tr = el("tr");
      tr.appendChild(el("td", "muted", "(no condition context)"));
      body.appendChild(tr);
    }
    for (const k of keys) {
      const tr = el("tr");
      tr.append(el("td", "", k), el("td", "", formatValue(ctx[k])));
      body.appendChild(tr);
    }
  }
  function renderReasons(ul, reasons) {
    clear(ul);
    const list = Array.isArray(reasons) ? reasons : [];
    if (!list.length) ul.appendChild(el("li", "muted", "(no explanation given)"));
    list.forEach((t) => ul.appendChild(el("li", "", t)));
  }
  function inRange(range, n) {
    return Array.isArray(range) && range.length === 2 && n >= range[0] && n <= range[1];
  }
  function mark(v) {
    if (v === null || v === undefined) return el("span", "muted", "— absent");
    return v ? el("span", "yes", "✓ matches") : el("span", "no", "✗ no match");
  }
  /** Per statement: what matched, and each condition with the caller's value and whether it held. */
  function renderStatements(statements) {
    const list = el("div", "statements");
    for (const st of statements) {
      const box = el("div", "statement" + (st.deciding ? " deciding" : ""));
      const head = el("p", "st-head");
      head.append(
        el("b", "", st.sid ? st.sid : "statement #" + str(st.index)),
        document.createTextNode(
          " · " + str(st.effect) + (Array.isArray(st.lines) ? " · lines " + st.lines[0] + "–" + st.lines[1] : "") + " · ",
        ),
        st.applies ? el("span", "yes", st.deciding ? "applies, deciding" : "applies") : el("span", "no", "does not apply"),
      );
      const match = el("p", "st-match");
      for (const [name, v] of [["action", st.action], ["principal", st.principal], ["resource", st.resource]]) {
        match.append(document.createTextNode(name + " "), mark(v), document.createTextNode("  "));
      }
      box.append(head, match);
      const cs = Array.isArray(st.conditions) ? st.conditions : [];
      if (cs.length) {
        const ul = el("ul", "st-conds");
        for (const c of cs) {
          const li = el("li", "cond");
          const values = Array.isArray(c.values) ? c.values.join(", ") : str(c.values);
          const caller = Array.isArray(c.caller) ? c.caller.join(", ") : c.caller == null ? "(absent)" : String(c.caller);
          li.append(
            document.createTextNode(str(c.operator) + " " + str(c.key) + " " + values + "; caller: " + caller + " "),
            c.holds ? el("span", "yes", "✓ holds") : el("span", "no", "✗ does not hold"),
          );
          ul.appendChild(li);
        }
        box.appendChild(ul);
      }
      list.appendChild(box);
    }
    return list;
  }
  function renderPolicy(p) {
    const box = el("div", "policy");
    box.dataset.layer = String(p.layer || "");
    const title = el("p", "policy-title");
    title.append(el("span", "layer", str(p.layer)), document.createTextNode(str(p.name)));
    box.appendChild(title);
    const statements = Array.isArray(p.statements) ? p.statements : [];
    const deciding = statements.filter((s) => s.deciding).map((s) => s.lines);
    const applying = statements.filter((s) => s.applies).map((s) => s.lines);
    const src = el("div", "source");
    const lines = String(p.text || "").split(/\r?\n/);
    if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
    lines.forEach((text, i) => {
      const n = i + 1;
      const line = el("div", "line");
      line.dataset.line = String(n);
      if (deciding.some((r) => inRange(r, n))) line.classList.add("deciding");
      else if (applying.some((r) => inRange(r, n))) line.classList.add("applies");
      line.append(el("span", "ln", n), el("span", "code", text));
      src.appendChild(line);
    });
    box.appendChild(src);
    if (statements.length) box.appendChild(renderStatements(statements));
    return box;
  }
  function renderPolicies(container, policies) {
    clear(container);
    const list = Array.isArray(policies) ? policies : [];
    if (!list.length) container.appendChild(el("p", "muted", "(no policy document was evaluated)"));
    list.forEach((p) => container.appendChild(renderPolicy(p)));
  }
  function renderShadow(shadow) {
    const box = $("detail-shadow");
    clear(box);
    const on = !!shadow;
    box.hidden = !on;
    box.parentElement.classList.toggle("with-shadow", on);
    $("main").classList.toggle("with-shadow", on);
    if (!on) return;
    box.appendChild(el("h3", "", "shadow policy"));
    const dl = el("dl", "kv");
    addKV(dl, "decision", shadow.decision);
    addKV(dl, "layer", shadow.deniedBy);
    addKV(dl, "statement", shadow.statementSid);
    box.appendChild(dl);
    box.appendChild(el("h3", "", "why"));
    const ul = el("ul", "reasons");
    renderReasons(ul, shadow.reasons);
    box.appendChild(ul);
    box.appendChild(el("h3", "", "policies"));
    const pol = el("div");
    renderPolicies(pol, shadow.policies);
    box.appendChild(pol);
  }
  function resetDetail(r) {
    $("detail-title").textContent = str(r.decision) + " " + str(r.action || r.eventName);
    renderClassification(r);
    renderContext(r);
    $("detail-message").textContent = r.errorMessage || "";
    clear($("detail-reasons"));
    clear($("detail-policies"));
    renderShadow(null);
    $("detail-stale").hidden = true;
  }
  async function openDetail(record) {
    const id = record.requestID;
    state.selected = id;
    for (const tr of $("rows").querySelectorAll("tr.row.selected")) tr.classList.remove("selected");
    for (const tr of $("rows").rows) if (tr.dataset.requestId === id) tr.classList.add("selected");
    const pane = $("detail");
    pane.hidden = false;
    $("main").classList.add("with-detail");
    pane.dataset.requestId = id;
    pane.dataset.state = "loading";
    resetDetail(record);
    // Stacked below the table (narrow screens): bring the pane into view.
    if (window.matchMedia("(max-width: 900px)").matches) pane.scrollIntoView({ block: "start" });
    $("detail-status").textContent = "loading the explanation…";
    const seq = ++state.detailSeq;
    try {
      const d = await getJSON("/api/decisions/" + encodeURIComponent(id));
      if (seq !== state.detailSeq) return;
      const r = d.record || record;
      resetDetail(r);
      const message = d.message || r.errorMessage || "";
      const msg = $("detail-message");
      msg.textContent = message || "(none: AWS sends no denial message for this decision)";
      msg.classList.toggle("muted", !message);
      $("detail-stale").hidden = d.current !== false;
      renderReasons($("detail-reasons"), d.reasons);
      renderPolicies($("detail-policies"), d.policies);
      renderShadow(d.shadow || null);
      $("detail-status").textContent = "";
      pane.dataset.state = "ready";
    } catch (err) {
      if (seq !== state.detailSeq) return;
      if (err instanceof HttpError && err.status === 404) {
        $("detail-status").textContent =
          "This decision has left the proxy's memory: only its audit record is shown, without the explanation.";
        pane.dataset.state = "gone";
      } else {
        $("detail-status").textContent = err instanceof AuthError ? "admin token required" : "could not load the explanation: " + err.message;
        pane.dataset.state = "error";
      }
    }
  }
  function closeDetail() {
    state.detailSeq++;
    state.selected = null;
    $("detail").hidden = true;
    delete $("detail").dataset.requestId;
    delete $("detail").dataset.state;
    $("main").classList.remove("with-detail", "with-shadow");
    for (const tr of $("rows").querySelectorAll("tr.row.selected")) tr.classList.remove("selected");
  }

  // ---- wiring --------------------------------------------------------------------------------------
  function rowEvent(ev) {
    const tr = ev.target.closest("tr.row");
    if (!tr) return;
    if (ev.type === "keydown" && ev.key !== "Enter" && ev.key !== " ") return;
    if (ev.type === "keydown") ev.preventDefault();
    const r = state.shown.get(tr.dataset.requestId);
    if (r) openDetail(r);
  }
  function start() {
    loadFilters();
    setLive(false);
    $("rows").addEventListener("click", rowEvent);
    $("rows").addEventListener("keydown", rowEvent);
    $("load-older").addEventListener("click", loadOlder);
    $("detail-close").addEventListener("click", closeDetail);
    $("filter-decision").addEventListener("change", reload);
    $("filter-service").addEventListener("change", reload);
    $("filter-principal").addEventListener("change", reload);
    $("filter-text").addEventListener("input", () => {
      clearTimeout(state.textTimer);
      state.textTimer = setTimeout(reload, 300);
    });
    $("filters").addEventListener("submit", (ev) => {
      ev.preventDefault();
      clearTimeout(state.textTimer);
      reload();
    });
    window.addEventListener("hashchange", () => {
      if (location.hash.replace(/^#/, "") !== query()) {
        loadFilters();
        reload();
      }
    });
    reload();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
