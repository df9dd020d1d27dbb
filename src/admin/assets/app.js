/* hookroute dashboard: one page, plain JS, no dependencies, embedded in the binary.
 *
 * Structure, top to bottom:
 *   helpers    h() builds DOM from plain text (never innerHTML), time (UTC or local, with its zone),
 *              latency and JSON formatting
 *   (overview.js, loaded first: the landing page with its SVG charts, uses these helpers)
 *   api        fetch wrapper: bearer token from localStorage, 401 → #token-form, errors → #error-banner
 *   header     counts, queue and rules version from /api/overview
 *   renderers  status badges, deliveries with their attempts, the match explanation (event detail
 *              and dry-run share it)
 *   views      one factory per route returning {el, poll}; poll() (re)loads the view's data and
 *              drops the answer once el has left the page
 *   router     hashchange → view; the ticker refreshes header + view every 2 s (1 s after a replay
 *              until nothing is in flight), only while the tab is visible
 */
'use strict';

const TOKEN_KEY = 'hookroute.token';
const ZONE_KEY = 'hookroute.zone';
const STATUSES = ['pending', 'failed', 'held', 'delivered', 'dead', 'cancelled'];
const state = {
  view: null, overview: null, fast: false, fastSince: 0, eventsHash: '#/events',
  zone: localStorage.getItem(ZONE_KEY) === 'local' ? 'local' : 'utc',
};
const seenNames = { types: new Set(), rules: new Set() };
const $ = (sel) => document.querySelector(sel);

// ---- helpers ---------------------------------------------------------------------------------

/** An element with attributes (`onX` adds a listener) and children; strings become text nodes. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  return add(el, children);
}

/** Appends children (nested arrays flattened; null and false skipped; strings as text). */
function add(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Replaces an element's content, with the same children rules as h(). */
function fill(el, ...children) {
  el.replaceChildren();
  return add(el, children);
}

const pad = (n) => String(n).padStart(2, '0');
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
const shortId = (id) => (id.length > 13 ? `…${id.slice(-12)}` : id);
const fmtMs = (ms) => (ms == null ? '—' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`);
const term = (name, ...value) => [h('dt', {}, name), h('dd', {}, value)];
const muted = (text) => h('span', { class: 'muted' }, text);

/** The zone times are shown in: `UTC`, or the browser's offset at that instant (`UTC+02:00`). */
function zoneName(d) {
  if (state.zone === 'utc') return 'UTC';
  const off = -d.getTimezoneOffset();
  return `UTC${off < 0 ? '−' : '+'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}

/** Date and time parts of `ms` in the chosen zone. */
function timeParts(ms) {
  const d = new Date(ms);
  return state.zone === 'utc'
    ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
}

/** `2026-12-04 01:02:03 UTC`; with `clock`, just `01:02`. */
function fmtTime(ms, { clock = false } = {}) {
  const [y, mo, d, hh, mm, ss] = timeParts(ms);
  if (clock) return `${pad(hh)}:${pad(mm)}`;
  return `${y}-${pad(mo)}-${pad(d)} ${pad(hh)}:${pad(mm)}:${pad(ss)} ${zoneName(new Date(ms))}`;
}

/** A `datetime-local` input's value for unix ms (as text) in the chosen zone; '' stays ''. */
function toInputTime(msText) {
  if (!msText) return '';
  const [y, mo, d, hh, mm] = timeParts(Number(msText));
  return `${y}-${pad(mo)}-${pad(d)}T${pad(hh)}:${pad(mm)}`;
}

/** Unix ms (as text) of a `datetime-local` value read in the chosen zone; '' when empty or bad. */
function fromInputTime(text) {
  if (!text) return '';
  const ms = state.zone === 'utc' ? Date.parse(`${text}Z`) : new Date(text).getTime();
  return Number.isFinite(ms) ? String(ms) : '';
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function relative(ms) {
  const s = (Date.now() - ms) / 1000;
  if (s < -1) return `in ${duration(-s)}`;
  return s < 2 ? 'just now' : `${duration(s)} ago`;
}

/** Local time with its age beside it; the ticker keeps every `[data-ts]` age current. */
function timeEl(ms) {
  if (!ms) return muted('—');
  return h('span', { class: 'time', title: new Date(ms).toString() },
    h('span', { class: 'abs' }, fmtTime(ms)), ' ', h('span', { class: 'rel', 'data-ts': ms }, relative(ms)));
}

function refreshRelativeTimes() {
  for (const el of document.querySelectorAll('[data-ts]')) el.textContent = relative(Number(el.dataset.ts));
}

/** Indents JSON text without re-serialising it (big integers keep every digit); other text as is. */
function prettyJson(text) {
  try { JSON.parse(text); } catch { return text; }
  let out = '';
  let depth = 0;
  const newline = () => `\n${'  '.repeat(depth)}`;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === '{' || c === '[') {
      let j = i + 1;
      while (/\s/.test(text[j])) j++;
      if (text[j] === (c === '{' ? '}' : ']')) { out += c + text[j]; i = j; continue; }
      depth++;
      out += c + newline();
    } else if (c === '}' || c === ']') {
      depth--;
      out += newline() + c;
    } else if (c === ',') out += `,${newline()}`;
    else if (c === ':') out += ': ';
    else if (!/\s/.test(c)) out += c;
  }
  return out;
}

/** `path?k=v&…` without the empty values. */
function withQuery(path, values) {
  const query = String(new URLSearchParams(Object.entries(values).filter(([, v]) => v)));
  return query ? `${path}?${query}` : path;
}

/** Fills a <datalist> used as suggestions by filter inputs (only when the names changed). */
function fillList(id, values) {
  const list = document.getElementById(id);
  const names = [...new Set(values)].sort();
  if (list.dataset.key === names.join('\n')) return;
  list.dataset.key = names.join('\n');
  list.replaceChildren(...names.map((v) => h('option', { value: v })));
}

// ---- api -------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Calls the admin API. Failures are shown in the banner (or the token form) and rethrown. */
async function api(path, { method = 'GET', body } = {}) {
  const headers = {};
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  // The admin listener refuses a POST that is not JSON (cross-site defence): always send a body.
  if (method === 'POST' && body === undefined) body = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw reported(new ApiError(`Cannot reach hookroute (${method} ${path}): ${err.message}`, 0));
  }
  const data = await res.json().catch(() => null);
  if (res.status === 401) {
    showTokenForm(token ? 'The admin token was refused; enter the current one.' : 'This dashboard needs the admin token.');
    throw new ApiError('unauthorized', 401, data);
  }
  if (!res.ok) {
    throw reported(new ApiError((data && data.error) || `${method} ${path}: HTTP ${res.status}`, res.status, data));
  }
  return data;
}

