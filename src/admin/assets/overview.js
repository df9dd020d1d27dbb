/* hookroute dashboard: the overview page (the landing page), drawn from GET /api/activity.
 *
 * Loaded before app.js, whose helpers (h, add, fill, muted, fmtMs, duration, timeEl, fmtTime, api)
 * it uses when called. Charts are inline SVG built here with createElementNS: no library, no CDN,
 * nothing inline for the CSP to refuse (colours come from classes in app.css).
 *
 *   stackedBars()   one bar per bucket, one stacked segment per series, a hover title per bar
 *   overviewView()  tiles (events, success, dead, queue), the two charts, destinations, dead letters
 */
'use strict';

const SVG_NS = 'http://www.w3.org/2000/svg';
const OVERVIEW_WINDOWS = { hour: 'Last hour', day: 'Last day' };
const OUTCOME_ORDER = ['delivered', 'retry', 'dead'];

/** An SVG element with attributes and children (strings become text nodes). */
function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) el.setAttribute(k, v);
  for (const c of children.flat()) if (c != null) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** `13990` as `13 990`. */
const grouped = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');

/** A round axis maximum at or above `max` (1, 2, 5 × 10^k). */
function niceMax(max) {
  if (max <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * step).find((m) => m >= max);
}

/**
 * Stacked bars: `series` is [{name, cls, values: [n per bucket]}], bucket i starts at
 * `since + i * bucketMs`. Each bar has a <title> with its counts; the chart carries its totals as
 * data attributes so tests read what was drawn.
 */
function stackedBars({ id, series, since, bucketMs, label }) {
  const width = 720;
  const height = 180;
  const left = 40;
  const bottom = 22;
  const buckets = series[0]?.values.length || 0;
  const sums = Array.from({ length: buckets }, (_, i) => series.reduce((s, x) => s + x.values[i], 0));
  const top = niceMax(Math.max(0, ...sums));
  const plotH = height - bottom - 8;
  const slot = (width - left) / Math.max(1, buckets);
  const barW = Math.max(1, slot - (slot > 4 ? 1.5 : 0.5));
  const y = (v) => 8 + plotH - (v / top) * plotH;
  const chart = svg('svg', {
    id, class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label,
    'data-total': sums.reduce((a, b) => a + b, 0),
  });
  for (const f of [0, 0.5, 1]) {
    chart.append(svg('line', { class: 'grid-line', x1: left, x2: width, y1: y(top * f), y2: y(top * f) }),
      svg('text', { class: 'axis', x: left - 6, y: y(top * f) + 4, 'text-anchor': 'end' }, grouped(top * f)));
  }
  for (let i = 0; i < buckets; i++) {
    if (!sums[i]) continue;
    const at = since + i * bucketMs;
    const parts = series.filter((s) => s.values[i]).map((s) => `${s.name} ${grouped(s.values[i])}`);
    const bar = svg('g', { class: 'bar', 'data-bucket': i, 'data-count': sums[i] },
      svg('title', {}, `${fmtTime(at)}: ${parts.join(', ')}`));
    let base = 0;
    for (const s of series) {
      const v = s.values[i];
      if (!v) continue;
      bar.append(svg('rect', {
        class: `seg ${s.cls}`, 'data-series': s.name, 'data-count': v,
        x: (left + i * slot).toFixed(1), width: barW.toFixed(1), y: y(base + v).toFixed(1), height: (y(base) - y(base + v)).toFixed(1),
      }));
      base += v;
    }
    chart.append(bar);
  }
  const ticks = 6;
  for (let t = 0; t <= ticks; t++) {
    const i = Math.round((t * (buckets - 1)) / ticks);
    const anchor = t === 0 ? 'start' : t === ticks ? 'end' : 'middle';
    const x = t === 0 ? left + i * slot : t === ticks ? left + (i + 1) * slot : left + i * slot + slot / 2;
    chart.append(svg('text', { class: 'axis', x, y: height - 6, 'text-anchor': anchor },
      fmtTime(since + i * bucketMs, { clock: true })));
  }
  return chart;
}

