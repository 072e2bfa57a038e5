/* The import page (/console/base/import): sends the chosen file to the API's background import
 * (POST /api/v1/import-jobs/{kind}; the session cookie authenticates it and the browser's
 * Sec-Fetch-Site: same-origin passes its check for changes), polls the job every 500 ms for a
 * progress bar, then shows the report: counts, the columns used, the columns left over and
 * every bad row. Everything from the file (headers, messages quoting cells) is written as text,
 * never as HTML. The status section carries data-state (uploading, running, done, failed) and
 * the report data-outcome (checked, bad, stored, not_stored, failed) for tests. */
(function () {
  'use strict';

  var form = document.getElementById('import-form');
  if (!form) return;
  var statusBox = document.getElementById('import-status');
  var phase = statusBox.querySelector('[data-testid=import-phase]');
  var bar = statusBox.querySelector('progress');
  var count = statusBox.querySelector('[data-testid=import-count]');
  var report = document.getElementById('import-report');
  var kindSelect = form.querySelector('select[name=kind]');
  var districtSelect = form.querySelector('select[name=district]');
  var fileInput = form.querySelector('input[name=file]');
  var sheetInput = form.querySelector('input[name=sheet]');
  var headerList = document.getElementById('import-headers');
  var buttons = form.querySelectorAll('button[type=submit]');

  function json(id) {
    try { return JSON.parse(document.getElementById(id).textContent || '{}'); } catch (e) { return {}; }
  }
  var WORDS = json('import-words');
  var FIELDS = json('import-fields');

  /* A sentence of the page's catalogue with its {name} placeholders filled. */
  function t(key, args) {
    var text = WORDS[key] || key;
    Object.keys(args || {}).forEach(function (k) {
      text = text.split('{' + k + '}').join(String(args[k]));
    });
    return text;
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fieldLabel(name) {
    return name ? (FIELDS[name] || name) : '';
  }

  // ---------------------------------------------------------------- the chosen kind

  function chosenKind() { return kindSelect.value; }

  function showKind() {
    var kind = chosenKind();
    form.dataset.kind = kind;
    form.querySelectorAll('[data-map-kind]').forEach(function (table) {
      table.hidden = table.getAttribute('data-map-kind') !== kind;
    });
    form.querySelectorAll('[data-template]').forEach(function (a) {
      a.hidden = a.getAttribute('data-template') !== kind;
    });
  }
  kindSelect.addEventListener('change', function () {
    showKind();
    report.hidden = true;
    statusBox.hidden = true;
  });
  showKind();

  /* The column choices typed into the visible table, as the API's `field:Header;…`. */
  function mapping() {
    var pairs = [];
    var table = form.querySelector('[data-map-kind="' + chosenKind() + '"]');
    if (!table) return '';
    table.querySelectorAll('input[data-field]').forEach(function (input) {
      var header = input.value.trim();
      // `;` separates the pairs of the API's form, so a header cannot hold one; the server
      // then names the header it did not find, which says what is wrong.
      if (header) pairs.push(input.getAttribute('data-field') + ':' + header.replace(/;/g, ''));
    });
    return pairs.join(';');
  }

  // ---------------------------------------------------------------- status and progress

  function setBusy(busy) {
    buttons.forEach(function (b) { b.disabled = busy; });
    form.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  function setStatus(state, text) {
    statusBox.hidden = false;
    statusBox.dataset.state = state;
    phase.textContent = text;
  }

  /* An indeterminate bar until the server knows how many rows there are. */
  function setProgress(done, total, started) {
    if (total > 0) {
      bar.max = total;
      bar.value = Math.min(done, total);
      var seconds = Math.max((Date.now() - started) / 1000, 0.001);
      count.textContent = t('progress', { done: done, total: total, rate: Math.round(done / seconds) });
    } else {
      bar.removeAttribute('value');
      count.textContent = '';
    }
  }

  function finishProgress(total, started) {
    bar.max = Math.max(total, 1);
    bar.value = bar.max;
    var seconds = ((Date.now() - started) / 1000).toFixed(1);
    count.textContent = t('finished', { total: total, seconds: seconds });
  }

  // ---------------------------------------------------------------- the report

  function flash(kind, text) {
    return el('p', { 'class': 'flash ' + kind, role: kind === 'error' ? 'alert' : 'status', 'data-testid': 'import-outcome' }, text);
  }

  function showFailure(text) {
    report.replaceChildren(flash('error', text));
    report.dataset.outcome = 'failed';
    report.hidden = false;
  }

  function showReport(r, kindOption) {
    var nodes = [];
    var outcome;
    var bad = r.bad_rows || 0;
    if (bad > 0) {
      outcome = r.dry_run ? 'bad' : 'not_stored';
      nodes.push(flash('error', r.dry_run ? t('check_bad', { bad: bad }) : t('not_stored', { bad: bad })));
    } else if (!r.rows) {
      outcome = r.dry_run ? 'checked' : 'stored';
      nodes.push(flash('error', t('no_rows')));
    } else if (r.dry_run) {
      outcome = 'checked';
      nodes.push(flash('ok', t('check_ok', { valid: r.valid })));
    } else if (r.stored) {
      outcome = 'stored';
      var done = flash('ok', t('stored', { created: r.created, updated: r.updated }) + ' ');
      var link = el('a', { href: kindOption.getAttribute('data-list'), 'data-testid': 'import-list-link' },
        t('see_list', { title: kindOption.getAttribute('data-title') }));
      done.appendChild(link);
      nodes.push(done);
    } else {
      outcome = 'not_stored';
      nodes.push(flash('error', t('not_stored', { bad: bad })));
    }

    var counts = el('dl', { 'class': 'fields import-counts', 'data-testid': 'import-counts' });
    var created = r.dry_run || !r.stored ? 'would_create' : 'created';
    var updated = r.dry_run || !r.stored ? 'would_update' : 'updated';
    [['rows', r.rows], ['valid', r.valid], ['bad_rows', bad], [created, r.created], [updated, r.updated]]
      .forEach(function (pair) {
        counts.appendChild(el('dt', {}, t(pair[0])));
        counts.appendChild(el('dd', { 'data-count': pair[0] }, pair[1]));
      });
    var summary = el('div', { 'class': 'card' });
    summary.appendChild(counts);
    nodes.push(summary);

    var columns = el('div', { 'class': 'card import-columns' });
    columns.appendChild(el('h2', {}, t('mapped')));
    var mapTable = el('table', { 'class': 'list', 'data-testid': 'import-mapped' });
    var head = el('tr');
    head.appendChild(el('th', {}, t('field')));
    head.appendChild(el('th', { 'aria-hidden': 'true' }));
    head.appendChild(el('th', {}, t('header')));
    mapTable.appendChild(el('thead')).appendChild(head);
    var body = mapTable.appendChild(el('tbody'));
    (r.mapped || []).forEach(function (pair) {
      var tr = el('tr', { 'data-field': pair[0] });
      tr.appendChild(el('td', {}, fieldLabel(pair[0])));
      tr.appendChild(el('td', { 'class': 'arrow', 'aria-hidden': 'true' }, '←'));
      tr.appendChild(el('td', {}, pair[1]));
      body.appendChild(tr);
    });
    columns.appendChild(mapTable);
    columns.appendChild(el('h2', {}, t('unmapped')));
    var unmapped = r.unmapped_headers || [];
    if (unmapped.length) {
      var list = el('ul', { 'class': 'import-unmapped', 'data-testid': 'import-unmapped' });
      unmapped.forEach(function (h) { list.appendChild(el('li', {}, h)); });
      columns.appendChild(list);
    } else {
      columns.appendChild(el('p', { 'class': 'muted' }, t('unmapped_none')));
    }
    nodes.push(columns);

    var errors = r.errors || [];
    if (errors.length) {
      var box = el('div', { 'class': 'card' });
      box.appendChild(el('h2', {}, t('errors')));
      var wrap = el('div', { 'class': 'table-wrap' });
      var table = el('table', { 'class': 'list import-errors', 'data-testid': 'import-errors' });
      var eh = el('tr');
      ['row', 'column', 'field', 'message'].forEach(function (k) { eh.appendChild(el('th', {}, t(k))); });
      table.appendChild(el('thead')).appendChild(eh);
      var eb = table.appendChild(el('tbody'));
      errors.forEach(function (e) {
        var tr = el('tr', { 'data-row': e.row, 'data-field': e.field || '' });
        tr.appendChild(el('td', {}, e.row));
        tr.appendChild(el('td', {}, e.column || ''));
        tr.appendChild(el('td', {}, fieldLabel(e.field)));
        tr.appendChild(el('td', {}, e.message));
        eb.appendChild(tr);
      });
      wrap.appendChild(table);
      box.appendChild(wrap);
      // The report lists the first 1,000 problems; the count of bad rows goes on beyond.
      if (errors.length >= 1000) box.appendChild(el('p', { 'class': 'small muted' }, t('truncated', { n: errors.length })));
      nodes.push(box);
    }

    // The file's headers offered in the mapping table for the next try.
    headerList.replaceChildren();
    (r.mapped || []).map(function (p) { return p[1]; }).concat(unmapped).forEach(function (h) {
      headerList.appendChild(el('option', { value: h }));
    });

    report.replaceChildren.apply(report, nodes);
    report.dataset.outcome = outcome;
    report.hidden = false;
  }

  // ---------------------------------------------------------------- talking to the API

  /* An API answer as JSON; an error answer becomes a thrown Error with its message. */
  function answer(res) {
    var type = res.headers.get('content-type') || '';
    var body = type.indexOf('application/json') === 0 ? res.json() : res.text().then(function () { return null; });
    return body.then(function (b) {
      if (!res.ok) {
        var msg = b && b.error ? b.error.message : res.statusText;
        var err = new Error(t('refused', { status: res.status, error: msg }));
        err.shown = true;
        throw err;
      }
      return b;
    });
  }

  function poll(url, started) {
    return new Promise(function (resolve, reject) {
      var misses = 0;
      function next() {
        fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
          .then(answer)
          .then(function (job) {
            misses = 0;
            if (job.state === 'running') {
              setProgress(job.done, job.total, started);
              setTimeout(next, 500);
            } else {
              resolve(job);
            }
          })
          .catch(function (e) {
            // A lost poll or two is a network's hiccup; the job goes on on the server.
            misses += 1;
            if (e.shown || misses > 5) reject(e);
            else setTimeout(next, 1000);
          });
      }
      setTimeout(next, 500);
    });
  }

  var lastButton = null;
  buttons.forEach(function (b) {
    b.addEventListener('click', function () { lastButton = b; });
  });

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var submitter = ev.submitter || lastButton || buttons[0];
    var dryRun = submitter.value !== 'false';
    var file = fileInput.files && fileInput.files[0];
    if (!file) { showFailure(t('choose_file')); fileInput.focus(); return; }
    if (!districtSelect.value) { showFailure(t('choose_district')); districtSelect.focus(); return; }
    var max = Number(fileInput.getAttribute('data-max')) || Infinity;
    if (file.size > max) { showFailure(t('too_big', { mb: Math.floor(max / 1048576) })); return; }

    var kind = chosenKind();
    var kindOption = kindSelect.options[kindSelect.selectedIndex];
    var q = new URLSearchParams({ dry_run: String(dryRun), district: districtSelect.value, file_name: file.name });
    if (sheetInput.value.trim()) q.set('sheet', sheetInput.value.trim());
    var map = mapping();
    if (map) q.set('map', map);

    setBusy(true);
    report.hidden = true;
    delete report.dataset.outcome;
    bar.removeAttribute('value');
    count.textContent = '';
    setStatus('uploading', t('uploading', { name: file.name }));
    var started = Date.now();
    fetch('/api/v1/import-jobs/' + encodeURIComponent(kind) + '?' + q.toString(), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { Accept: 'application/json', 'Content-Type': 'application/octet-stream' },
      body: file,
    })
      .then(answer)
      .then(function (job) {
        started = Date.now();
        var working = dryRun ? t('checking') : t('importing');
        setStatus('running', working);
        return poll('/api/v1/import-jobs/' + encodeURIComponent(kind) + '/' + encodeURIComponent(job.id), started);
      })
      .then(function (job) {
        if (job.state === 'done' && job.report) {
          finishProgress(job.report.rows || job.total || 0, started);
          setStatus('done', '');
          showReport(job.report, kindOption);
        } else {
          finishProgress(job.total || 0, started);
          setStatus('failed', '');
          showFailure(t('failed', { error: job.error || '' }));
        }
      })
      .catch(function (e) {
        setStatus('failed', '');
        showFailure(e && e.shown ? e.message : t('network'));
      })
      .then(function () { setBusy(false); });
  });
})();