function reported(err) {
  showError(err.message);
  return err;
}

/** Runs a promise for its effect; an error not yet shown (a bug, a bad form field) goes to the banner. */
function quietly(promise) {
  return Promise.resolve(promise).catch((err) => {
    if (!(err instanceof ApiError)) showError(err.message || String(err));
  });
}

function showError(message) {
  const banner = $('#error-banner');
  banner.querySelector('.message').textContent = message;
  banner.hidden = false;
}

let noticeTimer = 0;
function notify(message) {
  const notice = $('#notice');
  notice.textContent = message;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { notice.hidden = true; }, 4000);
}

function showTokenForm(message) {
  const form = $('#token-form');
  $('#token-message').textContent = message;
  if (form.hidden) {
    form.hidden = false;
    $('#token-input').focus();
  }
}

// ---- header ----------------------------------------------------------------------------------

async function refreshHeader() {
  const o = await api('/api/overview');
  state.overview = o;
  const { counts, queue, rules } = o;
  $('#counts').replaceChildren(
    ...STATUSES.map((s) => h('a', {
      class: `count c-${s}${counts[s] ? '' : ' zero'}`, href: `#/events?status=${s}`, title: `events with ${s} deliveries`,
    }, h('b', {}, counts[s]), ` ${s}`)),
    h('span', { class: 'stat' }, 'queue ', h('b', {}, queue.depth)),
    h('span', { class: 'stat' }, 'oldest ',
      h('b', {}, queue.oldest_pending_age_seconds == null ? '—' : duration(queue.oldest_pending_age_seconds))),
    h('span', { class: 'stat' }, 'rules ', h('code', {}, rules.version)));
  fillList('sources-list', rules.sources);
  fillList('destinations-list', rules.destinations);
}

// ---- renderers -------------------------------------------------------------------------------

const statusBadge = (s) => h('span', { class: `status badge s-${s}` }, s);
const replayable = (d) => ['dead', 'failed', 'held', 'delivered', 'cancelled'].includes(d.status);
const inFlight = (d) => d.status === 'pending' || d.status === 'failed';
const chips = (names) => (names.length ? names.map((n) => h('span', { class: 'chip' }, n)) : muted('none'));

