// The case page's map: the case's position and its grid, drawn by the shared mini map.
(function () {
  var el = document.getElementById('case-map');
  if (!el || typeof window.wanggeMiniMap !== 'function') return;
  var geometry = null;
  try { geometry = JSON.parse(document.getElementById('grid-geometry').textContent); } catch (e) { geometry = null; }
  if (typeof geometry === 'string') { try { geometry = JSON.parse(geometry); } catch (e) { geometry = null; } }
  window.wanggeMiniMap(el, { lon: parseFloat(el.dataset.lon), lat: parseFloat(el.dataset.lat), gridGeoJSON: geometry });
})();