function legend(series) {
  return h('div', { class: 'legend' }, series.map((s) => h('span', { class: 'key' },
    svg('svg', { class: 'swatch', viewBox: '0 0 10 10' }, svg('rect', { class: `seg ${s.cls}`, width: 10, height: 10 })),
    ` ${s.name} `, h('b', {}, grouped(s.total)))));
}

function tile(id, label, value, note, grade) {
  return h('div', { class: `tile ${grade || ''}`, id },
    h('div', { class: 'tile-label' }, label), h('div', { class: 'tile-value' }, value), note ? h('div', { class: 'muted' }, note) : null);
}

const rateText = (r) => (r == null ? '—' : `${(r * 100).toFixed(1)} %`);
const rateGrade = (r) => (r == null ? '' : r >= 0.99 ? 'good' : r >= 0.9 ? 'warn' : 'bad');

function overviewTiles(a) {
  const events = Object.values(a.events.totals).reduce((x, y) => x + y, 0);
  const t = a.attempts.totals;
  const attempts = OUTCOME_ORDER.reduce((s, k) => s + (t[k] || 0), 0);
  const rate = attempts ? (t.delivered || 0) / attempts : null;
  const perMinute = events / ((a.buckets * a.bucket_seconds) / 60);
  const oldest = a.queue.oldest_pending_age_seconds;
  return h('div', { class: 'tiles' },
    tile('tile-events', 'Events', grouped(events), `${perMinute.toFixed(perMinute < 10 ? 1 : 0)} per minute`),
    tile('tile-success', 'Attempts delivered', rateText(rate), `${grouped(t.delivered || 0)} of ${grouped(attempts)} attempts`, rateGrade(rate)),
    tile('tile-failing', 'Failing destinations', a.failing.length, a.failing.length ? a.failing.join(', ') : 'none', a.failing.length ? 'bad' : 'good'),
    tile('tile-dead', 'Dead letters', h('a', { href: '#/dead' }, grouped(a.dead.total)), 'stored now', a.dead.total ? 'bad' : 'good'),
    tile('tile-queue', 'Queue', grouped(a.queue.depth), oldest == null ? 'nothing waiting' : `oldest ${duration(oldest)}`,
      oldest != null && oldest > 900 ? 'warn' : ''));
}

function overviewDestinations(a) {
  const table = gridTable(['Destination', 'Attempts', 'Success', 'p50', 'p95', 'Pending', 'Dead', 'Last failure']);
  table.id = 'overview-destinations';
  table.tBodies[0].append(...a.destinations.map((d) => h('tr', {
    'data-destination': d.name, class: d.failing ? 'failing' : d.dead ? 'has-dead' : null,
  },
  h('td', {}, h('b', {}, d.name), d.failing ? h('span', { class: 'badge s-dead' }, 'failing') : null,
    d.in_rules ? null : muted(' (not in the rules)')),
  h('td', { class: 'num' }, grouped(d.attempts)),
  h('td', { class: 'num' }, h('span', { class: `rate ${rateGrade(d.success_rate) || 'none'}` }, rateText(d.success_rate))),
  h('td', { class: 'num' }, fmtMs(d.p50_latency_ms)),
  h('td', { class: 'num' }, fmtMs(d.p95_latency_ms)),
  h('td', { class: 'num' }, d.pending),
  h('td', { class: 'num' }, d.dead ? h('a', { class: 'badge s-dead', href: `#/dead?destination=${encodeURIComponent(d.name)}` }, d.dead) : 0),
  h('td', {}, d.last_failed_at ? [timeEl(d.last_failed_at), d.last_error ? h('div', { class: 'error-text clip', title: d.last_error }, d.last_error) : null] : muted('none')))));
  if (!a.destinations.length) table.tBodies[0].append(h('tr', { class: 'empty' }, h('td', { colspan: 8 }, 'No destination.')));
  return h('div', { class: 'table-wrap' }, table);
}