function gridTable(headings) {
  return h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, headings.map((t) => h('th', {}, t)))), h('tbody'));
}

/** The Replay button of a delivery; `done(button)` runs once the API accepted it. A delivered one
 *  was received already: replaying it sends it again, so it asks first and then sends `force`. */
function replayButton(id, done, status) {
  const force = status === 'delivered';
  const replay = async (btn) => {
    if (force && !confirm(`Delivery #${id} was delivered already. Send it again?`)) return;
    btn.disabled = true;
    try {
      await api(`/api/deliveries/${id}/replay`, { method: 'POST', body: force ? { force: true } : {} });
    } catch (err) {
      btn.disabled = false;
      throw err;
    }
    notify(`Delivery #${id} queued again.`);
    done(btn);
  };
  return h('button', {
    type: 'button', class: 'replay', 'data-delivery-id': id, onclick: (e) => quietly(replay(e.currentTarget)),
  }, 'Replay');
}

function renderDelivery(d, onReplay) {
  return h('article', { class: `card delivery b-${d.status}`, 'data-delivery-id': d.id },
    h('header', { class: 'card-head' },
      statusBadge(d.status),
      h('code', {}, `#${d.id}`),
      h('span', {}, '→ ', h('b', {}, d.destination)),
      muted(`rule ${d.rule} · action ${d.action_index} · ${plural(d.attempts, 'attempt', 'attempts')} · series ${d.series}`),
      inFlight(d) ? muted(['next attempt ', h('span', { 'data-ts': d.next_attempt_at }, relative(d.next_attempt_at))]) : null,
      h('span', { class: 'spacer' }),
      replayable(d) ? replayButton(d.id, onReplay, d.status) : null),
    d.last_error ? h('div', { class: 'error-text mono' }, d.last_error) : null,
    d.history.length ? attemptsTable(d.history) : h('p', { class: 'muted' }, 'No attempt yet.'));
}

function attemptsTable(history) {
  const table = gridTable(['Series', 'Attempted', 'HTTP', 'Latency', 'Outcome', 'Error', 'Response']);
  table.classList.add('attempts');
  table.tBodies[0].append(...history.map((a) => h('tr', {},
    h('td', { class: 'num' }, a.series),
    h('td', { class: 'nowrap' }, timeEl(a.attempted_at)),
    h('td', { class: 'num' }, a.status_code ?? '—'),
    h('td', { class: 'num' }, fmtMs(a.latency_ms)),
    h('td', {}, h('span', { class: `badge o-${a.outcome}` }, a.outcome)),
    h('td', { class: 'error-text' }, a.error || ''),
    h('td', {}, a.response_excerpt ? h('pre', { class: 'excerpt' }, a.response_excerpt) : ''))));
  return h('div', { class: 'table-wrap' }, table);
}

/** The `hookroute test --json` object: each rule's verdict with its condition tree, then the actions. */
function renderExplanation(x, why) {
  if (!x) return h('p', { class: 'muted' }, `No explanation: ${why || 'the event\'s source is not in the running rules.'}`);
  return h('div', { class: 'explanation' },
    h('p', { class: 'muted' }, 'Source ', h('code', {}, x.source), ', type ', h('code', {}, x.event_type),
      ', rules version ', h('code', {}, x.rules_version)),
    h('h3', {}, 'Rules'),
    h('ul', { class: 'rules' }, x.rules.map(renderRuleTrace)),
    h('h3', {}, `Planned actions (${x.actions.length})`),
    x.actions.length ? x.actions.map(renderAction) : h('p', { class: 'muted' }, 'No action would run.'));
}

function renderRuleTrace(t) {
  return h('li', { class: t.matched ? 'rule matched' : 'rule' },
    h('span', { class: `verdict ${t.matched ? 'good' : 'bad'}` }, t.matched ? '✓ matched' : '✗ no match'),
    ' ', h('b', {}, t.rule),
    t.reason ? h('span', { class: 'reason' }, ` — ${t.reason}`) : null,
    t.condition ? h('ul', { class: 'cond' }, renderCondition(t.condition)) : null);
}

function renderCondition(c) {
  return h('li', { class: c.passed ? 'pass' : 'fail' },
    h('span', { class: 'mark' }, c.passed ? '✓' : '✗'), ' ', h('code', {}, c.test),
    c.seen ? h('span', { class: 'seen' }, ' saw ',
      c.seen.length ? h('code', {}, c.seen.map((v) => JSON.stringify(v)).join(', ')) : 'nothing',
      c.seen_more ? h('span', { class: 'more' }, ` … and ${grouped(c.seen_more)} more`) : null) : null,
    c.children?.length ? h('ul', { class: 'cond' }, c.children.map(renderCondition)) : null);
}

