// The live page of a mitosis replica: polls /_mitosis/api/view every tick
// and draws the tier's last 15 minutes as inline SVG. No dependencies; all
// data reaches the page through textContent and attributes, never markup.
'use strict';
(function () {
  const SVG = 'http://www.w3.org/2000/svg';
  const H = 170; // chart height in px (style.css)
  const PAD = { l: 44, r: 8, t: 8, b: 20 };

  const CHARTS = [
    { id: 'chart-replicas', integer: true, minMax: 2, marks: true, series: [
      { key: 'desired', label: 'desired', step: true, dash: true },
      { key: 'running', label: 'running', step: true, area: true },
      { key: 'pending', label: 'pending', step: true }] },
    { id: 'chart-rps', fmt: fmtRate, series: [{ key: 'rps', label: 'req/s', area: true }] },
    { id: 'chart-latency', fmt: fmtMS, axis: fmtAxisMS, series: [
      { key: 'p50', label: 'p50', gaps: true }, { key: 'p95', label: 'p95', gaps: true, area: true }] },
    { id: 'chart-queue', integer: true, series: [
      { key: 'queued', label: 'queued', area: true }, { key: 'inflight', label: 'in flight' }] },
    { id: 'chart-flow', fmt: fmtRate, series: [
      { key: 'shed', label: 'shed/s', area: true }, { key: 'forwarded', label: 'forwarded/s' }] },
  ];

  const st = {
    points: [], last: 0, view: null, tick: 2000, span: 15 * 60 * 1000,
    failures: 0, lostAt: 0, siblings: [], hover: null,
  };

  function $(sel, root) { return (root || document).querySelector(sel); }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function sv(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    return e;
  }

  // ---- formatting -------------------------------------------------------
  function fmtNum(v, digits) {
    if (v === undefined || v === null || Number.isNaN(v)) return '–';
    return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  }
  function fmtRate(v) {
    if (v === undefined || v === null) return '–';
    return fmtNum(v, v < 10 ? 2 : v < 100 ? 1 : 0);
  }
  function fmtMS(v) {
    if (v === undefined || v === null || v === 0) return '–';
    if (v >= 1000) return fmtNum(v / 1000, 2) + ' s';
    return fmtNum(v, v < 10 ? 2 : v < 100 ? 1 : 0) + ' ms';
  }
  function fmtAxisMS(v) { return v >= 1000 ? fmtNum(v / 1000, 2) + 's' : fmtNum(v, 1); }
  function fmtInt(v) { return v === undefined || v === null ? '–' : fmtNum(v, 0); }
  function hms(t) {
    const d = new Date(t);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
  }
  function ago(ms) {
    if (ms < 1500) return 'now';
    if (ms < 90000) return Math.round(ms / 1000) + ' s ago';
    return Math.round(ms / 60000) + ' min ago';
  }
  function span(ms) {
    const s = Math.round(ms / 1000);
    if (s < 120) return s + ' s';
    const m = Math.round(s / 60);
    return m < 120 ? m + ' min' : Math.round(m / 60) + ' h';
  }
  // A sibling's admin address as a link target: host:port only, so a
  // hostile replica cannot smuggle a javascript: URL into the page.
  function adminLink(addr) {
    if (!/^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$/.test(addr)) return null;
    return location.protocol + '//' + addr + '/_mitosis/';
  }

  // ---- charts -----------------------------------------------------------
  // niceScale picks a round step (1, 2, 2.5 or 5 × 10^n; whole numbers
  // for counts) and the top of the axis, about five steps above zero.
  function niceScale(v, integer, floor) {
    v = Math.max(v, floor || 0, integer ? 1 : 1e-9);
    const raw = v / 5;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = 10 * p;
    for (const m of integer ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10]) {
      if (m * p >= raw) { step = m * p; break; }
    }
    if (integer) step = Math.max(1, Math.round(step));
    return { step: step, top: step * Math.max(1, Math.ceil(v / step - 1e-9)) };
  }

  function buildChart(c) {
    const fig = document.getElementById(c.id);
    const cap = el('figcaption');
    cap.appendChild(el('span', { class: 't' }, fig.dataset.title));
    c.values = {};
    for (const s of c.series) {
      const lg = el('span', { class: 'lg' });
      lg.appendChild(el('span', { class: 'sw s-' + s.key }));
      lg.appendChild(document.createTextNode(s.label + ' '));
      const b = el('b', { 'data-key': s.key }, '–');
      lg.appendChild(b);
      c.values[s.key] = b;
      cap.appendChild(lg);
    }
    fig.appendChild(cap);
    const svg = sv('svg', { role: 'img', 'aria-label': fig.dataset.title });
    fig.appendChild(svg);
    c.fig = fig;
    c.svg = svg;
    svg.addEventListener('mousemove', (ev) => {
      const r = svg.getBoundingClientRect();
      st.hover = { id: c.id, x: ev.clientX - r.left };
      drawChart(c);
    });
    svg.addEventListener('mouseleave', () => { st.hover = null; drawChart(c); });
  }

  function domain() {
    const now = st.view ? st.view.now : Date.now();
    const first = st.points.length ? st.points[0].t : now;
    // The whole 15 minutes once there is that much; until then, the
    // history there is (at least 30 s, or 30 ticks).
    const from = Math.max(now - st.span, Math.min(first, now - Math.max(30000, 30 * st.tick)));
    return [from, now];
  }

  function drawChart(c) {
    const svg = c.svg;
    const W = Math.max(svg.clientWidth || c.fig.clientWidth - 24, 200);
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const pts = st.points;
    const [t0, t1] = domain();
    const x = (t) => PAD.l + (W - PAD.l - PAD.r) * (t - t0) / Math.max(t1 - t0, 1);
    let vmax = 0;
    for (const p of pts) for (const s of c.series) vmax = Math.max(vmax, p[s.key] || 0);
    const scale = niceScale(vmax * 1.05, c.integer, c.minMax);
    const top = scale.top;
    const y = (v) => PAD.t + (H - PAD.t - PAD.b) * (1 - v / top);
    const fmt = c.fmt || fmtInt;

    // grid and axes
    const grid = sv('g', { class: 'grid' });
    const axis = sv('g', { class: 'axis' });
    for (let v = 0; v <= top + scale.step / 2; v += scale.step) {
      grid.appendChild(sv('line', { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v) }));
      const tx = sv('text', { x: PAD.l - 6, y: y(v) + 3, 'text-anchor': 'end' });
      tx.textContent = c.axis ? c.axis(v) : fmtNum(v, 2);
      axis.appendChild(tx);
    }
    const nx = Math.max(2, Math.min(6, Math.floor(W / 110)));
    for (let i = 0; i <= nx; i++) {
      const t = t0 + (t1 - t0) * i / nx;
      const tx = sv('text', { x: x(t), y: H - 4, 'text-anchor': i === 0 ? 'start' : i === nx ? 'end' : 'middle' });
      tx.textContent = hms(t);
      axis.appendChild(tx);
    }
    svg.appendChild(grid);
    svg.appendChild(axis);

    if (!pts.length) {
      const tx = sv('text', { class: 'empty', x: W / 2, y: H / 2, 'text-anchor': 'middle' });
      tx.textContent = 'waiting for the first tick…';
      svg.appendChild(tx);
      return;
    }

    // scale changes: a dashed line and an arrow at each acted decision
    if (c.marks && st.view) {
      for (const d of st.view.decisions) {
        if (d.steady || d.desired === d.current || !d.acted) continue;
        const t = Date.parse(d.time);
        if (t < t0) continue;
        const up = d.desired > d.current;
        const g = sv('g', { class: 'mark ' + (up ? 'up' : 'down') });
        const xx = x(t);
        g.appendChild(sv('line', { x1: xx, x2: xx, y1: PAD.t, y2: H - PAD.b }));
        g.appendChild(sv('path', { d: up ? `M${xx - 4},${PAD.t + 7}L${xx},${PAD.t}L${xx + 4},${PAD.t + 7}Z`
                                          : `M${xx - 4},${PAD.t}L${xx},${PAD.t + 7}L${xx + 4},${PAD.t}Z` }));
        const title = sv('title');
        title.textContent = hms(t) + ': ' + d.current + ' → ' + d.desired + ' (' + d.reason + ')';
        g.appendChild(title);
        svg.appendChild(g);
      }
    }

    // series: areas first, then lines on top; the last series drawn is
    // the one read first, so desired (dashed) goes over running.
    const paths = [];
    for (const s of c.series) {
      let d = '', area = '', open = false, lastX = 0, firstX = 0;
      for (const p of pts) {
        const v = p[s.key];
        if (p.t < t0 || ((v === undefined || v === null) && s.gaps)) {
          if (open && s.area) area += `L${lastX},${y(0)}L${firstX},${y(0)}Z`;
          open = false;
          continue;
        }
        const xx = x(p.t), yy = y(v || 0);
        if (!open) {
          d += `M${xx},${yy}`; area += `M${xx},${y(0)}L${xx},${yy}`; firstX = xx; open = true;
        } else if (s.step) {
          d += `H${xx}V${yy}`; area += `H${xx}V${yy}`;
        } else {
          d += `L${xx},${yy}`; area += `L${xx},${yy}`;
        }
        lastX = xx;
      }
      if (open && s.area) area += `L${lastX},${y(0)}L${firstX},${y(0)}Z`;
      if (s.area && area) svg.appendChild(sv('path', { class: 'area s-' + s.key, d: area }));
      paths.push(sv('path', { class: 'ln s-' + s.key + (s.dash ? ' dash' : ''), d: d }));
    }
    for (let i = paths.length - 1; i >= 0; i--) svg.appendChild(paths[i]);

    // legend values: the hovered point, else the newest
    let shown = pts[pts.length - 1];
    if (st.hover && st.hover.id === c.id) {
      const sx = st.hover.x * (W / (svg.getBoundingClientRect().width || W));
      let best = null, bd = Infinity;
      for (const p of pts) {
        const dd = Math.abs(x(p.t) - sx);
        if (dd < bd) { bd = dd; best = p; }
      }
      if (best) {
        shown = best;
        const g = sv('g', { class: 'hover' });
        g.appendChild(sv('line', { x1: x(best.t), x2: x(best.t), y1: PAD.t, y2: H - PAD.b }));
        const tx = sv('text', { class: 'empty', x: x(best.t) + 4, y: PAD.t + 10 });
        tx.textContent = hms(best.t);
        g.appendChild(tx);
        svg.appendChild(g);
      }
    }
    for (const s of c.series) c.values[s.key].textContent = fmt(shown[s.key]);
    const last = pts[pts.length - 1];
    const lastVals = {};
    for (const s of c.series) lastVals[s.key] = last[s.key] === undefined ? null : last[s.key];
    c.fig.dataset.last = JSON.stringify(lastVals);
  }

  // ---- the rest of the page ---------------------------------------------
  function setKPI(id, v, sub, alert) {
    const k = document.getElementById(id);
    $('.v', k).textContent = v;
    $('.s', k).textContent = sub || '';
    k.classList.toggle('alert', !!alert);
  }

  function renderKPIs() {
    const p = st.points[st.points.length - 1];
    if (!p) return;
    const pend = p.pending ? ', ' + p.pending + ' pending' : '';
    setKPI('kpi-replicas', fmtInt(p.running) + ' / ' + fmtInt(p.desired), p.ready + ' ready' + pend);
    setKPI('kpi-rps', fmtRate(p.rps) + ' /s', fmtInt(p.inflight) + ' in flight');
    setKPI('kpi-latency', fmtMS(p.p95), p.p95 ? (p.p50 ? 'p50 ' + fmtMS(p.p50) : 'rate-weighted over replicas') : 'no requests');
    setKPI('kpi-queue', fmtInt(p.queued), 'waiting for a slot');
    setKPI('kpi-shed', fmtRate(p.shed) + ' /s', 'answered 503', p.shed > 0);
    setKPI('kpi-fwd', fmtRate(p.forwarded) + ' /s', 'handed to a sibling');
  }

  function renderHeader() {
    const v = st.view;
    const who = $('#who');
    who.textContent = '';
    who.appendChild(document.createTextNode('replica '));
    who.appendChild(el('b', {}, v.id));
    const have = st.points.length ? v.now - st.points[0].t : 0;
    who.appendChild(document.createTextNode(' · driver ' + v.driver + ' · history ' + span(have) + ' at one point per ' + span(v.tick_ms)));
    if (v.leader) who.appendChild(el('span', { class: 'badge lead', title: 'this replica acts for the tier' }, 'acts for the tier'));
    if (v.draining) who.appendChild(el('span', { class: 'badge' }, 'draining'));
    $('#build').textContent = 'mitosis ' + v.version;
    document.title = 'mitosis · ' + v.id;
  }

  function renderReplicas() {
    const tb = $('#replicas tbody');
    tb.textContent = '';
    const rows = st.view.replicas.slice().sort((a, b) => (b.self - a.self) || a.id.localeCompare(b.id) || a.admin.localeCompare(b.admin));
    for (const r of rows) {
      const tr = el('tr', { class: r.self ? 'self' : '' });
      const id = el('td');
      id.appendChild(document.createTextNode(r.id || '(not polled yet)'));
      if (r.self) id.appendChild(el('span', { class: 'badge' }, 'this page'));
      tr.appendChild(id);
      tr.appendChild(el('td', {}, r.addr || '–'));
      const s = el('td');
      s.appendChild(el('span', { class: 'st st-' + r.state }, r.state));
      tr.appendChild(s);
      tr.appendChild(el('td', { class: 'n' }, fmtRate(r.rps)));
      const inf = el('td', { class: 'n' }, r.inflight + (r.capacity ? ' / ' + r.capacity : ''));
      const bar = el('span', { class: 'bar' });
      const fill = el('i');
      fill.style.width = Math.min(100, r.capacity ? 100 * r.inflight / r.capacity : 0) + '%';
      bar.appendChild(fill);
      inf.appendChild(bar);
      tr.appendChild(inf);
      tr.appendChild(el('td', { class: 'n' }, fmtInt(r.queued)));
      tr.appendChild(el('td', { class: 'n' }, fmtMS(r.p95)));
      tr.appendChild(el('td', { class: 'n' }, fmtInt(r.shed)));
      tr.appendChild(el('td', { class: 'n' }, r.self ? 'live' : ago(r.age_ms)));
      tb.appendChild(tr);
    }
    if (!rows.length) {
      const tr = el('tr');
      tr.appendChild(el('td', { colspan: 9, class: 'empty-row' }, 'no replicas known'));
      tb.appendChild(tr);
    }
    const ready = rows.filter((r) => r.state === 'ready').length;
    $('#replicas-note').textContent = ready + ' ready of ' + rows.length + ' known to this replica';
  }

  function resultTags(d) {
    const tags = [];
    if (d.acted) tags.push(['acted', 'acted']);
    else if (d.result === 'follower') tags.push(['', 'another replica acts']);
    else if (d.result === 'dry_run') tags.push(['', 'dry run']);
    else if (d.result === 'conflict') tags.push(['', 'lost the race, retried']);
    else if (d.result === 'error' || d.result === 'no_status') tags.push(['error', d.result === 'error' ? 'scale failed' : 'no platform status']);
    if (d.panic) tags.push(['panic', 'panic']);
    if (d.ticks > 1 && !d.steady) tags.push(['', '×' + d.ticks]);
    return tags;
  }

  function renderDecisions() {
    const ol = $('#decisions');
    ol.textContent = '';
    const ds = st.view.decisions;
    for (const d of ds) {
      const t = Date.parse(d.time), tl = Date.parse(d.last);
      let cls = 'steady';
      if (!d.steady) cls = d.error ? 'err' : d.desired > d.current ? 'up' : d.desired < d.current ? 'down' : 'err';
      const li = el('li', { class: cls });
      li.appendChild(el('time', { datetime: d.last }, hms(tl)));
      if (d.steady) {
        li.appendChild(el('span', { class: 'ch' }, d.current + ''));
        const what = d.ticks === 1 ? '1 steady tick' : '… ' + d.ticks + ' steady ticks';
        li.appendChild(el('span', { class: 'why' }, what + (d.ticks > 1 ? ' since ' + hms(t) : '') + ' — ' + d.reason));
      } else {
        li.appendChild(el('span', { class: 'ch' }, d.current + ' → ' + d.desired));
        li.appendChild(el('span', { class: 'why' }, d.error ? d.error + (d.reason ? ' — ' + d.reason : '') : d.reason));
      }
      const tags = el('span', { class: 'tags' });
      for (const [c, text] of resultTags(d)) tags.appendChild(el('span', { class: 'tag ' + c }, text));
      li.appendChild(tags);
      ol.appendChild(li);
    }
    if (!ds.length) ol.appendChild(el('li', { class: 'steady' }, 'no decisions (autoscaling is off on this replica, or it has not ticked yet)'));
  }

  function renderBanner() {
    const b = $('#banner');
    const v = st.view;
    let msg = null, bad = false;
    if (st.failures >= 2 && v) {
      msg = 'Lost contact with replica ' + v.id + ' at ' + hms(st.lostAt) + ': it was probably retired. ';
      bad = true;
    } else if (v && v.draining) {
      msg = 'Replica ' + v.id + ' is draining: it is being retired and this page will stop. ';
    }
    if (!msg) { b.hidden = true; return; }
    b.textContent = msg;
    b.classList.toggle('bad', bad);
    const links = st.siblings.map(adminLink).filter(Boolean);
    if (links.length) {
      b.appendChild(document.createTextNode('Its siblings\u2019 pages: '));
      for (const href of links) b.appendChild(el('a', { href: href }, href.replace(/^https?:\/\//, '').replace(/\/_mitosis\/$/, '')));
    } else {
      b.appendChild(document.createTextNode('It knew no sibling.'));
    }
    b.hidden = false;
  }

  function setStatus(cls, text) {
    const s = $('#status');
    s.className = 'pill ' + cls;
    s.textContent = text;
  }

  function render() {
    if (!st.view) return;
    renderHeader();
    renderKPIs();
    for (const c of CHARTS) drawChart(c);
    renderReplicas();
    renderDecisions();
    renderBanner();
  }

  // ---- polling ----------------------------------------------------------
  async function poll() {
    let next = st.tick;
    try {
      const r = await fetch('/_mitosis/api/view?since=' + st.last, { cache: 'no-store', credentials: 'same-origin' });
      if (r.status === 401) {
        setStatus('pill-off', 'signed out');
        const b = $('#banner');
        b.textContent = 'The sign-in expired or the token changed. ';
        b.appendChild(el('a', { href: '/_mitosis/' }, 'Sign in again'));
        b.classList.add('bad');
        b.hidden = false;
        return; // stop polling
      }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const v = await r.json();
      st.view = v;
      st.tick = v.tick_ms || 2000;
      st.span = v.span_ms || st.span;
      for (const p of v.points) if (p.t > st.last) { st.points.push(p); st.last = p.t; }
      const from = v.now - st.span;
      let cut = 0;
      while (cut < st.points.length && st.points[cut].t < from) cut++;
      if (cut) st.points.splice(0, cut);
      st.siblings = v.replicas.filter((m) => !m.self && m.state !== 'down' && m.state !== 'draining').map((m) => m.admin);
      st.failures = 0;
      setStatus(v.draining ? 'pill-wait' : 'pill-live', v.draining ? 'draining' : 'live');
      render();
      next = st.tick;
    } catch (e) {
      st.failures++;
      if (st.failures === 1) st.lostAt = Date.now();
      setStatus(st.failures >= 2 ? 'pill-off' : 'pill-wait', st.failures >= 2 ? 'unreachable' : 'retrying');
      renderBanner();
      next = Math.min(st.tick * st.failures, 10000);
    }
    setTimeout(poll, next);
  }

  function start() {
    for (const c of CHARTS) buildChart(c);
    window.addEventListener('resize', () => { for (const c of CHARTS) drawChart(c); });
    poll();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
