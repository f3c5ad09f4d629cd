/* twinpipe fleet page (query/ui/README.md): plain JavaScript, no framework.
 * Reads tp-query's API with the key kept in sessionStorage: the fleet summary,
 * every twin in keyset pages (its last location, latest values, attributes),
 * one twin and its series for the device panel; the change stream
 * (GET /v1/stream, Server-Sent Events) read with fetch() so the key goes in
 * the Authorization header (EventSource cannot send one).
 * Marks for tests and bench/page: performance marks "tp-first-render" (the map
 * first drawn with devices, or with none once the fleet is known empty) and
 * "tp-all-loaded" (every page read, then drawn), also as body data attributes; window.tp. */
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const KEY = 'twinpipe.apiKey';
  const PAGE_FIRST = 250; // a small first page per part: the map shows early
  const PAGE = 1000; // the list's maximum
  const PARTS_MAX = 6; // pages in flight at once (a browser's connections per host)
  const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1',
    '#ff9da7', '#9c755f', '#bab0ac'];
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

  const state = {
    gen: 0, // connection generation: work of an older one is dropped
    devices: new Map(), // id -> {id, v, lat, lon, x, y, a, m, seen}
    metrics: new Set(),
    fleetCount: null,
    onlineWindowS: 300,
    loaded: false,
    allMarked: false,
    firstRender: false,
    filter: null, // predicate over devices (the search), null = all
    colour: 'attr:region',
    selected: null,
    lastEventId: null,
    streamCtrl: null,
    live: 'offline',
    view: null, // {x0, y0, k}: world (Mercator, 0..1) top-left and pixels per unit
    touched: false, // the user moved the map: no more automatic fits
    world: null,
  };

  /* ---------- API ---------- */

  class ApiError extends Error {
    constructor(kind, status, code, message) {
      super(message);
      this.kind = kind; // unauthorized | notfound | unreachable | error
      this.status = status;
      this.code = code;
    }
  }

  function authHeaders(h) {
    const key = sessionStorage.getItem(KEY);
    if (key) h.Authorization = 'Bearer ' + key;
    return h;
  }

  async function api(path, extra) {
    const headers = authHeaders(Object.assign({ Accept: 'application/json' }, extra || {}));
    let r;
    try {
      r = await fetch(path, { headers, cache: 'no-store' });
    } catch (e) {
      throw new ApiError('unreachable', 0, 'unreachable', String(e.message || e));
    }
    if (r.status === 304) return { notModified: true, etag: r.headers.get('ETag') };
    let body = null;
    try {
      body = await r.json();
    } catch (e) {
      body = null;
    }
    if (r.ok && body) return { body, etag: r.headers.get('ETag') };
    const err = (body && body.error) || {};
    const kind = r.status === 401 ? 'unauthorized' : r.status === 404 ? 'notfound' : 'error';
    throw new ApiError(kind, r.status, err.code || '', err.message || r.statusText);
  }

  /* ---------- messages ---------- */

  function say(kind, text) {
    const m = $('message');
    m.textContent = text;
    m.dataset.kind = kind;
    m.className = kind === 'info' ? 'info' : '';
    m.hidden = false;
  }

  function unsay(kind) {
    const m = $('message');
    if (!kind || m.dataset.kind === kind) {
      m.hidden = true;
      m.dataset.kind = '';
    }
  }

  function explain(e) {
    switch (e.kind) {
      case 'unauthorized':
        return '401 unauthorized: the API key was refused (' + e.message + '). Enter a valid key.';
      case 'notfound':
        return '404 ' + e.code + ': ' + e.message;
      case 'unreachable':
        return 'The server is unreachable (' + location.origin + '): is tp-query running? Retrying…';
      default:
        return e.status + ' ' + e.code + ': ' + e.message;
    }
  }

  /* Shows an API error; a 401 stops everything and asks for another key. */
  function fail(e) {
    if (!(e instanceof ApiError)) {
      console.error(e);
      say('error', String(e));
      return;
    }
    say(e.kind, explain(e));
    if (e.kind === 'unauthorized') {
      disconnect();
      askKey(explain(e));
    }
  }

  /* ---------- the key ---------- */

  function askKey(why) {
    $('keymsg').textContent = why || '';
    $('key').value = '';
    const d = $('keydlg');
    if (!d.open) d.showModal();
    $('key').focus();
  }

  $('keyform').addEventListener('submit', () => {
    sessionStorage.setItem(KEY, $('key').value.trim());
    connect();
  });
  $('signout').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    disconnect();
    askKey('');
  });

  /* ---------- the fleet ---------- */

  function project(d) {
    if (d.lat === null || d.lon === null || !isFinite(d.lat) || !isFinite(d.lon)) {
      d.x = d.y = null;
      return;
    }
    const lat = Math.max(-85, Math.min(85, d.lat)) * Math.PI / 180;
    d.x = (d.lon + 180) / 360;
    d.y = (1 - Math.log(Math.tan(Math.PI / 4 + lat / 2)) / Math.PI) / 2;
  }

  /* A twin document (list or lookup) into the compact entry the map uses. */
  function upsertTwin(t) {
    let d = state.devices.get(t.device_id);
    if (d && d.v > t.events) return d; // the stream already brought a newer version
    if (!d) {
      d = { id: t.device_id };
      state.devices.set(d.id, d);
    }
    d.v = t.events;
    d.lat = t.location ? t.location.lat : null;
    d.lon = t.location ? t.location.lon : null;
    project(d);
    d.a = t.attributes || {};
    d.m = {};
    for (const k in t.metrics) {
      d.m[k] = t.metrics[k].value;
      if (!state.metrics.has(k)) {
        state.metrics.add(k);
        colourOptionsLater();
      }
    }
    d.seen = Date.parse(t.last_seen);
    return d;
  }

  async function pool(items, n, fn) {
    let next = 0;
    const run = async () => {
      while (next < items.length) await fn(items[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(n, items.length) }, run));
  }

  /* Every twin, in keyset pages: one pager per region when every device has one (they
   * run in parallel), else one over the fleet. */
  async function loadFleet(gen, regions) {
    const keys = regions && !regions.truncated && regions.groups.length > 1 &&
      regions.groups.every((g) => g.key !== null) ? regions.groups.map((g) => g.key) : [null];
    await pool(keys, PARTS_MAX, async (region) => {
      let cursor = null;
      let limit = PAGE_FIRST;
      do {
        let q = '/v1/devices?limit=' + limit;
        if (region !== null) q += '&region=' + encodeURIComponent(region);
        if (cursor) q += '&cursor=' + encodeURIComponent(cursor);
        const { body } = await api(q);
        if (gen !== state.gen) return;
        for (const t of body.devices) upsertTwin(t);
        cursor = body.next_cursor;
        limit = PAGE;
        $('count-loaded').textContent = state.devices.size;
        drawSoon();
      } while (cursor);
    });
    if (gen !== state.gen) return;
    state.loaded = true;
    state.allMarked = false; // the next draw has every twin: it marks tp-all-loaded
    $('count-loaded').textContent = state.devices.size;
    if (!state.touched) state.view = null; // fit the whole fleet once
    drawSoon();
  }

  async function connect() {
    disconnect();
    const gen = ++state.gen;
    state.devices = new Map();
    state.loaded = false;
    state.lastEventId = null;
    $('count-loaded').textContent = '0';
    unsay();
    let regions;
    try {
      regions = await loadSummary(gen);
    } catch (e) {
      if (gen !== state.gen) return;
      fail(e);
      if (e.kind === 'unreachable' || e.status >= 500) setTimeout(() => gen === state.gen && connect(), 3000);
      return;
    }
    streamLoop(gen); // before the pages: changes meanwhile are not missed
    summaryTimer = setInterval(() => loadSummary(gen).catch(fail), 5000);
    try {
      await loadFleet(gen, regions);
    } catch (e) {
      if (gen === state.gen) fail(e);
    }
  }

  let summaryTimer = null;
  let summaryLater = null;
  function summarySoon() {
    const gen = state.gen;
    if (!summaryLater) {
      summaryLater = setTimeout(() => {
        summaryLater = null;
        loadSummary(gen).catch(fail);
      }, 500);
    }
  }
  function disconnect() {
    state.gen++;
    if (state.streamCtrl) state.streamCtrl.abort();
    clearInterval(summaryTimer);
    setLive('offline', '');
  }

  /* ---------- fleet summary ---------- */

  async function loadSummary(gen) {
    const metric = state.colour.startsWith('metric:') ? state.colour.slice(7) : null;
    const m = metric ? '&metric=' + encodeURIComponent(metric) : '';
    const [region, model] = await Promise.all([
      api('/v1/fleet/summary?group_by=region' + m), api('/v1/fleet/summary?group_by=model' + m)]);
    if (gen !== state.gen) return region.body;
    unsay('unreachable');
    state.onlineWindowS = region.body.online_window_s;
    state.fleetCount = region.body.groups.reduce((s, g) => s + g.devices, 0);
    $('count-fleet').textContent = state.fleetCount;
    summaryTable($('summary-region'), 'region', region.body, metric);
    summaryTable($('summary-model'), 'model', model.body, metric);
    if (state.fleetCount === 0 && !state.firstRender) drawSoon();
    return region.body;
  }

  function summaryTable(table, attr, s, metric) {
    table.textContent = '';
    const head = table.insertRow();
    const cols = [attr, 'devices', 'online'].concat(metric ? [metric + ' min', 'avg', 'max'] : []);
    for (const c of cols) head.appendChild(document.createElement('th')).textContent = c;
    for (const g of s.groups) {
      const tr = table.insertRow();
      tr.dataset.key = g.key === null ? '' : g.key;
      const vals = [g.key === null ? '(none)' : g.key, g.devices, g.online];
      if (metric) vals.push(fmt(g.metric.min), fmt(round(g.metric.avg)), fmt(g.metric.max));
      for (const v of vals) tr.insertCell().textContent = v;
      if (g.key !== null) {
        tr.style.cursor = 'pointer';
        tr.addEventListener('click', () => {
          $('q').value = attr + '=' + g.key;
          search();
        });
      }
    }
  }

  /* ---------- the change stream (SSE over fetch) ---------- */

  function setLive(kind, why) {
    state.live = kind;
    const b = $('live');
    b.textContent = kind === 'live' ? 'live' : kind === 'retry' ? 'reconnecting' : 'offline';
    b.className = 'badge ' + kind;
    b.title = why || 'the change stream (GET /v1/stream)';
  }

  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

  async function streamLoop(gen) {
    let delay = 1000;
    while (gen === state.gen) {
      const ctrl = new AbortController();
      state.streamCtrl = ctrl;
      let idle = null;
      const poke = () => {
        clearTimeout(idle);
        idle = setTimeout(() => ctrl.abort(), 45000); // not even a heartbeat: reconnect
      };
      try {
        const headers = authHeaders({ Accept: 'text/event-stream' });
        if (state.lastEventId !== null) headers['Last-Event-ID'] = state.lastEventId;
        poke();
        const r = await fetch('/v1/stream', { headers, cache: 'no-store', signal: ctrl.signal });
        if (r.status === 401) {
          clearTimeout(idle);
          if (gen === state.gen) fail(new ApiError('unauthorized', 401, 'unauthorized', 'the stream refused the key'));
          return;
        }
        if (!r.ok) {
          setLive('retry', 'GET /v1/stream answered ' + r.status);
        } else {
          setLive('live', '');
          unsay('info'); // an earlier stream's last word (overflow)
          delay = 1000;
          await readEvents(r.body.getReader(), gen, poke, (ms) => { delay = ms; });
        }
      } catch (e) {
        /* network error, abort (idle or disconnect): reconnect below unless disconnected */
      }
      clearTimeout(idle);
      if (gen !== state.gen) return;
      setLive('retry', 'reconnecting in ' + delay + ' ms');
      await sleep(delay);
      delay = Math.min(delay * 2, 30000);
    }
  }

  /* The WHATWG event-stream format: lines (CRLF, LF or CR), fields, blank line dispatches. */
  async function readEvents(reader, gen, poke, setRetry) {
    const dec = new TextDecoder();
    let buf = '';
    let data = [];
    let type = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done || gen !== state.gen) return;
      poke();
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.search(/[\r\n]/)) >= 0) {
        if (buf[i] === '\r' && i === buf.length - 1) break; // maybe CRLF split across chunks
        const line = buf.slice(0, i);
        buf = buf.slice(i + (buf[i] === '\r' && buf[i + 1] === '\n' ? 2 : 1));
        if (line === '') {
          if (data.length) onEvent(type || 'message', data.join('\n'));
          data = [];
          type = '';
          continue;
        }
        if (line[0] === ':') continue; // a comment: heartbeat
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        let v = c < 0 ? '' : line.slice(c + 1);
        if (v[0] === ' ') v = v.slice(1);
        if (field === 'data') data.push(v);
        else if (field === 'event') type = v;
        else if (field === 'id' && v.indexOf('\0') < 0) state.lastEventId = v;
        else if (field === 'retry' && /^\d+$/.test(v)) setRetry(+v);
      }
      if (buf.length > (1 << 20)) throw new Error('event stream line over 1 MiB');
    }
  }

  function onEvent(type, data) {
    if (type === 'change') {
      applyChange(JSON.parse(data));
    } else if (type === 'reset') {
      /* the server could not resume: read the fleet again (the stream goes on) */
      const gen = state.gen;
      loadFleet(gen, null).catch((e) => gen === state.gen && fail(e));
    } else if (type !== 'heartbeat') {
      let why = data;
      try {
        const j = JSON.parse(data);
        why = j.reason || j.message || data;
      } catch (e) { /* text */ }
      say('info', 'change stream: ' + type + ': ' + why);
    }
  }

  const toFetch = new Set();
  let fetchTimer = null;

  function applyChange(c) {
    let d = state.devices.get(c.device_id);
    if (d && d.v >= c.version) return;
    let need = false;
    if (!d) {
      d = { id: c.device_id, lat: null, lon: null, x: null, y: null, a: {}, m: {}, seen: 0 };
      state.devices.set(d.id, d);
      $('count-loaded').textContent = state.devices.size;
      need = true;
    }
    if (need) summarySoon(); // a device new to the page: the fleet's counts moved
    d.v = c.version;
    const ch = c.changed;
    if (!ch || Array.isArray(ch) || typeof ch !== 'object') {
      need = true; // names only: read the twin
    } else {
      if (ch.location !== undefined) {
        if (ch.location === null) {
          d.lat = d.lon = null;
        } else if (typeof ch.location.lat === 'number' && typeof ch.location.lon === 'number') {
          d.lat = ch.location.lat;
          d.lon = ch.location.lon;
        } else {
          need = true;
        }
        project(d);
      }
      for (const k in ch.metrics || {}) {
        const x = ch.metrics[k];
        const v = x !== null && typeof x === 'object' ? x.value : x;
        if (v === undefined) need = true;
        else d.m[k] = v;
        if (!state.metrics.has(k)) {
          state.metrics.add(k);
          colourOptionsLater();
        }
      }
      Object.assign(d.a, ch.attributes || {});
      if (ch.last_seen) d.seen = Date.parse(ch.last_seen);
    }
    if (need) {
      toFetch.add(d.id);
      if (!fetchTimer) fetchTimer = setTimeout(fetchQueued, 100);
    }
    if (d.id === state.selected) refreshPanelSoon();
    drawSoon();
  }

  async function fetchQueued() {
    fetchTimer = null;
    const ids = Array.from(toFetch).slice(0, 64);
    for (const id of ids) toFetch.delete(id);
    const gen = state.gen;
    await Promise.all(ids.map((id) => api('/v1/devices/' + encodeURIComponent(id))
      .then((r) => gen === state.gen && upsertTwin(r.body))
      .catch(() => {})));
    drawSoon();
    if (toFetch.size && !fetchTimer) fetchTimer = setTimeout(fetchQueued, 100);
  }

  /* ---------- the map ---------- */

  const base = $('base');
  const map = $('map');

  function sizeCanvas(c) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr));
    const h = Math.max(1, Math.round(c.clientHeight * dpr));
    if (c.width !== w || c.height !== h) {
      c.width = w;
      c.height = h;
      return true;
    }
    return false;
  }

  function fitView() {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const d of state.devices.values()) {
      if (d.x === null || d.x === undefined) continue;
      if (d.x < x0) x0 = d.x;
      if (d.x > x1) x1 = d.x;
      if (d.y < y0) y0 = d.y;
      if (d.y > y1) y1 = d.y;
    }
    const W = map.width, H = map.height;
    if (x0 === Infinity) {
      x0 = 0; y0 = 0.15; x1 = 1; y1 = 0.85; // the world
    }
    const dx = Math.max(x1 - x0, 2e-4), dy = Math.max(y1 - y0, 2e-4);
    const k = Math.min(W / dx, H / dy) * 0.7; // a margin of land around the fleet
    state.view = { x0: (x0 + x1) / 2 - W / 2 / k, y0: (y0 + y1) / 2 - H / 2 / k, k };
  }

  function drawBase() {
    const ctx = base.getContext('2d');
    ctx.fillStyle = '#dfe9f3';
    ctx.fillRect(0, 0, base.width, base.height);
    if (!state.world) return;
    const v = state.view;
    ctx.beginPath();
    for (const ring of state.world) {
      for (let i = 0; i < ring.length; i += 2) {
        const px = (ring[i] - v.x0) * v.k, py = (ring[i + 1] - v.y0) * v.k;
        if (i === 0) ctx.moveTo(px, py);
        else ctx.lineTo(px, py);
      }
      ctx.closePath();
    }
    ctx.fillStyle = '#f7f5ef';
    ctx.fill('evenodd');
    ctx.strokeStyle = '#b5bec7';
    ctx.lineWidth = 1;
    ctx.stroke();
  }

  function loadWorld() {
    fetch('vendor/countries-110m.json').then((r) => r.json()).then((topo) => {
      const rings = [];
      const geo = topojson.feature(topo, topo.objects.countries);
      for (const f of geo.features) {
        const g = f.geometry;
        if (!g) continue;
        const polys = g.type === 'Polygon' ? [g.coordinates] : g.coordinates;
        for (const p of polys) {
          for (const ring of p) {
            const out = new Float64Array(ring.length * 2);
            ring.forEach(([lon, lat], i) => {
              const d = { lat, lon };
              project(d);
              out[2 * i] = d.x;
              out[2 * i + 1] = d.y;
            });
            rings.push(out);
          }
        }
      }
      state.world = rings;
      baseDirty = true;
      drawSoon();
    }).catch((e) => console.error('map outlines', e));
  }

  function colourOf() {
    const c = state.colour;
    if (c.startsWith('attr:')) {
      const attr = c.slice(5);
      const keys = new Map();
      for (const d of state.devices.values()) {
        const k = d.a[attr] === undefined ? '(none)' : d.a[attr];
        keys.set(k, (keys.get(k) || 0) + 1);
      }
      const sorted = Array.from(keys.keys()).sort();
      const col = new Map(sorted.map((k, i) => [k, i < PALETTE.length ? PALETTE[i] : '#7f7f7f']));
      const fn = (d) => col.get(d.a[attr] === undefined ? '(none)' : d.a[attr]);
      return { fn, legend: sorted.slice(0, 12).map((k) => ({ label: k, colour: col.get(k) })) };
    }
    if (c === 'status') {
      const now = Date.now(), w = state.onlineWindowS * 1000;
      return {
        fn: (d) => (now - d.seen <= w ? '#2e8b57' : '#a0a7ae'),
        legend: [{ label: 'online', colour: '#2e8b57' }, { label: 'offline', colour: '#a0a7ae' }],
      };
    }
    const metric = c.slice(7);
    let lo = Infinity, hi = -Infinity;
    for (const d of state.devices.values()) {
      const v = d.m[metric];
      if (typeof v === 'number' && isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    const steps = 32;
    const ramp = [];
    for (let i = 0; i <= steps; i++) ramp.push(viridis(i / steps));
    const fn = (d) => {
      const v = d.m[metric];
      if (typeof v !== 'number' || !isFinite(v)) return '#c4c9ce';
      const t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
      return ramp[Math.round(t * steps)];
    };
    return { fn, ramp: { metric, lo, hi } };
  }

  function viridis(t) {
    const s = t * (VIRIDIS.length - 1);
    const i = Math.min(Math.floor(s), VIRIDIS.length - 2);
    const f = s - i;
    const c = VIRIDIS[i].map((a, j) => Math.round(a + (VIRIDIS[i + 1][j] - a) * f));
    return 'rgb(' + c.join(',') + ')';
  }

  let baseDirty = true;
  let drawPending = false;
  let lastDraw = 0;

  function drawSoon() {
    if (drawPending) return;
    drawPending = true;
    const wait = Math.max(0, 200 - (performance.now() - lastDraw)); // at most 5 draws a second
    setTimeout(() => requestAnimationFrame(draw), state.firstRender ? wait : 0);
  }

  function draw() {
    drawPending = false;
    lastDraw = performance.now();
    if (sizeCanvas(base) | sizeCanvas(map)) baseDirty = true;
    if (!state.view || (!state.touched && !state.loaded)) {
      fitView();
      baseDirty = true;
    }
    if (baseDirty) {
      drawBase();
      baseDirty = false;
    }
    const ctx = map.getContext('2d');
    ctx.clearRect(0, 0, map.width, map.height);
    const v = state.view;
    const { fn, legend, ramp } = colourOf();
    const byColour = new Map();
    let points = 0, visible = 0;
    const W = map.width, H = map.height;
    const r = (window.devicePixelRatio || 1) * 2;
    for (const d of state.devices.values()) {
      if (d.x === null || d.x === undefined) continue;
      if (state.filter && !state.filter(d)) continue;
      points++;
      const px = (d.x - v.x0) * v.k, py = (d.y - v.y0) * v.k;
      if (px < -r || py < -r || px > W + r || py > H + r) continue;
      visible++;
      const col = fn(d);
      let list = byColour.get(col);
      if (!list) byColour.set(col, (list = []));
      list.push(px, py);
    }
    for (const [col, list] of byColour) {
      ctx.fillStyle = col;
      ctx.beginPath();
      for (let i = 0; i < list.length; i += 2) ctx.rect(list[i] - r, list[i + 1] - r, 2 * r, 2 * r);
      ctx.fill();
    }
    const sel = state.selected && state.devices.get(state.selected);
    if (sel && sel.x !== null && sel.x !== undefined) {
      ctx.strokeStyle = '#000';
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc((sel.x - v.x0) * v.k, (sel.y - v.y0) * v.k, 3 * r, 0, 2 * Math.PI);
      ctx.stroke();
    }
    map.dataset.points = points;
    map.dataset.visible = visible;
    $('count-map').textContent = points;
    drawLegend(legend, ramp);
    if (!state.firstRender && (points > 0 || state.fleetCount === 0)) {
      state.firstRender = true;
      performance.mark('tp-first-render');
      document.body.dataset.firstRender = Math.round(performance.now());
    }
    if (state.loaded && !state.allMarked) {
      state.allMarked = true;
      performance.mark('tp-all-loaded');
      document.body.dataset.allLoaded = Math.round(performance.now());
    }
  }

  function drawLegend(legend, ramp) {
    const el = $('legend');
    el.textContent = '';
    if (ramp) {
      el.append(ramp.metric + ' ' + (ramp.lo === Infinity ? '' : fmt(round(ramp.lo))));
      el.appendChild(document.createElement('span')).className = 'ramp';
      el.append(ramp.hi === -Infinity ? 'no values' : fmt(round(ramp.hi)));
      return;
    }
    for (const l of legend) {
      const s = el.appendChild(document.createElement('div'));
      const sw = s.appendChild(document.createElement('span'));
      sw.className = 'sw';
      sw.style.background = l.colour;
      s.append(l.label);
    }
  }

  /* Screen position (CSS pixels, relative to the map) of a device: for tests. */
  function screenPos(id) {
    const d = state.devices.get(id);
    const v = state.view;
    if (!d || d.x === null || !v) return null;
    const dpr = window.devicePixelRatio || 1;
    return { x: (d.x - v.x0) * v.k / dpr, y: (d.y - v.y0) * v.k / dpr };
  }

  function nearest(cssX, cssY) {
    const dpr = window.devicePixelRatio || 1;
    const v = state.view;
    let best = null, bd = (8 * dpr) ** 2;
    for (const d of state.devices.values()) {
      if (d.x === null || d.x === undefined || (state.filter && !state.filter(d))) continue;
      const dx = (d.x - v.x0) * v.k - cssX * dpr, dy = (d.y - v.y0) * v.k - cssY * dpr;
      const dd = dx * dx + dy * dy;
      if (dd <= bd) {
        bd = dd;
        best = d;
      }
    }
    return best;
  }

  let drag = null;
  map.addEventListener('mousedown', (e) => {
    drag = { x: e.offsetX, y: e.offsetY, moved: false };
  });
  map.addEventListener('mousemove', (e) => {
    if (drag && (drag.moved || Math.abs(e.offsetX - drag.x) + Math.abs(e.offsetY - drag.y) > 4)) {
      const dpr = window.devicePixelRatio || 1;
      state.view.x0 -= (e.offsetX - drag.x) * dpr / state.view.k;
      state.view.y0 -= (e.offsetY - drag.y) * dpr / state.view.k;
      drag.x = e.offsetX;
      drag.y = e.offsetY;
      drag.moved = true;
      state.touched = true;
      baseDirty = true;
      drawSoon();
    } else if (!drag) {
      const d = nearest(e.offsetX, e.offsetY);
      map.title = d ? d.id : '';
    }
  });
  window.addEventListener('mouseup', (e) => {
    if (drag && !drag.moved && e.target === map) {
      const d = nearest(e.offsetX, e.offsetY);
      if (d) openDevice(d.id);
    }
    drag = null;
  });
  map.addEventListener('wheel', (e) => {
    e.preventDefault();
    const dpr = window.devicePixelRatio || 1;
    const v = state.view;
    const f = e.deltaY < 0 ? 1.25 : 0.8;
    const wx = v.x0 + e.offsetX * dpr / v.k, wy = v.y0 + e.offsetY * dpr / v.k;
    v.k *= f;
    v.x0 = wx - e.offsetX * dpr / v.k;
    v.y0 = wy - e.offsetY * dpr / v.k;
    state.touched = true;
    baseDirty = true;
    drawSoon();
  }, { passive: false });
  window.addEventListener('resize', () => {
    baseDirty = true;
    drawSoon();
  });

  /* ---------- colour choice ---------- */

  let colourTimer = null;
  function colourOptionsLater() {
    if (!colourTimer) colourTimer = setTimeout(colourOptions, 300);
  }

  function colourOptions() {
    colourTimer = null;
    const sel = $('colour');
    const opts = ['attr:region', 'attr:model', 'attr:firmware', 'status']
      .concat(Array.from(state.metrics).sort().map((m) => 'metric:' + m));
    if (sel.options.length === opts.length) return;
    sel.textContent = '';
    for (const o of opts) {
      const e = sel.appendChild(document.createElement('option'));
      e.value = o;
      e.textContent = o.replace(/^attr:/, '').replace(/^metric:/, '');
    }
    sel.value = state.colour;
  }

  $('colour').addEventListener('change', () => {
    state.colour = $('colour').value;
    drawSoon();
    const gen = state.gen;
    loadSummary(gen).catch(fail);
  });

  /* ---------- search: the list filters ---------- */

  const OPS = { '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge' };
  const CMP = {
    lt: (a, b) => a < b, le: (a, b) => a <= b, gt: (a, b) => a > b, ge: (a, b) => a >= b,
  };

  /* "region=eu speed_kmh>80 status=online" -> the list's parameters and the same test
   * for the map's devices; throws with a message on what it cannot read. */
  function parseQuery(q) {
    const params = new URLSearchParams();
    const preds = [];
    for (const tok of q.trim().split(/\s+/).filter(Boolean)) {
      const m = /^([A-Za-z0-9._-]+)(<=|>=|=|<|>)(.+)$/.exec(tok);
      if (!m) throw new Error('cannot read "' + tok + '": write key=value or metric>number');
      const [, key, op, val] = m;
      if (key === 'model' || key === 'region' || key === 'firmware') {
        if (op !== '=') throw new Error(key + ' takes =');
        params.set(key, val);
        preds.push((d) => d.a[key] === val);
      } else if (key === 'status') {
        if (op !== '=' || (val !== 'online' && val !== 'offline')) throw new Error('status=online or status=offline');
        params.set('status', val);
        const w = state.onlineWindowS * 1000;
        preds.push((d) => (Date.now() - d.seen <= w) === (val === 'online'));
      } else {
        if (op === '=') throw new Error('metric ' + key + ': use <, <=, > or >=');
        const n = Number(val);
        if (val === '' || !isFinite(n)) throw new Error('"' + val + '" is not a number');
        const o = OPS[op];
        params.append('metric.' + key + '.' + o, val);
        preds.push((d) => typeof d.m[key] === 'number' && CMP[o](d.m[key], n));
      }
    }
    return { params, pred: preds.length ? (d) => preds.every((p) => p(d)) : null };
  }

  let searchCursor = null;
  let searchParams = null;

  async function search() {
    const q = $('q').value.trim();
    unsay('error');
    if (q === '') {
      state.filter = null;
      $('results').hidden = true;
      drawSoon();
      return;
    }
    if (/^[A-Za-z0-9._:-]+$/.test(q)) { // a device id
      openDevice(q);
      return;
    }
    let parsed;
    try {
      parsed = parseQuery(q);
    } catch (e) {
      say('error', 'search: ' + e.message);
      return;
    }
    state.filter = parsed.pred;
    searchParams = parsed.params;
    searchCursor = null;
    $('results-list').textContent = '';
    drawSoon();
    await searchPage();
  }

  async function searchPage() {
    const p = new URLSearchParams(searchParams);
    p.set('limit', '100');
    if (searchCursor) p.set('cursor', searchCursor);
    try {
      const { body } = await api('/v1/devices?' + p.toString());
      const ol = $('results-list');
      for (const t of body.devices) {
        upsertTwin(t);
        const li = ol.appendChild(document.createElement('li'));
        li.textContent = t.device_id;
        li.dataset.id = t.device_id;
        li.addEventListener('click', () => openDevice(t.device_id));
      }
      searchCursor = body.next_cursor;
      $('results-n').textContent = '(' + ol.children.length + (searchCursor ? '+' : '') + ')';
      $('results-more').hidden = !searchCursor;
      $('results').hidden = false;
    } catch (e) {
      fail(e);
    }
  }

  $('search').addEventListener('submit', (e) => {
    e.preventDefault();
    search();
  });
  $('results-more').addEventListener('click', searchPage);

  /* ---------- the device panel ---------- */

  const fmt = (v) => (v === null || v === undefined ? '—' : String(v));
  const round = (v) => (typeof v === 'number' ? Math.round(v * 1000) / 1000 : v);
  let panelEtag = null;

  async function openDevice(id) {
    state.selected = id;
    panelEtag = null;
    $('chart-metric').textContent = '';
    await refreshPanel();
    drawSoon();
  }

  let panelTimer = null;
  let panelBusy = false;
  function refreshPanelSoon() {
    if (!panelTimer) panelTimer = setTimeout(() => { panelTimer = null; refreshPanel(); }, 150);
  }

  async function refreshPanel() {
    const id = state.selected;
    if (!id) return;
    if (panelBusy) {
      refreshPanelSoon();
      return;
    }
    panelBusy = true;
    try {
      const r = await api('/v1/devices/' + encodeURIComponent(id), panelEtag ? { 'If-None-Match': panelEtag } : null);
      if (id !== state.selected) return;
      if (!r.notModified) {
        panelEtag = r.etag;
        upsertTwin(r.body);
        renderTwin(r.body, r.etag);
        unsay('notfound');
      }
      await loadChart();
    } catch (e) {
      if (e.kind === 'notfound') {
        $('panel').hidden = true;
        state.selected = null;
      }
      fail(e);
    } finally {
      panelBusy = false;
    }
  }

  function kvRow(table, k, label, v) {
    const tr = table.insertRow();
    tr.appendChild(document.createElement('th')).textContent = label;
    const td = tr.insertCell();
    td.textContent = fmt(v);
    td.dataset.k = k;
  }

  function renderTwin(t, etag) {
    $('panel').hidden = false;
    $('panel').dataset.id = t.device_id;
    $('panel-id').textContent = t.device_id;
    const version = etag ? etag.replace(/^W\//, '').replace(/"/g, '').replace(/^v/, '') : '';
    $('panel-version').textContent = 'version ' + version;
    $('panel-version').dataset.version = version;
    const f = $('panel-fields');
    f.textContent = '';
    for (const k of ['first_seen', 'last_seen', 'last_sequence', 'events', 'updated_at']) kvRow(f, k, k, t[k]);
    if (t.location) {
      for (const k in t.location) kvRow(f, 'location.' + k, 'location ' + k, t.location[k]);
    } else {
      kvRow(f, 'location', 'location', null);
    }
    for (const k in t.attributes) kvRow(f, 'attributes.' + k, k, t.attributes[k]);
    const tb = $('panel-metrics').tBodies[0];
    tb.textContent = '';
    for (const name in t.metrics) {
      const m = t.metrics[name];
      const tr = tb.insertRow();
      tr.dataset.metric = name;
      tr.insertCell().textContent = name;
      for (const k of ['value', 'min', 'max', 'sum', 'count', 'ts']) {
        const td = tr.insertCell();
        td.dataset.k = name + '.' + k;
        if (k === 'ts' && typeof m.ts === 'number') { // device time, ms: shown as UTC time of day
          const iso = new Date(m.ts).toISOString();
          td.textContent = iso.slice(11);
          td.title = iso + ' (' + m.ts + ')';
          td.dataset.v = m.ts;
        } else {
          td.textContent = fmt(m[k]);
        }
      }
    }
    const sel = $('chart-metric');
    const names = Object.keys(t.metrics);
    if (sel.options.length !== names.length) {
      const keep = sel.value;
      sel.textContent = '';
      for (const n of names) sel.appendChild(document.createElement('option')).textContent = n;
      const pref = state.colour.startsWith('metric:') ? state.colour.slice(7) : null;
      sel.value = names.includes(keep) ? keep : names.includes(pref) ? pref : names[0] || '';
    }
  }

  async function loadChart() {
    const id = state.selected, metric = $('chart-metric').value, step = $('chart-step').value;
    const svg = $('chart');
    if (!metric) {
      svg.textContent = '';
      return;
    }
    const now = Date.now();
    const span = step === '1m' ? 3600e3 : 6 * 3600e3;
    const stepMs = step === '1m' ? 60e3 : 300e3;
    const from = Math.floor((now - span) / stepMs) * stepMs, to = (Math.floor(now / stepMs) + 1) * stepMs;
    const q = '/v1/devices/' + encodeURIComponent(id) + '/series?metric=' + encodeURIComponent(metric) +
      '&step=' + step + '&from=' + new Date(from).toISOString() + '&to=' + new Date(to).toISOString();
    const { body } = await api(q);
    if (id !== state.selected) return;
    drawChart(svg, body, from, to);
  }

  function drawChart(svg, s, from, to) {
    const NS = 'http://www.w3.org/2000/svg';
    svg.textContent = '';
    const W = 420, H = 160, L = 40, R = 6, T = 8, B = 16;
    const b = s.buckets;
    const last = b.length ? b[b.length - 1] : null;
    $('chart-note').textContent = b.length + ' buckets of ' + s.step + (last ? ', last avg ' + fmt(round(last.avg)) + ' (' + last.count + ' readings)' : '');
    svg.dataset.buckets = b.length;
    svg.dataset.lastAvg = last ? last.avg : '';
    if (!b.length) return;
    let lo = Math.min(...b.map((x) => x.min)), hi = Math.max(...b.map((x) => x.max));
    if (hi === lo) {
      hi += 1;
      lo -= 1;
    }
    const stepMs = s.step === '1m' ? 60e3 : 300e3;
    const X = (ms) => L + (ms - from) / (to - from) * (W - L - R);
    const Y = (v) => T + (hi - v) / (hi - lo) * (H - T - B);
    const mid = (x) => Date.parse(x.start) + stepMs / 2;
    const band = document.createElementNS(NS, 'polygon');
    band.setAttribute('class', 'band');
    band.setAttribute('points', b.map((x) => X(mid(x)) + ',' + Y(x.max)).concat(b.slice().reverse().map((x) => X(mid(x)) + ',' + Y(x.min))).join(' '));
    svg.appendChild(band);
    const line = document.createElementNS(NS, 'polyline');
    line.setAttribute('class', 'avg');
    line.setAttribute('points', b.map((x) => X(mid(x)) + ',' + Y(x.avg)).join(' '));
    svg.appendChild(line);
    for (const x of b) { // each bucket's average, also when there is one
      const c = document.createElementNS(NS, 'circle');
      c.setAttribute('class', 'dot');
      c.setAttribute('cx', X(mid(x)));
      c.setAttribute('cy', Y(x.avg));
      c.setAttribute('r', 2.5);
      svg.appendChild(c);
    }
    const text = (x, y, t, anchor) => {
      const e = document.createElementNS(NS, 'text');
      e.setAttribute('x', x);
      e.setAttribute('y', y);
      if (anchor) e.setAttribute('text-anchor', anchor);
      e.textContent = t;
      svg.appendChild(e);
    };
    const hhmm = (ms) => new Date(ms).toISOString().slice(11, 16) + 'Z';
    text(L - 3, T + 8, fmt(round(hi)), 'end');
    text(L - 3, H - B, fmt(round(lo)), 'end');
    text(L, H - 3, hhmm(from));
    text(W - R, H - 3, hhmm(to), 'end');
  }

  $('chart-metric').addEventListener('change', () => loadChart().catch(fail));
  $('chart-step').addEventListener('change', () => loadChart().catch(fail));
  $('panel-close').addEventListener('click', () => {
    state.selected = null;
    $('panel').hidden = true;
    drawSoon();
  });
  setInterval(() => {
    if (state.selected) loadChart().catch(() => {}); // buckets roll over with time
  }, 15000);

  /* ---------- start ---------- */

  window.tp = { state, screenPos, openDevice, connect };
  colourOptions();
  loadWorld();
  if (sessionStorage.getItem(KEY) === null) askKey('');
  else connect();
})();