function renderAction(a) {
  const request = [];
  if (a.url) request.push(`${a.method || ''} ${a.url}`.trim());
  for (const [name, value] of a.headers || []) request.push(`${name}: ${value}`);
  if (a.content_type) request.push(`Content-Type: ${a.content_type}`);
  if (a.body != null) request.push('', prettyJson(a.body));
  return h('div', { class: 'card action' },
    h('header', { class: 'card-head' }, h('b', {}, a.rule), muted(`action ${a.action}`), '→',
      h('b', {}, a.destination), muted(`(${a.kind})`)),
    a.error ? h('div', { class: 'error-text' }, a.error) : null,
    request.length ? h('pre', { class: 'request' }, request.join('\n')) : null);
}

// ---- views -----------------------------------------------------------------------------------

/** Inputs that filter a list: text fields (with suggestions) and selects; `onChange` on edits. */
function filterBar(fields, values, onChange) {
  let timer = 0;
  const form = h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
    fields.map((f) => h('label', {}, h('span', {}, f.label), f.options
      ? h('select', { name: f.name }, f.options.map((o) => h('option', { value: o, selected: o === values[f.name] }, o || 'any')))
      : f.time
        ? h('input', { name: f.name, type: 'datetime-local', value: toInputTime(values[f.name]), title: `in ${zoneName(new Date())}` })
        : h('input', { name: f.name, type: 'search', value: values[f.name], list: f.list, placeholder: 'any', autocomplete: 'off' }))));
  const apply = () => {
    clearTimeout(timer);
    const next = fields.map((f) => (f.time ? fromInputTime(form.elements[f.name].value) : form.elements[f.name].value.trim()));
    if (next.every((v, i) => v === values[fields[i].name])) return;
    fields.forEach((f, i) => { values[f.name] = next[i]; });
    onChange();
  };
  form.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(apply, 350); });
  form.addEventListener('change', apply);
  return form;
}

/** A filtered table paged with `before`/`next`, live on its newest page. Filters and the cursor are
 *  kept in the URL fragment, so coming back from a detail restores them. */
function pagedTable({ route, endpoint, fixed = {}, itemsKey, fields, params, table, rowOf, onItems }) {
  const values = Object.fromEntries(fields.map((f) => [f.name, params.get(f.name) || '']));
  let before = params.get('before') || '';
  let next = '';
  let lastKey = null;
  let known = null;
  let requests = 0;
  const info = muted('');
  const total = h('span', { class: 'total', id: `${route}-total` });
  const newest = h('button', { type: 'button', onclick: () => go('') }, '⇤ Newest');
  const older = h('button', { type: 'button', onclick: () => go(next) }, 'Older →');

  function go(cursor) {
    before = cursor;
    lastKey = known = null;
    history.replaceState(null, '', withQuery(`#/${route}`, { ...values, before }));
    if (route === 'events') state.eventsHash = location.hash;
    quietly(poll());
  }

  async function poll() {
    if (before && lastKey !== null) return;
    const request = ++requests;
    const data = await api(withQuery(endpoint, { ...fixed, ...values, before }));
    const key = JSON.stringify(data);
    if (request !== requests || !table.isConnected || key === lastKey) return;
    lastKey = key;
    const items = data[itemsKey];
    const rows = document.createDocumentFragment();
    for (const item of items) {
      const tr = rowOf(item);
      if (known && !known.has(item.id)) tr.classList.add('fresh');
      rows.append(tr);
    }
    if (!items.length) {
      const columns = table.tHead.rows[0].cells.length;
      rows.append(h('tr', { class: 'empty' }, h('td', { colspan: columns }, 'Nothing here.')));
    }
    known = new Set(items.map((item) => item.id));
    table.tBodies[0].replaceChildren(rows);
    next = data.next == null ? '' : String(data.next);
    newest.disabled = !before;
    older.disabled = !next;
    info.textContent = before ? `${items.length} older rows` : `newest ${items.length}, live`;
    if (data.total != null) total.textContent = `${grouped(data.total)} ${data.total === 1 ? 'event matches' : 'events match'} the filter`;
    onItems?.(items);
  }

  const el = h('div', {}, filterBar(fields, values, () => go('')),
    h('div', { class: 'table-wrap' }, table), h('div', { class: 'pager' }, total, newest, older, info));
  return { el, poll };
}

