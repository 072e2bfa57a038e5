/* wangge — the bell in the page header: the number of unread notifications, fetched from
 * /api/v1/notifications/unread-count with the session cookie, again every minute and when the
 * page comes back into view. Without this script the bell is a plain link to the notices page.
 */
(function () {
  'use strict';

  var bell = document.querySelector('[data-testid="bell"]');
  if (!bell || !window.fetch) { return; }
  var count = bell.querySelector('[data-testid="notice-count"]');

  function show(n) {
    if (!count) { return; }
    if (n > 0) {
      count.textContent = n > 99 ? '99+' : String(n);
      count.hidden = false;
      bell.classList.add('has-unread');
    } else {
      count.hidden = true;
      bell.classList.remove('has-unread');
    }
  }

  function refresh() {
    fetch('/api/v1/notifications/unread-count', { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) { if (body && typeof body.unread === 'number') { show(body.unread); } })
      .catch(function () { /* offline: keep what is shown */ });
  }

  refresh();
  setInterval(refresh, 60000);
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') { refresh(); }
  });
})();
