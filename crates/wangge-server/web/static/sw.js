/* wangge service worker (scope /): keeps the grid worker's phone page usable offline.
 *
 * - /m (a navigation): network first; a good answer is kept, and when the network fails the
 *   kept copy is shown, so the page opens offline and its script can queue reports.
 * - The page's shell files (CSS, JS, Leaflet, icons, manifest): cache first, refreshed in the
 *   background, so the next visit gets a new version.
 * - Everything else (the API, JSON answers, other console pages, POSTs): not touched, never kept.
 *
 * The kept page is personal (name, grid, tasks): it is dropped when the user signs out or
 * the server answers /m with a redirect (signed out).
 */
'use strict';

var VERSION = 'wangge-phone-v2';
var PAGE = '/m';
var SHELL = [
  '/static/css/console.css',
  '/static/css/phone.css',
  '/static/js/phone.js',
  '/static/js/field.js',
  '/static/vendor/leaflet-1.9.4/leaflet.js',
  '/static/vendor/leaflet-1.9.4/leaflet.css',
  '/static/img/icon.svg',
  '/static/img/icon-192.png',
  '/static/img/icon-512.png',
  '/manifest.webmanifest'
];

function isShell(url) {
  return SHELL.indexOf(url.pathname) >= 0 || url.pathname.indexOf('/static/vendor/leaflet-1.9.4/') === 0;
}

/** Keeps a fresh copy of the page if the user is signed in (a redirect means signed out). */
function keepPage(cache) {
  return fetch(PAGE, { credentials: 'same-origin', redirect: 'manual', cache: 'no-store' })
    .then(function (r) {
      if (r.ok && r.type === 'basic') { return cache.put(PAGE, r); }
      if (r.type === 'opaqueredirect') { return cache.delete(PAGE); }
      return undefined;
    })
    .catch(function () { return undefined; });
}

self.addEventListener('install', function (event) {
  event.waitUntil(
    caches.open(VERSION).then(function (cache) {
      // One by one: a file missing now (e.g. Leaflet not vendored) must not stop the rest.
      return Promise.all(SHELL.map(function (url) {
        return cache.add(new Request(url, { cache: 'reload' })).catch(function () { return undefined; });
      })).then(function () { return keepPage(cache); });
    }).then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener('activate', function (event) {
  event.waitUntil(
    caches.keys().then(function (keys) {
      return Promise.all(keys.filter(function (k) {
        return k.indexOf('wangge-phone-') === 0 && k !== VERSION;
      }).map(function (k) { return caches.delete(k); }));
    }).then(function () { return self.clients.claim(); })
  );
});

self.addEventListener('message', function (event) {
  var type = event.data && event.data.type;
  if (type === 'cache-page') {
    event.waitUntil(caches.open(VERSION).then(keepPage));
  } else if (type === 'forget-page') {
    event.waitUntil(caches.open(VERSION).then(function (c) { return c.delete(PAGE); }));
  }
});

function offline() {
  var html = '<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">' +
    '<title>wangge</title><p style="font:16px system-ui,sans-serif;padding:16px">' +
    '网络不通，页面还没有保存在手机上。请联网后打开一次。<br>No network, and this page has not been kept on the phone yet: open it once while online.</p>';
  return new Response(html, { status: 503, headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' } });
}

function pageNetworkFirst(request, url) {
  return fetch(request).then(function (response) {
    if (response.ok && response.type === 'basic' && url.search === '') {
      var copy = response.clone();
      caches.open(VERSION).then(function (c) { return c.put(PAGE, copy); });
    } else if (response.type === 'opaqueredirect') {
      caches.open(VERSION).then(function (c) { return c.delete(PAGE); });
    }
    return response;
  }, function () {
    return caches.open(VERSION)
      .then(function (c) { return c.match(PAGE); })
      .then(function (hit) { return hit || offline(); });
  });
}

function shellCacheFirst(event) {
  var request = event.request;
  return caches.open(VERSION).then(function (cache) {
    return cache.match(request, { ignoreSearch: true }).then(function (hit) {
      var fresh = fetch(request).then(function (response) {
        if (response.ok && response.type === 'basic') { return cache.put(request, response.clone()).then(function () { return response; }); }
        return response;
      });
      if (hit) {
        event.waitUntil(fresh.catch(function () { return undefined; }));
        return hit;
      }
      return fresh;
    });
  });
}

self.addEventListener('fetch', function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.method === 'POST' && url.pathname === '/logout') {
    event.waitUntil(caches.open(VERSION).then(function (c) { return c.delete(PAGE); }));
    return;
  }
  if (request.method !== 'GET') { return; }
  if (url.pathname === PAGE && request.mode === 'navigate') {
    event.respondWith(pageNetworkFirst(request, url));
  } else if (isShell(url)) {
    event.respondWith(shellCacheFirst(event));
  }
});