function eventRow(e) {
  return h('tr', { 'data-event-id': e.id },
    h('td', { class: 'nowrap' }, timeEl(e.received_at)),
    h('td', {}, h('a', { href: `#/events/${encodeURIComponent(e.id)}`, class: 'mono', title: e.id }, shortId(e.id))),
    h('td', {}, e.source),
    h('td', {}, h('code', {}, e.event_type)),
    h('td', {}, chips(e.matched_rules)),
    h('td', {}, deliveryCounts(e.deliveries)));
}

function deliveryCounts(counts) {
  const present = STATUSES.filter((s) => counts[s]);
  if (!present.length) return muted('none');
  return present.map((s) => h('span', { class: `badge s-${s}`, title: `${counts[s]} ${s}` }, `${counts[s]} ${s}`));
}

function rememberNames(events) {
  for (const e of events) {
    seenNames.types.add(e.event_type);
    for (const r of e.matched_rules) seenNames.rules.add(r);
  }
  fillList('types-list', seenNames.types);
  fillList('rules-list', seenNames.rules);
}

function eventsView(params) {
  const table = gridTable(['Received', 'Event', 'Source', 'Type', 'Matched rules', 'Deliveries']);
  table.id = 'events';
  table.classList.add('clickable');
  table.addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-event-id]');
    if (tr && !e.target.closest('a') && !String(getSelection())) location.hash = `#/events/${encodeURIComponent(tr.dataset.eventId)}`;
  });
  const list = pagedTable({
    route: 'events', endpoint: '/api/events', itemsKey: 'events', params, table, rowOf: eventRow, onItems: rememberNames,
    fields: [
      { name: 'source', label: 'Source', list: 'sources-list' },
      { name: 'type', label: 'Type', list: 'types-list' },
      { name: 'rule', label: 'Matched rule', list: 'rules-list' },
      { name: 'status', label: 'Delivery status', options: ['', ...STATUSES] },
      { name: 'since', label: 'Received from', time: true },
      { name: 'until', label: 'Received before', time: true },
    ],
  });
  return { el: h('section', { class: 'view' }, h('h1', {}, 'Events'), list.el), poll: list.poll };
}

function detailView(id) {
  const el = h('section', { id: 'event-detail', class: 'view', 'data-event-id': id }, h('p', { class: 'muted' }, 'Loading…'));
  const deliveries = h('div', { class: 'deliveries' });
  let built = false;
  let lastKey = null;
  const replayed = () => {
    state.fast = true;
    state.fastSince = performance.now();
    tick();
  };

  async function poll() {
    const started = performance.now();
    let data;
    try {
      data = await api(`/api/events/${encodeURIComponent(id)}`);
    } catch (err) {
      if (!built && err.status !== 401 && el.isConnected) fill(el, backLink(), h('p', { class: 'error-text' }, err.message));
      throw err;
    }
    if (!el.isConnected) return;
    if (!built) fill(el, eventPage(data, deliveries));
    built = true;
    const list = data.deliveries;
    const key = JSON.stringify([list, data.threads]);
    if (key !== lastKey) {
      lastKey = key;
      fill(deliveries, h('h2', {}, `Deliveries (${list.length})`), list.length
        ? list.map((d) => renderDelivery(d, replayed))
        : h('p', { class: 'muted' }, 'No deliveries: no matched rule had an action.'),
        renderThreads(data.threads || []));
    }
    if (started > state.fastSince && !list.some(inFlight)) state.fast = false;
  }
  return { el, poll };
}

// The event's threaded deliveries (`thread:`): which conversation each belongs to, whether it
// opened it, replied in it or waits for its first message, and the provider's message reference.
function renderThreads(list) {
  if (!list.length) return [];
  const part = { opener: 'opened the thread', reply: 'reply', waiting: 'waiting for the first message' };
  const reference = (t) => {
    if (t.opener_delivery_id == null) return muted('forgotten (past its retention)');
    if (t.reference == null) return muted('first message not delivered yet');
    return h('code', {}, t.reference);
  };
  return h('section', { class: 'threads panel' },
    h('h2', {}, `Threads (${list.length})`),
    h('table', {},
      h('thead', {}, h('tr', {}, ['Delivery', 'Destination', 'Thread key', 'Part', 'First message', 'Messages', 'Last message']
        .map((title) => h('th', {}, title)))),
      h('tbody', {}, list.map((t) => h('tr', { 'data-thread-key': t.thread_key },
        h('td', {}, `#${t.delivery_id}`),
        h('td', {}, t.destination),
        h('td', {}, h('code', {}, t.thread_key)),
        h('td', {}, part[t.role] || t.role),
        h('td', {}, reference(t)),
        h('td', {}, t.messages == null ? '—' : String(t.messages)),
        h('td', {}, t.updated_at == null ? '—' : timeEl(t.updated_at)))))));
}