function overviewDead(a) {
  if (!a.dead.recent.length) return h('p', { class: 'muted', id: 'overview-dead' }, 'No dead letters.');
  return h('ul', { class: 'dead-list', id: 'overview-dead' }, a.dead.recent.map((d) => h('li', { 'data-delivery-id': d.id },
    h('code', {}, `#${d.id}`), ' → ', h('b', {}, d.destination), muted(` rule ${d.rule} · `),
    h('a', { href: `#/events/${encodeURIComponent(d.event_id)}`, class: 'mono' }, shortId(d.event_id)), ' ',
    timeEl(d.updated_at), d.last_error ? h('div', { class: 'error-text clip', title: d.last_error }, d.last_error) : null)),
  a.dead.total > a.dead.recent.length ? h('li', {}, h('a', { href: '#/dead' }, `all ${grouped(a.dead.total)} dead letters →`)) : null);
}

function overviewBody(a) {
  const bucketMs = a.bucket_seconds * 1000;
  const per = a.bucket_seconds === 60 ? 'per minute' : `per ${a.bucket_seconds / 60} minutes`;
  const sources = Object.keys(a.events.by_source).map((name, i) => ({
    name, cls: `src-${i % 6}`, values: a.events.by_source[name], total: a.events.totals[name],
  }));
  const outcomes = OUTCOME_ORDER.map((name) => ({
    name, cls: `out-${name}`, values: a.attempts.by_outcome[name], total: a.attempts.totals[name],
  }));
  return [
    overviewTiles(a),
    h('div', { class: 'columns' },
      h('section', { class: 'panel' }, h('h2', {}, `Events ${per}, by source`),
        sources.length ? [stackedBars({ id: 'chart-events', series: sources, since: a.since, bucketMs, label: `events ${per}` }), legend(sources)]
          : muted('No source in the rules.')),
      h('section', { class: 'panel' }, h('h2', {}, `Delivery attempts ${per}, by outcome`),
        stackedBars({ id: 'chart-outcomes', series: outcomes, since: a.since, bucketMs, label: `attempts ${per}` }), legend(outcomes))),
    h('section', { class: 'panel' }, h('h2', {}, 'Destinations'),
      h('p', { class: 'muted' }, 'Attempts of the last hour (whatever the charts show); failing: only failures for a minute or more. Pending and dead are current counts.'),
      overviewDestinations(a)),
    h('section', { class: 'panel' }, h('h2', {}, 'Latest dead letters'), overviewDead(a)),
  ];
}

function overviewView(params) {
  let windowName = OVERVIEW_WINDOWS[params.get('window')] ? params.get('window') : 'hour';
  const body = h('div', { class: 'overview-body' }, muted('Loading…'));
  const switcher = h('div', { class: 'switch', role: 'group', 'aria-label': 'window' }, Object.entries(OVERVIEW_WINDOWS).map(([name, label]) =>
    h('button', { type: 'button', 'data-window': name, class: name === windowName ? 'active' : null, onclick: () => choose(name) }, label)));
  let lastKey = null;
  let requests = 0;
  function choose(name) {
    windowName = name;
    history.replaceState(null, '', name === 'hour' ? '#/overview' : `#/overview?window=${name}`);
    for (const b of switcher.children) b.classList.toggle('active', b.dataset.window === name);
    lastKey = null;
    quietly(poll());
  }
  async function poll() {
    const request = ++requests;
    const a = await api(`/api/activity?window=${windowName}`);
    // Only the minute moves the window: redraw when the data (not just `now`) changed.
    const key = JSON.stringify({ ...a, now: 0 });
    if (request !== requests || !body.isConnected || key === lastKey) return;
    lastKey = key;
    fill(body, overviewBody(a));
    body.dataset.window = a.window;
  }
  const el = h('section', { id: 'overview', class: 'view' },
    h('div', { class: 'view-head' }, h('h1', {}, 'Overview'), switcher), body);
  return { el, poll };
}
