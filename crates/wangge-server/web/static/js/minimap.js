/* A small map of one place: wanggeMiniMap(element, {lon, lat, gridGeoJSON?, gridCode?}).
 * Draws a marker and, if given, the grid outline (a GeoJSON geometry, feature or collection,
 * or a region code fetched from /console/map/region/{code}). No tiles unless the element
 * carries data-tile-url (from the server's configured tile URL). Needs Leaflet loaded. */
(function () {
  'use strict';

  function parse(value) {
    if (typeof value !== 'string') return value || null;
    try { return JSON.parse(value); } catch (e) { return null; }
  }

  window.wanggeMiniMap = function (element, opts) {
    if (!element || typeof L === 'undefined') return null;
    opts = opts || {};
    var lon = Number(opts.lon), lat = Number(opts.lat);
    var hasPoint = isFinite(lon) && isFinite(lat);
    var map = L.map(element, { preferCanvas: true, attributionControl: false, scrollWheelZoom: false, maxZoom: 19 });
    var tiles = element.getAttribute('data-tile-url');
    if (tiles) L.tileLayer(tiles, { maxZoom: 19, subdomains: '01234567' }).addTo(map);
    if (hasPoint) {
      map.setView([lat, lon], 17);
      L.circleMarker([lat, lon], { radius: 7, color: '#ffffff', weight: 2, fillColor: '#c62828', fillOpacity: 0.95 }).addTo(map);
    } else {
      map.setView([22.54, 114.05], 12);
    }

    function drawOutline(geojson) {
      if (!geojson) return;
      var outline = L.geoJSON(geojson, { interactive: false, style: { color: '#1565c0', weight: 2, fillColor: '#1565c0', fillOpacity: 0.08 } }).addTo(map);
      var bounds = outline.getBounds();
      if (bounds.isValid()) {
        if (hasPoint) bounds.extend([lat, lon]);
        map.fitBounds(bounds, { padding: [12, 12], maxZoom: 18 });
      }
    }

    var grid = parse(opts.gridGeoJSON);
    if (grid) {
      drawOutline(grid);
    } else if (opts.gridCode) {
      fetch('/console/map/region/' + encodeURIComponent(opts.gridCode), { credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(drawOutline)
        .catch(function () { /* the marker alone is still useful */ });
    }
    return map;
  };
})();