const backLink = () => h('a', { class: 'back', href: state.eventsHash }, '← Events');

function eventPage({ event: e, explanation, explanation_error: why }, deliveries) {
  return [
    backLink(),
    h('h1', {}, h('code', {}, e.event_type), muted(' from '), e.source),
    h('dl', { class: 'meta two panel' },
      term('Event id', h('code', {}, e.id)),
      term('Received', timeEl(e.received_at)),
      term('Source', e.source),
      term('Type', h('code', {}, e.event_type)),
      term('Content type', e.content_type || '—'),
      term('Rules version', h('code', {}, e.rules_version)),
      term('Matched rules', chips(e.matched_rules))),
    deliveries,
    h('div', { class: 'columns' },
      h('section', { class: 'panel' }, h('h2', {}, 'Match explanation'),
        h('p', { class: 'muted' }, 'The current rules run against this event (secrets masked).'),
        renderExplanation(explanation, why)),
      h('section', { class: 'panel' }, h('h2', {}, 'Body'), h('pre', { class: 'body' }, prettyJson(e.body)))),
  ];
}

function deadRow(d) {
  return h('tr', { 'data-delivery-id': d.id },
    h('td', {}, h('code', {}, `#${d.id}`)),
    h('td', {}, statusBadge(d.status)),
    h('td', {}, d.destination),
    h('td', {}, d.rule),
    h('td', {}, h('a', { href: `#/events/${encodeURIComponent(d.event_id)}`, class: 'mono', title: d.event_id }, shortId(d.event_id))),
    h('td', { class: 'num' }, d.attempts),
    h('td', { class: 'error-text clip', title: d.last_error || '' }, d.last_error || '—'),
    h('td', { class: 'nowrap' }, timeEl(d.updated_at)),
    h('td', {}, replayable(d) ? replayButton(d.id, markQueued, d.status) : null));
}

/** After a replay from the dead list: the row shows `pending` until the next refresh drops it. */
function markQueued(btn) {
  const status = btn.closest('tr').querySelector('.status');
  status.textContent = 'pending';
  status.className = 'status badge s-pending';
  btn.remove();
}

async function replayAllDead() {
  const n = state.overview?.counts.dead;
  if (!confirm(`Queue ${n == null ? 'every' : n} dead ${n === 1 ? 'delivery' : 'deliveries'} again?`)) return;
  const r = await api('/api/replay', { method: 'POST', body: { status: 'dead' } });
  notify(`${plural(r.replayed, 'delivery', 'deliveries')} queued again.`);
  tick();
}

function deadView(params) {
  const table = gridTable(['Delivery', 'Status', 'Destination', 'Rule', 'Event', 'Attempts', 'Last error', 'Updated', '']);
  const list = pagedTable({
    route: 'dead', endpoint: '/api/deliveries', fixed: { status: 'dead' }, itemsKey: 'deliveries', params, table, rowOf: deadRow,
    fields: [
      { name: 'destination', label: 'Destination', list: 'destinations-list' },
      { name: 'rule', label: 'Rule', list: 'rules-list' },
    ],
  });
  const replayAll = h('button', { type: 'button', id: 'replay-all-dead', class: 'danger', onclick: () => quietly(replayAllDead()) },
    'Replay all dead');
  const el = h('section', { id: 'dead-letters', class: 'view' },
    h('div', { class: 'view-head' }, h('h1', {}, 'Dead letters'), replayAll),
    h('p', { class: 'muted' }, 'Deliveries that ran out of attempts or were refused. Replay queues them as a new attempt series.'),
    list.el);
  return { el, poll: list.poll };
}

