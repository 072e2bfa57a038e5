/* The command-centre map (/console/map). The server does the heavy work: outlines come
 * simplified per level, grids only for the visible box when zoomed in, and cases already
 * clustered into screen cells, so the browser draws a few hundred shapes on one canvas
 * whatever the city's size. Sets document.body.dataset.mapReady = "1" once the first
 * outlines and cases are drawn (and the ?case= popup is open). */
(function () {
  'use strict';

  var cfg = JSON.parse(document.getElementById('map-config').textContent || '{}');
  var messages = {};
  try { messages = JSON.parse(document.getElementById('i18n').textContent); } catch (e) { messages = {}; }
  function t(key, args) {
    var s = messages[key] || key;
    if (args) Object.keys(args).forEach(function (k) { s = s.split('{' + k + '}').join(String(args[k])); });
    return s;
  }

  /* State colours; the legend takes its swatches from here too. */
  var COLORS = {
    reported: '#2563eb', registered: '#0891b2', dispatched: '#7c3aed', returned: '#db2777',
    in_progress: '#ea580c', handled: '#65a30d', verified: '#16a34a',
    closed: '#6b7280', invalid: '#9ca3af', merged: '#a8a29e'
  };
  var RINGS = { red: '#dc2626', yellow: '#facc15' };
  var CLUSTER_FILL = { red: '#dc2626', yellow: '#eab308', green: '#2e7d32' };
  var COMMUNITY_ZOOM = 13;
  var GRID_ZOOM = 15;

  var form = document.getElementById('map-filters');
  var statusEl = document.getElementById('map-status');

  /* Labels come from the filter selects, which the server rendered from the catalogues. */
  function labelsOf(name) {
    var out = {};
    form.querySelectorAll('select[name="' + name + '"] option').forEach(function (o) {
      out[o.value] = o.textContent.trim();
    });
    return out;
  }
  var stateLabel = labelsOf('state');
  var categoryLabel = labelsOf('category');
  var lightLabel = labelsOf('light');

  document.querySelectorAll('.legend-states li').forEach(function (li) {
    var sw = li.querySelector('.swatch');
    if (sw) sw.style.background = COLORS[li.dataset.state] || '#999';
  });

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle('error', !!isError);
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function getJSON(url, signal) {
    return fetch(url, { credentials: 'same-origin', signal: signal, headers: { Accept: 'application/json' } })
      .then(function (r) {
        var type = r.headers.get('content-type') || '';
        if (type.indexOf('application/json') !== 0) throw new Error('not json: ' + r.status);
        return r.json().then(function (body) {
          if (!r.ok) { var err = new Error('http ' + r.status); err.status = r.status; err.body = body; throw err; }
          return body;
        });
      });
  }

  // ---------------------------------------------------------------- the map

  var map = L.map('map', { preferCanvas: true, minZoom: 3, maxZoom: 19, zoomSnap: 1 });
  map.createPane('regions').style.zIndex = 350;
  map.createPane('cases').style.zIndex = 450;
  var regionRenderer = L.canvas({ pane: 'regions', padding: 0.3 });
  var caseRenderer = L.canvas({ pane: 'cases', padding: 0.3 });
  if (cfg.tile_url) {
    L.tileLayer(cfg.tile_url, { maxZoom: 19, subdomains: '01234567' }).addTo(map);
  }

  var focus = cfg.focus;
  /* ?lon=&lat=[&zoom=]: open centred on a place (the dashboard's hotspots link here). */
  var here = new URLSearchParams(location.search);
  var centre = [parseFloat(here.get('lat')), parseFloat(here.get('lon'))];
  var centreZoom = parseInt(here.get('zoom'), 10);
  var centred = Math.abs(centre[0]) <= 90 && Math.abs(centre[1]) <= 180;
  if (focus) {
    map.setView([focus.lat, focus.lon], 17);
  } else if (centred) {
    map.setView(centre, centreZoom >= 3 && centreZoom <= 19 ? centreZoom : 16);
  } else if (cfg.bbox) {
    map.fitBounds([[cfg.bbox[1], cfg.bbox[0]], [cfg.bbox[3], cfg.bbox[2]]], { padding: [8, 8] });
  } else {
    map.setView([22.54, 114.05], 12);
  }

  var STYLE = {
    district: { color: '#37474f', weight: 2.5, fill: false },
    street: { color: '#546e7a', weight: 1.5, dashArray: '6 4', fill: false },
    community: { color: '#78909c', weight: 1, fill: false },
    grid: { color: '#90a4ae', weight: 0.7, fill: false }
  };
  function regionLayer(level, data) {
    var s = STYLE[level];
    return L.geoJSON(data, {
      pane: 'regions',
      interactive: false,
      style: function () {
        return { color: s.color, weight: s.weight, dashArray: s.dashArray, fill: s.fill, renderer: regionRenderer, pane: 'regions' };
      }
    });
  }

  var layers = {};
  function loadLevel(level) {
    if (layers[level]) return Promise.resolve(layers[level]);
    return getJSON('/console/map/regions?level=' + level).then(function (data) {
      layers[level] = regionLayer(level, data);
      showLevels();
      return layers[level];
    });
  }

  var gridLayer = null;
  var gridCtrl = null;
  function loadGrids() {
    if (map.getZoom() < GRID_ZOOM) {
      if (gridLayer) { map.removeLayer(gridLayer); gridLayer = null; }
      return Promise.resolve();
    }
    if (gridCtrl) gridCtrl.abort();
    gridCtrl = new AbortController();
    var b = map.getBounds().pad(0.2);
    var url = '/console/map/grids?bbox=' + [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(',');
    return getJSON(url, gridCtrl.signal).then(function (data) {
      if (gridLayer) map.removeLayer(gridLayer);
      gridLayer = data.too_many ? null : regionLayer('grid', data).addTo(map);
    }).catch(function (e) { if (e.name !== 'AbortError') console.warn('grids', e); });
  }

  function showLevels() {
    var z = map.getZoom();
    ['district', 'street', 'community'].forEach(function (level) {
      var layer = layers[level];
      if (!layer) return;
      var wanted = level !== 'community' || z >= COMMUNITY_ZOOM;
      if (wanted && !map.hasLayer(layer)) layer.addTo(map);
      if (!wanted && map.hasLayer(layer)) map.removeLayer(layer);
    });
  }

  // ---------------------------------------------------------------- cases

  var caseLayer = L.layerGroup().addTo(map);
  var focusLayer = L.layerGroup().addTo(map);
  var caseCtrl = null;

  function filterParams() {
    var p = new URLSearchParams();
    new FormData(form).forEach(function (v, k) { if (v) p.set(k, v); });
    return p;
  }

  function casePopup(c) {
    var box = el('div', { 'class': 'case-popup' });
    var head = el('div', { 'class': 'head' });
    var st = el('span', { 'data-testid': 'map-case-state', 'data-state': c.state, 'class': 'state ' + c.state }, stateLabel[c.state] || c.state);
    head.appendChild(st);
    if (c.light) {
      head.appendChild(el('span', { 'class': 'light ' + c.light, 'data-light': c.light }));
      head.appendChild(document.createTextNode(' ' + (lightLabel[c.light] || c.light)));
    }
    box.appendChild(head);
    box.appendChild(el('div', { 'class': 'cat' }, categoryLabel[c.category] || c.category));
    if (c.desc) box.appendChild(el('p', { 'class': 'desc' }, c.desc));
    box.appendChild(el('div', { 'class': 'small muted' }, t('map.grid') + ' ' + (c.grid || '')));
    box.appendChild(el('a', { href: '/console/cases/' + encodeURIComponent(c.id), 'class': 'button primary', 'data-case-id': c.id }, t('map.open_case')));
    return box;
  }

  function caseMarker(c, big) {
    var ring = RINGS[c.light];
    var marker = L.circleMarker([c.lat, c.lon], {
      renderer: caseRenderer, pane: 'cases',
      radius: big ? 10 : 7,
      fillColor: COLORS[c.state] || '#555', fillOpacity: 0.9,
      color: ring || '#ffffff', weight: ring ? 3 : 1.5,
      bubblingMouseEvents: false
    });
    marker.bindPopup(function () { return casePopup(c); }, { minWidth: 200, maxWidth: 320 });
    return marker;
  }

  function clusterMarker(k) {
    var size = Math.round(Math.min(56, 24 + 8 * Math.log10(k.count)));
    var title = Object.keys(k.states).map(function (s) { return (stateLabel[s] || s) + ' ' + k.states[s]; }).join(' · ');
    var marker = L.marker([k.lat, k.lon], {
      pane: 'cases',
      title: title,
      keyboard: true,
      icon: L.divIcon({
        className: 'case-cluster light-' + (k.light || 'none'),
        html: '<span>' + (k.count >= 10000 ? Math.round(k.count / 1000) + 'k' : k.count) + '</span>',
        iconSize: [size, size]
      })
    });
    marker.on('click', function () { map.setView([k.lat, k.lon], Math.min(map.getZoom() + 2, 18)); });
    return marker;
  }

  function drawCases(data) {
    caseLayer.clearLayers();
    data.clusters.forEach(function (k) { caseLayer.addLayer(clusterMarker(k)); });
    data.markers.forEach(function (c) { caseLayer.addLayer(caseMarker(c)); });
    setStatus(t(data.clustered ? 'map.status_clustered' : 'map.status', { in_view: data.in_view, matching: data.matching }));
  }

  function loadCases() {
    if (caseCtrl) caseCtrl.abort();
    caseCtrl = new AbortController();
    var b = map.getBounds().pad(0.25);
    var p = filterParams();
    p.set('bbox', [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(','));
    p.set('zoom', String(map.getZoom()));
    return getJSON('/console/map/cases?' + p.toString(), caseCtrl.signal).then(drawCases, function (e) {
      if (e.name === 'AbortError') return;
      setStatus(t('map.error'), true);
      throw e;
    });
  }

  function showFocus() {
    if (!focus) return;
    var m = caseMarker(focus, true).addTo(focusLayer);
    m.openPopup();
  }

  // ---------------------------------------------------------------- a grid

  var highlight = L.layerGroup().addTo(map);
  function gridPopup(g) {
    var box = el('div', { 'class': 'grid-popup', 'data-grid': g.code });
    box.appendChild(el('strong', null, g.name));
    box.appendChild(el('div', { 'class': 'small muted', 'data-testid': 'map-grid-code' }, t('map.grid') + ' ' + g.code));
    var parents = (g.ancestors || []).filter(function (a) { return a.level !== 'city'; }).map(function (a) { return a.name; });
    if (parents.length) box.appendChild(el('div', { 'class': 'small muted' }, parents.reverse().join(' · ')));
    var w = el('div', { 'class': 'workers' });
    w.appendChild(el('span', { 'class': 'label' }, t('map.workers') + '：'));
    w.appendChild(document.createTextNode(g.workers.length ? g.workers.map(function (x) { return x.name + ' (' + x.username + ')'; }).join('、') : t('map.no_workers')));
    box.appendChild(w);
    box.appendChild(el('div', { 'class': 'label' }, t('map.open_cases', { n: g.open_count })));
    var list = el('ul', { 'class': 'grid-cases' });
    g.cases.forEach(function (c) {
      var li = el('li');
      if (c.light) li.appendChild(el('span', { 'class': 'light ' + c.light }));
      var a = el('a', { href: '/console/cases/' + encodeURIComponent(c.id) }, (stateLabel[c.state] || c.state) + ' · ' + (categoryLabel[c.category] || c.category));
      li.appendChild(a);
      if (c.desc) li.appendChild(el('div', { 'class': 'small muted' }, c.desc));
      list.appendChild(li);
    });
    box.appendChild(list);
    if (g.open_count > g.cases.length) box.appendChild(el('div', { 'class': 'small muted' }, t('map.more', { n: g.open_count - g.cases.length })));
    return box;
  }

  map.on('click', function (e) {
    var url = '/console/map/grid?lon=' + e.latlng.lng.toFixed(7) + '&lat=' + e.latlng.lat.toFixed(7);
    getJSON(url).then(function (g) {
      highlight.clearLayers();
      if (g.feature) {
        L.geoJSON(g.feature, { interactive: false, style: { color: '#1565c0', weight: 3, fillColor: '#1565c0', fillOpacity: 0.08, renderer: regionRenderer, pane: 'regions' } }).addTo(highlight);
      }
      L.popup({ maxWidth: 340, minWidth: 220 }).setLatLng(e.latlng).setContent(gridPopup(g)).openOn(map);
    }, function (err) {
      highlight.clearLayers();
      if (err.status === 404) L.popup().setLatLng(e.latlng).setContent(el('span', null, t('map.not_your_grid'))).openOn(map);
      else setStatus(t('map.error'), true);
    });
  });

  // ---------------------------------------------------------------- hotspots

  /* Places where one subcategory keeps coming back (/api/v1/stats/hotspots: cells of
   * HOTSPOT_CELL_M metres with at least HOTSPOT_MIN cases), for the period of the date filters
   * or the last HOTSPOT_DAYS days, narrowed to the category filter. Drawn on the cases' canvas
   * beneath the cases, so a case inside a circle still takes the click. */
  var HOTSPOT_DAYS = 30;
  var HOTSPOT_CELL_M = 300;
  var HOTSPOT_MIN = 3;
  var hotspotLayer = L.layerGroup();
  var hotspotToggle = document.getElementById('hotspot-toggle');
  var hotspotStatus = document.getElementById('hotspot-status');
  var hotspotCtrl = null;
  var hotspotsOn = false;

  /* A day on the Beijing calendar, `days` from `day` (today when none). */
  function shiftDay(day, days) {
    var base = day ? Date.parse(day + 'T00:00:00Z') : Date.now() + 8 * 3600000;
    return new Date(base + days * 86400000).toISOString().slice(0, 10);
  }
  function hotspotPeriod() {
    var from = form.elements.from ? form.elements.from.value : '';
    var to = form.elements.to ? form.elements.to.value : '';
    if (!to) to = shiftDay(null, 0);
    if (!from) from = shiftDay(to, -(HOTSPOT_DAYS - 1));
    if (from > to) from = to;
    return { from: from, to: to };
  }

  function hotspotPopup(h) {
    var box = el('div', { 'class': 'hotspot-popup', 'data-testid': 'hotspot-popup', 'data-category': h.category_code });
    box.appendChild(el('strong', null, h.category_name || categoryLabel[h.category_code] || h.category_code));
    box.appendChild(el('div', { 'class': 'small muted' }, h.category_code));
    box.appendChild(el('div', { 'class': 'count' }, t('map.hotspot_count', { n: h.count })));
    return box;
  }

  function hotspotMarker(h) {
    var marker = L.circleMarker([h.lat, h.lon], {
      renderer: caseRenderer, pane: 'cases',
      radius: Math.min(36, 10 + 4 * Math.sqrt(h.count)),
      color: '#7f2704', weight: 2, fillColor: '#f16913', fillOpacity: 0.35,
      bubblingMouseEvents: false
    });
    marker.bindPopup(function () { return hotspotPopup(h); }, { minWidth: 160, maxWidth: 280 });
    return marker;
  }

  function showHotspotStatus(text, isError) {
    if (!hotspotStatus) return;
    hotspotStatus.textContent = text;
    hotspotStatus.classList.toggle('error', !!isError);
  }

  function loadHotspots() {
    if (!hotspotsOn) return Promise.resolve();
    if (hotspotCtrl) hotspotCtrl.abort();
    hotspotCtrl = new AbortController();
    var p = hotspotPeriod();
    var q = new URLSearchParams({ from: p.from, to: p.to, cell_m: String(HOTSPOT_CELL_M), min: String(HOTSPOT_MIN) });
    showHotspotStatus(t('map.loading'));
    return getJSON('/api/v1/stats/hotspots?' + q.toString(), hotspotCtrl.signal).then(function (body) {
      var rows = Array.isArray(body) ? body : (body && body.rows) || [];
      var category = form.elements.category ? form.elements.category.value : '';
      if (category) rows = rows.filter(function (h) { return h.category_code === category; });
      hotspotLayer.clearLayers();
      rows.forEach(function (h) { hotspotLayer.addLayer(hotspotMarker(h)); });
      hotspotLayer.eachLayer(function (m) { m.bringToBack(); });
      showHotspotStatus(t(rows.length ? 'map.hotspots' : 'map.hotspots_none', { n: rows.length, from: p.from, to: p.to }));
      document.body.dataset.hotspots = String(rows.length);
    }, function (e) {
      if (e.name === 'AbortError') return;
      showHotspotStatus(t('map.hotspots_error'), true);
      document.body.dataset.hotspots = 'error';
    });
  }

  function setHotspots(on) {
    hotspotsOn = on;
    if (hotspotToggle) hotspotToggle.setAttribute('aria-pressed', String(on));
    var q = new URLSearchParams(location.search);
    if (on) q.set('hotspots', '1'); else q.delete('hotspots');
    history.replaceState(null, '', location.pathname + (q.toString() ? '?' + q.toString() : ''));
    if (on) {
      hotspotLayer.addTo(map);
      return loadHotspots();
    }
    if (hotspotCtrl) hotspotCtrl.abort();
    map.removeLayer(hotspotLayer);
    hotspotLayer.clearLayers();
    showHotspotStatus('');
    delete document.body.dataset.hotspots;
    return Promise.resolve();
  }
  if (hotspotToggle) {
    hotspotToggle.addEventListener('click', function () { setHotspots(!hotspotsOn); });
  }

  // ---------------------------------------------------------------- wiring

  var moveTimer = null;
  map.on('moveend', function () {
    clearTimeout(moveTimer);
    moveTimer = setTimeout(function () {
      showLevels();
      if (map.getZoom() >= COMMUNITY_ZOOM) loadLevel('community').catch(function () {});
      loadGrids();
      loadCases().catch(function () {});
    }, 120);
  });

  function applyFilters(ev) {
    if (ev) ev.preventDefault();
    var p = filterParams();
    var now = new URLSearchParams(location.search);
    if (now.get('case')) p.set('case', now.get('case'));
    if (hotspotsOn) p.set('hotspots', '1');
    history.replaceState(null, '', location.pathname + (p.toString() ? '?' + p.toString() : ''));
    setStatus(t('map.loading'));
    loadCases().catch(function () {});
    loadHotspots();
  }
  form.addEventListener('submit', applyFilters);
  form.querySelectorAll('select, input').forEach(function (input) { input.addEventListener('change', applyFilters); });

  /* Keep the cases live; skip a refresh while someone reads a popup. */
  setInterval(function () {
    if (document.hidden || map._popup && map.hasLayer(map._popup)) return;
    loadCases().catch(function () {});
  }, 60000);

  var first = [loadLevel('district'), loadLevel('street'), loadCases()];
  if (here.get('hotspots') === '1') first.push(setHotspots(true));
  if (map.getZoom() >= COMMUNITY_ZOOM) first.push(loadLevel('community'));
  if (map.getZoom() >= GRID_ZOOM) first.push(loadGrids());
  Promise.all(first).then(function () {
    showFocus();
    /* For the benchmark: milliseconds from navigation start to drawn. */
    window.wanggeMapReadyMs = performance.now();
    document.body.dataset.mapReady = '1';
  }, function (e) {
    console.error('map', e);
    setStatus(t('map.error'), true);
    showFocus();
    document.body.dataset.mapReady = 'error';
  });

  window.wanggeMap = map;
})();
