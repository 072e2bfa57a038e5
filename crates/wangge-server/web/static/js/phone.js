/* wangge — the grid worker's phone page (/m).
 *
 * The map of the worker's grid with a draggable pin for the report's position, the report form
 * sent with fetch, and an offline queue: a report that cannot be sent is kept in IndexedDB
 * (fields and photo Blobs) and sent when the network returns. Every report carries a
 * client_ref made here, so the server answers the same case if a report is sent twice (the
 * first answer lost on the way back).
 *
 * No build step, no dependencies besides the vendored Leaflet (optional: without it the
 * coordinates are typed in).
 */
(function () {
  'use strict';

  var messages = {};
  try { messages = JSON.parse(document.getElementById('i18n').textContent) || {}; } catch (e) { messages = {}; }
  var data = {};
  try { data = JSON.parse(document.getElementById('phone-data').textContent) || {}; } catch (e) { data = {}; }

  /** A message of this page, with {name} placeholders filled. */
  function t(key, vars) {
    var text = messages['phone.' + key] || messages[key] || key;
    if (vars) {
      Object.keys(vars).forEach(function (k) { text = text.split('{' + k + '}').join(String(vars[k])); });
    }
    return text;
  }

  var form = document.getElementById('report');
  if (!form) { return; }
  document.body.classList.add('js');

  var maxPhotos = data.max_photos || 9;
  // Reports kept on a shared phone belong to the worker who made them.
  var owner = data.user || '';

  function $(sel, root) { return (root || document).querySelector(sel); }

  // ------------------------------------------------------------------ tabs

  var tabs = Array.prototype.slice.call(document.querySelectorAll('.phone-tabs [data-tab]'));
  var map = null;

  function showTab(name) {
    tabs.forEach(function (a) {
      var on = a.getAttribute('data-tab') === name;
      a.classList.toggle('active', on);
      if (on) { a.setAttribute('aria-current', 'page'); } else { a.removeAttribute('aria-current'); }
    });
    Array.prototype.forEach.call(document.querySelectorAll('.phone-panel'), function (p) {
      p.classList.toggle('active', p.getAttribute('data-panel') === name);
    });
    if (name === 'report' && map) { setTimeout(function () { map.invalidateSize(); }, 0); }
  }

  tabs.forEach(function (a) {
    a.addEventListener('click', function (ev) {
      ev.preventDefault();
      var name = a.getAttribute('data-tab');
      showTab(name);
      if (history.replaceState) { history.replaceState(null, '', location.pathname + location.search + '#tab-' + name); }
    });
  });
  var initial = (location.hash || '').replace('#tab-', '');
  showTab(['report', 'tasks', 'mine'].indexOf(initial) >= 0 ? initial : 'report');

  // ------------------------------------------------------------------ position and map

  var lonInput = form.elements.lon;
  var latInput = form.elements.lat;
  var hint = $('[data-testid=position-hint]');
  var marker = null;
  var touched = false; // the worker placed the pin: do not move it to a late GPS fix

  function setHint(text, bad) {
    if (!hint) { return; }
    hint.textContent = text;
    hint.classList.toggle('warn', !!bad);
  }

  /** Ray casting over one ring of [lon, lat] pairs. */
  function inRing(x, y, ring) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if (((yi > y) !== (yj > y)) && (x < (xj - xi) * (y - yi) / (yj - yi) + xi)) { inside = !inside; }
    }
    return inside;
  }

  /** Whether a point lies in the area's GeoJSON (Polygon or MultiPolygon); null if unknown. */
  function inArea(lon, lat) {
    var g = data.geometry;
    if (!g || !g.coordinates) { return null; }
    var polygons = g.type === 'Polygon' ? [g.coordinates] : g.type === 'MultiPolygon' ? g.coordinates : [];
    return polygons.some(function (rings) {
      return rings.length > 0 && inRing(lon, lat, rings[0]) &&
        !rings.slice(1).some(function (hole) { return inRing(lon, lat, hole); });
    });
  }

  function currentPosition() {
    var lon = parseFloat(String(lonInput.value).replace(',', '.'));
    var lat = parseFloat(String(latInput.value).replace(',', '.'));
    return isFinite(lon) && isFinite(lat) ? [lon, lat] : null;
  }

  function checkArea() {
    var p = currentPosition();
    if (!p) { return; }
    var inside = inArea(p[0], p[1]);
    if (inside === false) { setHint(t('outside'), true); }
  }

  function setPosition(lon, lat, pan) {
    lonInput.value = lon.toFixed(6);
    latInput.value = lat.toFixed(6);
    if (marker) {
      marker.setLatLng([lat, lon]);
      if (pan && map) { map.panTo([lat, lon]); }
    }
    checkArea();
  }

  var start = (data.start && data.start[0] != null) ? data.start : null;

  function initMap() {
    var el = document.getElementById('phone-map');
    if (!el || typeof window.L === 'undefined') { return; }
    var L = window.L;
    el.innerHTML = '';
    map = L.map(el, { zoomControl: true, attributionControl: !!data.tile_url, tap: true });
    if (data.tile_url) {
      L.tileLayer(data.tile_url, { maxZoom: 19 }).addTo(map);
    }
    var area = null;
    if (data.geometry) {
      try {
        area = L.geoJSON(data.geometry, {
          style: { color: '#1565c0', weight: 3, fillColor: '#1565c0', fillOpacity: 0.08 },
          interactive: false
        }).addTo(map);
      } catch (e) { area = null; }
    }
    if (area && area.getBounds().isValid()) {
      map.fitBounds(area.getBounds(), { padding: [16, 16] });
      if (!start) { var c = area.getBounds().getCenter(); start = [c.lng, c.lat]; }
    } else if (start) {
      map.setView([start[1], start[0]], 16);
    } else {
      map.setView([39.9, 116.4], 11);
    }
    var p = currentPosition() || start;
    if (!p) { return; }
    // A pin drawn in CSS: no image files to fetch or cache, and big enough for a thumb.
    var icon = L.divIcon({ className: 'report-pin', html: '<span></span>', iconSize: [36, 36], iconAnchor: [18, 36] });
    marker = L.marker([p[1], p[0]], { draggable: true, icon: icon, autoPan: true, keyboard: true, title: t('pin') }).addTo(map);
    marker.on('dragend', function () {
      touched = true;
      var ll = marker.getLatLng();
      setHint(t('position_hint'), false);
      setPosition(ll.lng, ll.lat, false);
    });
    map.on('click', function (ev) {
      touched = true;
      setHint(t('position_hint'), false);
      setPosition(ev.latlng.lng, ev.latlng.lat, false);
    });
  }

  function onTyped() {
    var p = currentPosition();
    if (!p) { return; }
    touched = true;
    if (marker) { marker.setLatLng([p[1], p[0]]); if (map) { map.panTo([p[1], p[0]]); } }
    setHint(t('position_hint'), false);
    checkArea();
  }
  lonInput.addEventListener('change', onTyped);
  latInput.addEventListener('change', onTyped);

  function locate(byHand) {
    if (!navigator.geolocation) { if (byHand) { setHint(t('locate_unsupported'), true); } return; }
    setHint(t('locating'), false);
    navigator.geolocation.getCurrentPosition(function (pos) {
      if (touched && !byHand) { return; }
      var c = pos.coords;
      setHint(t('located', { m: Math.round(c.accuracy || 0) }), false);
      setPosition(c.longitude, c.latitude, true);
    }, function () {
      setHint(t('locate_failed'), true);
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  form.addEventListener('click', function (ev) {
    var b = ev.target.closest ? ev.target.closest('button[data-action]') : null;
    if (!b) { return; }
    if (b.getAttribute('data-action') === 'locate') { touched = false; locate(true); }
    if (b.getAttribute('data-action') === 'centre' && start) {
      touched = true;
      setHint(t('position_hint'), false);
      setPosition(start[0], start[1], true);
    }
  });

  try { initMap(); } catch (e) { map = null; marker = null; }
  locate(false);

  // ------------------------------------------------------------------ photos

  var photoInput = form.elements.photo;
  var previews = $('[data-testid=photo-previews]');
  var photos = []; // { blob, name }

  function renderPreviews() {
    if (!previews) { return; }
    previews.innerHTML = '';
    photos.forEach(function (p, i) {
      var fig = document.createElement('figure');
      var img = document.createElement('img');
      img.alt = p.name || '';
      img.src = URL.createObjectURL(p.blob);
      img.onload = function () { URL.revokeObjectURL(img.src); };
      var rm = document.createElement('button');
      rm.type = 'button';
      rm.className = 'remove';
      rm.textContent = '×';
      rm.setAttribute('aria-label', t('discard'));
      rm.addEventListener('click', function () { photos.splice(i, 1); renderPreviews(); });
      fig.appendChild(img);
      fig.appendChild(rm);
      previews.appendChild(fig);
    });
  }

  /** Phone cameras take 3–8 MB photos; large ones are scaled down so several fit one upload
   * and the offline queue stays small. Small files are sent as taken. */
  function preparePhoto(file) {
    var LIMIT = 2.5 * 1024 * 1024, SIDE = 2560;
    if (file.size <= LIMIT || !/^image\/(jpeg|png|webp)$/.test(file.type) ||
        typeof createImageBitmap !== 'function') {
      return Promise.resolve({ blob: file, name: file.name });
    }
    return createImageBitmap(file).then(function (bmp) {
      var scale = Math.min(1, SIDE / Math.max(bmp.width, bmp.height));
      var canvas = document.createElement('canvas');
      canvas.width = Math.round(bmp.width * scale);
      canvas.height = Math.round(bmp.height * scale);
      canvas.getContext('2d').drawImage(bmp, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          resolve(blob && blob.size < file.size
            ? { blob: blob, name: file.name.replace(/\.[^.]*$/, '') + '.jpg' }
            : { blob: file, name: file.name });
        }, 'image/jpeg', 0.85);
      });
    }).catch(function () { return { blob: file, name: file.name }; });
  }

  if (photoInput) {
    photoInput.addEventListener('change', function () {
      var files = Array.prototype.slice.call(photoInput.files || []);
      photoInput.value = '';
      var room = maxPhotos - photos.length;
      if (files.length > room) { showError(t('too_many_photos', { n: maxPhotos })); files = files.slice(0, Math.max(0, room)); }
      Promise.all(files.map(preparePhoto)).then(function (list) {
        photos = photos.concat(list);
        renderPreviews();
      });
    });
  }

  // ------------------------------------------------------------------ messages on the page

  var errorBox = $('[data-testid=report-error]');
  var netBox = $('[data-testid=net-status]');
  var slot = document.getElementById('report-result-slot');

  function showError(text) {
    if (!errorBox) { return; }
    errorBox.textContent = text || '';
    errorBox.hidden = !text;
  }

  function showNet(text, ok) {
    if (!netBox) { return; }
    netBox.textContent = text || '';
    netBox.hidden = !text;
    netBox.classList.toggle('ok', !!ok);
  }

  function shortId(id) { return String(id).slice(-8); }

  function showResult(done, text) {
    if (!slot) { return; }
    slot.innerHTML = '';
    var box = document.createElement('div');
    box.className = 'flash ok report-result';
    box.setAttribute('data-testid', 'report-result');
    box.setAttribute('data-case-id', done.id);
    box.setAttribute('data-state', done.state || '');
    box.appendChild(document.createTextNode((text || t('sent')) + ' '));
    var a = document.createElement('a');
    a.href = '/console/cases/' + encodeURIComponent(done.id);
    a.textContent = t('case_no', { id: shortId(done.id) });
    box.appendChild(a);
    if (done.state) {
      var s = document.createElement('span');
      s.className = 'state ' + done.state;
      s.textContent = (data.states && data.states[done.state]) || done.state;
      box.appendChild(document.createTextNode(' '));
      box.appendChild(s);
    }
    slot.appendChild(box);
  }

  // ------------------------------------------------------------------ sending

  function newRef() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') { return window.crypto.randomUUID(); }
    var b = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ('0' + x.toString(16)).slice(-2); }).join('');
  }

  function csrfToken() { return form.elements._csrf ? form.elements._csrf.value : ''; }

  /** The page may have come from the service worker's cache, with an older token: a fresh
   * copy of /m carries the token of the current session. */
  function refreshToken() {
    return fetch('/m', { credentials: 'same-origin', cache: 'no-store', headers: { 'Accept': 'text/html' } })
      .then(function (r) {
        if (!r.ok || r.redirected) { throw new Error('signed out'); }
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var input = doc.querySelector('form#report input[name=_csrf]');
        if (!input || !input.value) { throw new Error('no token'); }
        form.elements._csrf.value = input.value;
        return true;
      });
  }

  /** Sends one report. Resolves to {kind, …}: ok (with the answer), network (try later),
   * later (the server is busy: try later), signin (the session is gone), csrf, rejected. */
  function send(record) {
    var fd = new FormData();
    fd.append('_csrf', csrfToken()); // first, so the server can refuse a forged post early
    fd.append('client_ref', record.client_ref);
    Object.keys(record.fields).forEach(function (k) { fd.append(k, record.fields[k]); });
    (record.photos || []).forEach(function (p, i) { fd.append('photo', p.blob, p.name || ('photo-' + (i + 1) + '.jpg')); });
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, 90000) : null;
    return fetch('/m/report', {
      method: 'POST',
      body: fd,
      credentials: 'same-origin',
      headers: { 'Accept': 'application/json' },
      signal: ctrl ? ctrl.signal : undefined
    }).then(function (r) {
      if (timer) { clearTimeout(timer); }
      var type = r.headers.get('content-type') || '';
      // A signed-out session is redirected to the login page, which fetch follows.
      if (r.redirected || type.indexOf('application/json') < 0) {
        return r.status >= 500 ? { kind: 'later' } : { kind: 'signin' };
      }
      return r.json().then(function (body) {
        if (r.ok) { return { kind: 'ok', body: body }; }
        var err = (body && body.error) || {};
        var text = (err.details && err.details.text) || err.message || t('error');
        if (err.code === 'csrf_rejected') { return { kind: 'csrf', message: text }; }
        if (err.code === 'report_in_progress' || r.status === 429 || r.status >= 500) { return { kind: 'later', message: text }; }
        if (r.status === 401) { return { kind: 'signin', message: text }; }
        return { kind: 'rejected', message: text, code: err.code };
      }, function () { return { kind: r.status >= 500 ? 'later' : 'rejected', message: t('error') }; });
    }, function () {
      if (timer) { clearTimeout(timer); }
      return { kind: 'network' };
    });
  }

  /** send(), with one new token when the page's token has gone stale. */
  function sendWithToken(record) {
    return send(record).then(function (res) {
      if (res.kind !== 'csrf') { return res; }
      return refreshToken().then(function () {
        return send(record).then(function (again) {
          return again.kind === 'csrf' ? { kind: 'rejected', message: again.message } : again;
        });
      }, function () { return { kind: 'signin' }; });
    });
  }

  // ------------------------------------------------------------------ the offline queue (IndexedDB)

  var DB_NAME = 'wangge-phone', STORE = 'reports';
  var dbPromise = null;

  function db() {
    if (!window.indexedDB) { return Promise.reject(new Error('no IndexedDB')); }
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var req = indexedDB.open(DB_NAME, 1);
        req.onupgradeneeded = function () { req.result.createObjectStore(STORE, { keyPath: 'client_ref' }); };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { reject(req.error); };
      });
      dbPromise.catch(function () { dbPromise = null; });
    }
    return dbPromise;
  }

  function tx(mode, fn) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var x = d.transaction(STORE, mode);
        var out = fn(x.objectStore(STORE));
        x.oncomplete = function () { resolve(out && 'result' in out ? out.result : undefined); };
        x.onerror = function () { reject(x.error); };
        x.onabort = function () { reject(x.error); };
      });
    });
  }

  function queued() {
    return tx('readonly', function (s) { return s.getAll(); }).then(function (all) {
      return (all || []).filter(function (r) { return r.owner === owner; })
        .sort(function (a, b) { return a.created_at < b.created_at ? -1 : 1; });
    });
  }
  function keep(record) { return tx('readwrite', function (s) { s.put(record); }); }
  function drop(ref) { return tx('readwrite', function (s) { s.delete(ref); }); }

  var queueBox = $('[data-testid=queue]');
  var queueCount = $('[data-testid=queue-count]');
  var queueMessage = $('[data-testid=queue-message]');
  var queueFailed = $('[data-testid=queue-failed]');

  function renderQueue(message) {
    return queued().then(function (all) {
      var waiting = all.filter(function (r) { return r.status !== 'failed'; });
      var failed = all.filter(function (r) { return r.status === 'failed'; });
      if (queueCount) { queueCount.textContent = String(waiting.length); }
      if (queueBox) { queueBox.hidden = all.length === 0 && !message; }
      if (queueMessage && message !== undefined) { queueMessage.textContent = message || ''; }
      if (queueFailed) {
        queueFailed.innerHTML = '';
        failed.forEach(function (r) {
          var li = document.createElement('li');
          li.setAttribute('data-client-ref', r.client_ref);
          var text = document.createElement('span');
          var desc = (r.fields.description || '').slice(0, 40);
          text.textContent = desc + ' — ' + t('failed', { message: r.message || t('error') });
          var retry = document.createElement('button');
          retry.type = 'button';
          retry.textContent = t('retry');
          retry.addEventListener('click', function () {
            r.status = 'waiting'; r.message = '';
            keep(r).then(function () { flush(); });
          });
          var del = document.createElement('button');
          del.type = 'button';
          del.className = 'danger';
          del.textContent = t('discard');
          del.addEventListener('click', function () { drop(r.client_ref).then(function () { renderQueue(); }); });
          li.appendChild(text);
          li.appendChild(retry);
          li.appendChild(del);
          queueFailed.appendChild(li);
        });
      }
      return waiting.length;
    }).catch(function () { return 0; });
  }

  var flushing = false;

  /** Sends the kept reports one by one, oldest first; stops at the first that cannot go now. */
  function flush() {
    if (flushing) { return Promise.resolve(); }
    flushing = true;
    var sent = 0;
    function next() {
      return queued().then(function (all) {
        var waiting = all.filter(function (r) { return r.status !== 'failed'; });
        if (waiting.length === 0) { return sent ? t('queue_sent', { n: sent }) : ''; }
        var record = waiting[0];
        renderQueue(t('queue_sending'));
        return sendWithToken(record).then(function (res) {
          if (res.kind === 'ok') {
            sent += 1;
            showResult(res.body, t('queue_sent', { n: sent }));
            return drop(record.client_ref).then(next);
          }
          if (res.kind === 'rejected') {
            // The server will not take it as it is: set aside with its reason, not retried.
            record.status = 'failed';
            record.message = res.message || t('error');
            return keep(record).then(next);
          }
          if (res.kind === 'signin') { return t('queue_signin'); }
          return t('queue_wait');
        });
      });
    }
    return next().then(function (message) {
      flushing = false;
      return renderQueue(message);
    }, function () {
      flushing = false;
      return renderQueue();
    });
  }

  // ------------------------------------------------------------------ submit

  function collect() {
    var f = form.elements;
    var fields = {
      category: f.category.value,
      description: f.description.value.trim(),
      lon: String(f.lon.value).trim().replace(',', '.'),
      lat: String(f.lat.value).trim().replace(',', '.'),
      address: f.address ? f.address.value.trim() : ''
    };
    if (!fields.category) { return { error: t('need_category'), field: f.category }; }
    if (!fields.description) { return { error: t('need_description'), field: f.description }; }
    if (!isFinite(parseFloat(fields.lon)) || !isFinite(parseFloat(fields.lat))) { return { error: t('need_position'), field: f.lon }; }
    return {
      record: {
        client_ref: f.client_ref.value || newRef(),
        owner: owner,
        created_at: new Date().toISOString(),
        status: 'waiting',
        fields: fields,
        photos: photos.slice()
      }
    };
  }

  function cleared() {
    form.elements.description.value = '';
    form.elements.category.value = '';
    if (form.elements.address) { form.elements.address.value = ''; }
    form.elements.client_ref.value = '';
    photos = [];
    renderPreviews();
  }

  var submitButton = form.querySelector('button[type=submit]');
  var submitLabel = submitButton ? submitButton.textContent : '';
  var busy = false;

  function putInQueue(record) {
    return keep(record).then(function () {
      cleared();
      return renderQueue(t('queued'));
    }, function () {
      showError(t('storage_failed'));
    });
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (busy) { return; }
    showError('');
    var got = collect();
    if (got.error) {
      showError(got.error);
      if (got.field && got.field.focus) { got.field.focus(); }
      return;
    }
    var record = got.record;
    // The same ref until this report is done, so pressing again after a lost answer is safe.
    form.elements.client_ref.value = record.client_ref;
    if (!navigator.onLine) { putInQueue(record); return; }
    busy = true;
    if (submitButton) { submitButton.disabled = true; submitButton.textContent = t('sending'); }
    sendWithToken(record).then(function (res) {
      if (res.kind === 'ok') {
        showResult(res.body);
        cleared();
        if (history.replaceState) { history.replaceState(null, '', '/m?reported=' + encodeURIComponent(res.body.id)); }
        if (slot && slot.scrollIntoView) { slot.scrollIntoView({ block: 'nearest' }); }
      } else if (res.kind === 'network' || res.kind === 'later') {
        return putInQueue(record);
      } else if (res.kind === 'signin') {
        // Kept, so nothing typed is lost; it goes once the worker signs in again.
        return putInQueue(record).then(function () { renderQueue(t('queue_signin')); });
      } else {
        showError(res.message || t('error'));
      }
    }).then(function () {
      busy = false;
      if (submitButton) { submitButton.disabled = false; submitButton.textContent = submitLabel; }
    });
  });


  var sendNow = $('[data-action=send-queue]');
  if (sendNow) { sendNow.addEventListener('click', function () { flush(); }); }

  // ------------------------------------------------------------------ network state

  window.addEventListener('online', function () {
    showNet(t('online'), true);
    setTimeout(function () { if (navigator.onLine) { showNet(''); } }, 4000);
    flush();
  });
  window.addEventListener('offline', function () { showNet(t('offline'), false); });
  if (!navigator.onLine) { showNet(t('offline'), false); }

  renderQueue().then(function (waiting) { if (waiting > 0 && navigator.onLine) { flush(); } });
  // navigator.onLine can claim a network that does not get through: try again now and then.
  setInterval(function () {
    if (navigator.onLine && !flushing) {
      renderQueue().then(function (waiting) { if (waiting > 0) { flush(); } });
    }
  }, 60000);

  // ------------------------------------------------------------------ installable app

  if ('serviceWorker' in navigator && window.isSecureContext) {
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).then(function (reg) {
      // Keep the current page for offline use even on the very first visit, before the
      // worker controlled it.
      var w = reg.active || reg.waiting || reg.installing;
      if (w && w.postMessage) { w.postMessage({ type: 'cache-page' }); }
    }).catch(function () { /* no offline shell; the page still works online */ });
  }
})();