function destinationRow(d) {
  const rate = d.success_rate;
  const grade = rate == null ? 'none' : rate >= 0.99 ? 'good' : rate >= 0.9 ? 'warn' : 'bad';
  return h('tr', { 'data-destination': d.name },
    h('td', {}, h('b', {}, d.name)),
    h('td', {}, d.kind),
    h('td', { class: 'num' }, `${d.delivered} / ${d.attempts}`),
    h('td', { class: 'num' }, h('span', { class: `rate ${grade}` }, rate == null ? 'no attempts' : `${(rate * 100).toFixed(1)} %`)),
    h('td', { class: 'num' }, fmtMs(d.avg_latency_ms)),
    h('td', { class: 'num' }, fmtMs(d.max_latency_ms)),
    h('td', { class: 'num' }, d.pending),
    h('td', { class: 'num' }, d.held ? h('span', { class: 'badge s-held', title: 'not in the running rules: held until it is back' }, d.held) : 0),
    h('td', { class: 'num' }, d.dead
      ? h('a', { class: 'badge s-dead', href: `#/dead?destination=${encodeURIComponent(d.name)}` }, d.dead) : 0),
    h('td', {}, d.last_error
      ? [h('div', { class: 'error-text clip', title: d.last_error }, d.last_error), timeEl(d.last_error_at)]
      : muted('none')));
}

function destinationsView() {
  const table = gridTable(['Destination', 'Kind', 'Delivered / attempts', 'Success', 'Avg latency', 'Max latency', 'Pending', 'Held', 'Dead', 'Last error']);
  table.id = 'destinations';
  let lastKey = null;
  async function poll() {
    const data = await api('/api/destinations');
    const key = JSON.stringify(data);
    if (!table.isConnected || key === lastKey) return;
    lastKey = key;
    table.tBodies[0].replaceChildren(...data.destinations.map(destinationRow));
  }
  const el = h('section', { class: 'view' }, h('h1', {}, 'Destinations'),
    h('p', { class: 'muted' }, 'Health from the attempts of the last hour; pending, held and dead are current counts. Held: the destination is not in the running rules; its deliveries wait until it is back (or a replay).'),
    h('div', { class: 'table-wrap' }, table));
  return { el, poll };
}

/** A reload attempt: applied → the version it runs now; refused → the version kept and the file refused. */
function reloadSummary(r, file) {
  const refused = r.outcome === 'rejected' || r.outcome === 'unreadable';
  return h('div', { class: 'reload' },
    h('span', { class: `badge o-${r.outcome}` }, r.outcome), ' ', `${r.trigger}, `, timeEl(r.at),
    r.duration_ms != null ? muted(` (${fmtMs(r.duration_ms)})`) : null,
    refused
      ? ['; kept version ', h('code', {}, r.version), `; ${r.outcome} file `, h('code', {}, file || 'the rules file')]
      : r.version ? [' → version ', h('code', {}, r.version)] : null,
    r.diagnostics?.length ? h('pre', { class: 'diagnostics' }, r.diagnostics.join('\n')) : null);
}

function rulesSummary(r) {
  return h('dl', { class: 'meta' },
    term('Version', h('code', { id: 'rules-version' }, r.version)),
    term('File', h('code', {}, r.path)),
    term('Rules', r.rule_count),
    term('Sources', chips(r.sources)),
    term('Destinations', chips(r.destinations)),
    term('Loaded', timeEl(r.loaded_at)),
    term('Last reload', r.last_reload ? reloadSummary(r.last_reload, r.path) : muted('none since start')));
}

function rulesView() {
  const summary = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const result = h('div', { id: 'reload-result' });
  let lastKey = null;
  async function poll() {
    const rules = await api('/api/rules');
    const key = JSON.stringify(rules);
    if (!summary.isConnected || key === lastKey) return;
    lastKey = key;
    fill(summary, rulesSummary(rules));
  }
  async function reloadNow(btn) {
    btn.disabled = true;
    fill(result, muted('Reloading…'));
    try {
      const r = await api('/api/reload', { method: 'POST' });
      fill(result, h('h3', {}, 'Reload result'), reloadSummary(r, state.overview?.rules.path));
      await Promise.all([poll(), refreshHeader()]);
    } catch (err) {
      fill(result, h('p', { class: 'error-text' }, err.message));
      throw err;
    } finally {
      btn.disabled = false;
    }
  }
  const reload = h('button', { type: 'button', id: 'reload-now', class: 'primary', onclick: (e) => quietly(reloadNow(e.currentTarget)) },
    'Reload now');
  const el = h('div', { class: 'view' },
    h('section', { id: 'rules-status', class: 'panel' }, h('div', { class: 'view-head' }, h('h1', {}, 'Rules'), reload), summary, result),
    dryRunPanel());
  return { el, poll };
}

