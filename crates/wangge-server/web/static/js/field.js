/* wangge — field work pages.
 *
 * /m/patrol: start and end a patrol through /api/v1/patrols; while it runs, the phone's
 * position (navigator.geolocation.watchPosition) is recorded at most every N seconds (the
 * worker's choice, default 30 s) into a queue in localStorage, and the queue is sent in
 * batches. A lost connection only lets the queue grow: it is sent when the network returns,
 * and the server ignores a fix it has already (same instant), so a batch whose answer was lost
 * may be sent again safely. The queue belongs to one patrol of one worker.
 *
 * /console/field/patrols/{id}: the track on a Leaflet map over the grid's outline.
 */
(function () {
  'use strict';

  var messages = {};
  try { messages = JSON.parse(document.getElementById('i18n').textContent) || {}; } catch (e) { messages = {}; }
  var data = {};
  try { data = JSON.parse(document.getElementById('field-data').textContent) || {}; } catch (e) { data = {}; }

  function t(key) { return messages['field.' + key] || messages[key] || key; }

  /** Great-circle distance in metres (the server's sphere). */
  function haversine(a, b) {
    var R = 6371008.8, rad = Math.PI / 180;
    var dLat = (b[1] - a[1]) * rad, dLon = (b[0] - a[0]) * rad;
    var h = Math.pow(Math.sin(dLat / 2), 2) + Math.cos(a[1] * rad) * Math.cos(b[1] * rad) * Math.pow(Math.sin(dLon / 2), 2);
    return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  // ------------------------------------------------------------------ the track on a map

  var mapEl = document.getElementById('patrol-map');
  if (mapEl && typeof L !== 'undefined') {
    var map = L.map(mapEl, { preferCanvas: true, attributionControl: false, maxZoom: 19 });
    var tiles = mapEl.getAttribute('data-tile-url');
    if (tiles) L.tileLayer(tiles, { maxZoom: 19, subdomains: '01234567' }).addTo(map);
    map.setView([22.54, 114.05], 15);
    var coords = (data.track && data.track.coordinates) || [];
    var latlngs = coords.map(function (c) { return [c[1], c[0]]; });
    var bounds = null;
    if (latlngs.length) {
      var line = L.polyline(latlngs, { color: '#c62828', weight: 3 }).addTo(map);
      L.circleMarker(latlngs[0], { radius: 6, color: '#fff', weight: 2, fillColor: '#2e7d32', fillOpacity: 1 }).addTo(map);
      L.circleMarker(latlngs[latlngs.length - 1], { radius: 6, color: '#fff', weight: 2, fillColor: '#c62828', fillOpacity: 1 }).addTo(map);
      bounds = line.getBounds();
      map.fitBounds(bounds, { padding: [16, 16], maxZoom: 18 });
    }
    if (data.grid_code) {
      fetch('/console/map/region/' + encodeURIComponent(data.grid_code), { credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (geo) {
          if (!geo) return;
          var outline = L.geoJSON(geo, { interactive: false, style: { color: '#1565c0', weight: 2, fillColor: '#1565c0', fillOpacity: 0.08 } }).addTo(map);
          var b = outline.getBounds();
          if (b.isValid()) {
            if (bounds) b.extend(bounds);
            map.fitBounds(b, { padding: [16, 16], maxZoom: 18 });
          }
        })
        .catch(function () { /* the track alone is still useful */ });
    }
  }

  // ------------------------------------------------------------------ the patrol page

  var app = document.getElementById('patrol-app');
  if (!app) return;
  document.body.classList.add('js');

  var user = data.user || '';
  var maxBatch = data.max_batch || 500;
  var patrol = data.patrol || null;
  var watchId = null;
  var lastFixAt = 0;
  var lastPoint = null;
  var sending = false;

  function el(name) { return app.querySelector('[data-field="' + name + '"]'); }
  function button(action) { return app.querySelector('[data-action="' + action + '"]'); }
  var message = app.querySelector('[data-testid="patrol-message"]');

  function say(text, ok) {
    message.textContent = text || '';
    message.hidden = !text;
    message.classList.toggle('ok', !!ok);
  }

  function key(what) { return 'wangge.field.' + user + '.' + what; }
  function load(what, fallback) {
    try { var v = JSON.parse(localStorage.getItem(key(what))); return v === null ? fallback : v; } catch (e) { return fallback; }
  }
  function store(what, value) {
    try { localStorage.setItem(key(what), JSON.stringify(value)); } catch (e) { say(t('patrol.storage_full')); }
  }

  var interval = Number(load('interval', data.interval_s || 30)) || 30;
  var select = el('interval');
  if (select) {
    select.value = String(interval);
    select.addEventListener('change', function () { interval = Number(select.value) || 30; store('interval', interval); });
  }

  function queueKey() { return patrol ? 'queue.' + patrol.id : 'queue.none'; }
  function queue() { return load(queueKey(), []); }
  function setQueue(q) { store(queueKey(), q); el('queued').textContent = String(q.length); }

  function showState() {
    var running = !!(patrol && patrol.status === 'running');
    app.setAttribute('data-state', running ? 'running' : 'idle');
    button('start').hidden = running;
    button('end').hidden = !running;
    el('queued').textContent = String(queue().length);
    if (patrol) el('points').textContent = String(patrol.points || 0);
    var len = load('length.' + (patrol ? patrol.id : ''), 0);
    el('length').textContent = String(Math.round(len));
  }

  function tick() {
    if (!patrol || patrol.status !== 'running') return;
    var s = Math.max(0, Math.floor((Date.now() - Date.parse(patrol.started_at)) / 1000));
    var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    el('elapsed').textContent = h + ':' + (m < 10 ? '0' : '') + m + ':' + (sec < 10 ? '0' : '') + sec;
  }
  setInterval(tick, 1000);

  function api(method, path, body) {
    return fetch(path, {
      method: method,
      credentials: 'same-origin',
      headers: body ? { 'Content-Type': 'application/json', 'Accept': 'application/json' } : { 'Accept': 'application/json' },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { return { status: r.status, body: j }; });
    });
  }

  /** Sends the queue in batches; what the server took leaves the queue. */
  function flush() {
    if (sending || !patrol) return Promise.resolve();
    var q = queue();
    if (!q.length) return Promise.resolve();
    sending = true;
    var batch = q.slice(0, maxBatch);
    var id = patrol.id;
    return api('POST', '/api/v1/patrols/' + id + '/positions', { positions: batch })
      .then(function (res) {
        sending = false;
        if (!patrol || patrol.id !== id) return;
        if (res.status === 200) {
          setQueue(queue().slice(batch.length));
          patrol.points = res.body.points;
          el('points').textContent = String(patrol.points);
          say('');
          if (queue().length) return flush();
        } else if (res.status === 422 && res.body.error && res.body.error.details && typeof res.body.error.details.index === 'number') {
          // One bad fix (a phone clock far off): leave it out, keep the rest.
          var rest = queue();
          rest.splice(res.body.error.details.index, 1);
          setQueue(rest);
          return flush();
        } else if (res.status === 409 || res.status === 404) {
          setQueue([]);
          say(t('patrol.ended_elsewhere'));
        } else if (res.status === 401) {
          say(t('patrol.signin'));
        } else {
          say(t('patrol.send_later'));
        }
      })
      .catch(function () { sending = false; say(t('patrol.offline')); });
  }

  function record(pos) {
    if (!patrol || patrol.status !== 'running') return;
    var now = pos.timestamp || Date.now();
    if (now - lastFixAt < interval * 1000) return;
    lastFixAt = now;
    var c = pos.coords;
    var fix = { at: new Date(now).toISOString(), lon: c.longitude, lat: c.latitude };
    if (isFinite(c.accuracy)) fix.accuracy = c.accuracy;
    var q = queue();
    q.push(fix);
    setQueue(q);
    // The length so far, by the server's first rule (fixes worse than 50 m do not count).
    if (!(c.accuracy > 50)) {
      var p = [c.longitude, c.latitude];
      var lenKey = 'length.' + patrol.id;
      var len = load(lenKey, 0);
      if (lastPoint) len += haversine(lastPoint, p);
      lastPoint = p;
      store(lenKey, len);
      el('length').textContent = String(Math.round(len));
    }
    if (q.length >= 10) flush();
  }

  function watch() {
    if (watchId !== null || !navigator.geolocation) {
      if (!navigator.geolocation) say(t('patrol.no_gps'));
      return;
    }
    watchId = navigator.geolocation.watchPosition(record, function (err) {
      say(t('patrol.gps_error') + ' (' + (err && err.message ? err.message : '') + ')');
    }, { enableHighAccuracy: true, maximumAge: 5000, timeout: 60000 });
  }

  function unwatch() {
    if (watchId !== null && navigator.geolocation) navigator.geolocation.clearWatch(watchId);
    watchId = null;
  }

  button('start').addEventListener('click', function () {
    button('start').disabled = true;
    api('POST', '/api/v1/patrols').then(function (res) {
      button('start').disabled = false;
      if (res.status === 200 || res.status === 201) {
        patrol = res.body;
        lastFixAt = 0;
        lastPoint = null;
        showState();
        tick();
        watch();
        say(t('patrol.started'), true);
      } else {
        say((res.body.error && res.body.error.message) || t('patrol.send_later'));
      }
    }).catch(function () { button('start').disabled = false; say(t('patrol.offline')); });
  });

  button('end').addEventListener('click', function () {
    if (!patrol) return;
    button('end').disabled = true;
    var id = patrol.id;
    flush().then(function () {
      if (queue().length) {
        button('end').disabled = false;
        say(t('patrol.end_needs_network'));
        return null;
      }
      return api('POST', '/api/v1/patrols/' + id + '/end').then(function (res) {
        button('end').disabled = false;
        if (res.status === 200) {
          unwatch();
          patrol = res.body;
          showState();
          var len = Math.round(patrol.length_m || 0);
          var cov = Math.round((patrol.coverage || 0) * 1000) / 10;
          say(t('patrol.ended') + ' ' + len + ' m · ' + cov + '%', true);
          el('length').textContent = String(len);
        } else {
          say((res.body.error && res.body.error.message) || t('patrol.send_later'));
        }
      });
    }).catch(function () { button('end').disabled = false; say(t('patrol.offline')); });
  });

  button('send').addEventListener('click', function () { flush(); });
  window.addEventListener('online', function () { flush(); });
  setInterval(flush, 20000);

  showState();
  tick();
  if (patrol && patrol.status === 'running') {
    watch();
    flush();
  }
})();
