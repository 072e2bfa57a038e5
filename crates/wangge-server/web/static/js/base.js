/* 基础数据 pages: the small map of a house or component (#record-map), the map of a component
 * list's page (#components-map, markers coloured by status, from #components-data), and the
 * position picker of a registration form (#pick-map: a click fills lon and lat). Pages work
 * without it; it sets data-ready="1" on a map once drawn. */
(function () {
  'use strict';

  /* The component status colours; the legend's swatches use the same (base.css). */
  var STATUS = { in_use: '#2e7d32', damaged: '#ef6c00', missing: '#c62828', removed: '#757575' };

  function num(v) {
    var n = parseFloat(v);
    return isFinite(n) ? n : NaN;
  }

  var record = document.getElementById('record-map');
  if (record && typeof window.wanggeMiniMap === 'function') {
    window.wanggeMiniMap(record, {
      lon: num(record.dataset.lon),
      lat: num(record.dataset.lat),
      gridCode: record.dataset.grid || null
    });
    record.dataset.ready = '1';
  }

  var list = document.getElementById('components-map');
  if (list && typeof L !== 'undefined') {
    var items = [];
    try { items = JSON.parse(document.getElementById('components-data').textContent || '[]'); } catch (e) { items = []; }
    var map = L.map(list, { preferCanvas: true, attributionControl: false, maxZoom: 19 });
    var tiles = list.getAttribute('data-tile-url');
    if (tiles) L.tileLayer(tiles, { maxZoom: 19, subdomains: '01234567' }).addTo(map);
    var points = [];
    items.forEach(function (c) {
      if (!isFinite(c.lat) || !isFinite(c.lon)) return;
      var marker = L.circleMarker([c.lat, c.lon], {
        radius: 7, color: '#ffffff', weight: 2, fillColor: STATUS[c.status] || '#1565c0', fillOpacity: 0.95
      }).addTo(map);
      // Built as elements, not HTML text: names are typed by people.
      var box = document.createElement('div');
      var link = document.createElement('a');
      link.href = c.href;
      link.textContent = c.name || c.code;
      box.appendChild(link);
      var line = document.createElement('div');
      line.className = 'small muted';
      line.textContent = c.code + ' · ' + c.label;
      box.appendChild(line);
      marker.bindPopup(box);
      points.push([c.lat, c.lon]);
    });
    if (points.length) {
      map.fitBounds(points, { padding: [24, 24], maxZoom: 17 });
    } else {
      map.setView([22.54, 114.05], 11);
    }
    list.dataset.markers = String(points.length);
    list.dataset.ready = '1';
  }

  var pick = document.getElementById('pick-map');
  if (pick && typeof window.wanggeMiniMap === 'function') {
    var form = pick.closest('form');
    var lonInput = form && form.querySelector('input[name=lon]');
    var latInput = form && form.querySelector('input[name=lat]');
    if (lonInput && latInput) {
      var lon = num(lonInput.value);
      var lat = num(latInput.value);
      var picker = window.wanggeMiniMap(pick, { lon: lon, lat: lat, gridCode: pick.dataset.region || null });
      if (picker) {
        var chosen = null;
        picker.on('click', function (ev) {
          lonInput.value = ev.latlng.lng.toFixed(6);
          latInput.value = ev.latlng.lat.toFixed(6);
          if (chosen) {
            chosen.setLatLng(ev.latlng);
          } else {
            chosen = L.circleMarker(ev.latlng, { radius: 7, color: '#ffffff', weight: 2, fillColor: '#1565c0', fillOpacity: 0.95 }).addTo(picker);
          }
        });
        pick.dataset.ready = '1';
      }
    }
  }
})();