let dryRun = null;
/** The dry-run form, built once so that its fields survive leaving the page and coming back. */
function dryRunPanel() {
  if (dryRun) return dryRun;
  const result = h('div', { id: 'dry-run-result' });
  const field = (label, control, wide) => h('label', { class: wide ? 'wide' : null }, h('span', {}, label), control);
  const form = h('form', { id: 'dry-run', class: 'dry-run' },
    field('Event (the JSON body)', h('textarea', {
      id: 'dry-run-event', name: 'event', rows: 9, spellcheck: 'false', required: true,
      placeholder: '{"type": "order.updated", "payload": {"id": 9001, "status": "to schedule"}}',
    }), true),
    field('Source (optional when there is one)', h('input', { name: 'source', list: 'sources-list', autocomplete: 'off' })),
    field('Headers (one "Name: value" per line)', h('textarea', { name: 'headers', rows: 3, spellcheck: 'false', placeholder: 'X-GitHub-Event: issues' })),
    field('Draft rules YAML (optional: tested instead of the running rules)', h('textarea', { name: 'rules', rows: 6, spellcheck: 'false' }), true),
    h('div', { class: 'wide' }, h('button', { type: 'submit', class: 'primary' }, 'Run dry-run'), muted(' Nothing is sent.')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    quietly(runDryRun(form.elements, result));
  });
  dryRun = h('section', { class: 'panel' }, h('h2', {}, 'Dry run'), form, result);
  return dryRun;
}

async function runDryRun(f, result) {
  const body = { event: f.event.value }; // the raw text: the server parses it exactly as a sender's body
  if (f.source.value.trim()) body.source = f.source.value.trim();
  try {
    const headers = parseHeaderLines(f.headers.value);
    if (Object.keys(headers).length) body.headers = headers;
    if (f.rules.value.trim()) body.rules = f.rules.value;
    fill(result, muted('Running…'));
    fill(result, renderExplanation(await api('/api/dry-run', { method: 'POST', body })));
  } catch (err) {
    const diagnostics = err.body?.diagnostics;
    fill(result, h('p', { class: 'error-text' }, err.message),
      diagnostics?.length ? h('pre', { class: 'diagnostics' }, diagnostics.join('\n')) : null);
    throw err;
  }
}

function parseHeaderLines(text) {
  const headers = {};
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const colon = line.indexOf(':');
    if (colon < 1) throw new Error(`Header line "${line}" is not "Name: value".`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

// ---- router and ticker -----------------------------------------------------------------------

function route() {
  const [path, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const params = new URLSearchParams(query);
  const [name, id] = path.split('/');
  state.fast = false;
  if (name === 'events' && id) state.view = detailView(decodeURIComponent(id));
  else if (name === 'dead') state.view = deadView(params);
  else if (name === 'destinations') state.view = destinationsView();
  else if (name === 'rules') state.view = rulesView();
  else if (name === 'events') {
    state.view = eventsView(params);
    state.eventsHash = location.hash;
  } else state.view = overviewView(params);
  const known = ['events', 'dead', 'destinations', 'rules'];
  const section = id ? 'event' : known.includes(name) ? name : 'overview';
  document.title = `hookroute · ${section}`;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('href') === `#/${id ? 'events' : section}`);
  $('#view').replaceChildren(state.view.el);
  tick();
}

let tickTimer = 0;
let tickRun = 0;
/** Refreshes header and view now, then again in 2 s (1 s while a replay is in flight). Stops while
 *  the tab is hidden (visibilitychange restarts it) or the token form waits for input. */
async function tick() {
  const run = ++tickRun;
  clearTimeout(tickTimer);
  if (document.visibilityState !== 'visible' || !$('#token-form').hidden) return;
  await Promise.all([quietly(refreshHeader()), quietly(state.view.poll())]);
  refreshRelativeTimes();
  if (run === tickRun) tickTimer = setTimeout(tick, state.fast ? 1000 : 2000);
}

$('#error-banner .dismiss').addEventListener('click', () => { $('#error-banner').hidden = true; });
function showZone() {
  const b = $('#zone-toggle');
  b.textContent = state.zone === 'utc' ? 'Times: UTC' : `Times: local (${zoneName(new Date())})`;
  b.title = state.zone === 'utc' ? 'Show times in this browser\'s zone' : 'Show times in UTC';
}
$('#zone-toggle').addEventListener('click', () => {
  state.zone = state.zone === 'utc' ? 'local' : 'utc';
  localStorage.setItem(ZONE_KEY, state.zone);
  showZone();
  route();
});
showZone();
$('#token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $('#token-input').value.trim();
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
  $('#token-form').hidden = true;
  $('#error-banner').hidden = true;
  route();
});
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') tick(); });
window.addEventListener('hashchange', route);
route();
