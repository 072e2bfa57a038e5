/* The statistics dashboard (/console/stats) and its big screen (/console/stats/wall, the same
 * panels with data-mode="wall": dark, no menu, a clock, a refresh every minute, full screen).
 *
 * Every figure comes from /api/v1/stats/* (the session cookie authenticates; the user's
 * jurisdiction narrows the answers), the outlines of the heat panel from /console/map/regions.
 * Each [data-chart] gets an ECharts canvas and a data-state: loading, ready, empty or error.
 * #dashboard[data-loads] counts finished loads and body[data-dash-ready="1"] is set after the
 * first, for tests. */
(function () {
  'use strict';

  var root = document.getElementById('dashboard');
  if (!root || !window.echarts) return;
  var echarts = window.echarts;

  var cfg = {};
  try { cfg = JSON.parse(document.getElementById('dashboard-config').textContent || '{}'); } catch (e) { cfg = {}; }
  var messages = {};
  try { messages = JSON.parse(document.getElementById('i18n').textContent); } catch (e) { messages = {}; }
  function t(key, args) {
    var s = messages['dashboard.' + key] || key;
    if (args) Object.keys(args).forEach(function (k) { s = s.split('{' + k + '}').join(String(args[k])); });
    return s;
  }

  var wall = root.dataset.mode === 'wall';
  var lang = document.documentElement.lang || 'zh-CN';
  var chinese = lang.toLowerCase().indexOf('zh') === 0;

  // ---------------------------------------------------------------- formatting

  var integer = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });
  var decimal = new Intl.NumberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  function isNum(v) { return typeof v === 'number' && isFinite(v); }
  function num(v) { return isNum(v) ? integer.format(v) : '—'; }
  function pct(v) { return isNum(v) ? decimal.format(v) + '%' : '—'; }
  function dec(v) { return isNum(v) ? decimal.format(v) : '—'; }
  function esc(s) {
    return String(s === null || s === undefined ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  /* The server's clock on the working calendar's wall (Beijing): read with the UTC getters. */
  var skew = Date.parse(cfg.now);
  skew = isFinite(skew) ? skew - Date.now() : 0;
  var offsetMs = (isNum(cfg.offset_minutes) ? cfg.offset_minutes : 480) * 60000;
  function wallNow() { return new Date(Date.now() + skew + offsetMs); }
  function isoDay(d) { return d.toISOString().slice(0, 10); }
  function utcDay(y, m, d) { return new Date(Date.UTC(y, m, d)); }
  var hhmm = new Intl.DateTimeFormat(lang, { timeZone: 'UTC', hour: '2-digit', minute: '2-digit', hour12: false });

  function presetRange(preset) {
    var now = wallNow();
    var y = now.getUTCFullYear(), m = now.getUTCMonth(), d = now.getUTCDate();
    var today = utcDay(y, m, d);
    switch (preset) {
      case 'today': return [today, today];
      case 'week': return [utcDay(y, m, d - (today.getUTCDay() + 6) % 7), today];
      case 'last_month': return [utcDay(y, m - 1, 1), utcDay(y, m, 0)];
      case 'year': return [utcDay(y, 0, 1), today];
      default: return [utcDay(y, m, 1), today];
    }
  }

  // ---------------------------------------------------------------- what is asked for

  var DAY = /^\d{4}-\d{2}-\d{2}$/;
  var params = { preset: null, from: null, to: null, level: cfg.level || 'street' };
  if (cfg.from && cfg.to) {
    params.from = cfg.from;
    params.to = cfg.to;
  } else {
    params.preset = cfg.preset || 'month';
  }

  function period() {
    if (params.preset) {
      var r = presetRange(params.preset);
      return { from: isoDay(r[0]), to: isoDay(r[1]) };
    }
    return { from: params.from, to: params.to };
  }

  /* The page's own address for what is shown (preset or days, and the level). */
  function ownQuery() {
    var q = new URLSearchParams();
    if (params.preset) q.set('preset', params.preset);
    else { q.set('from', params.from); q.set('to', params.to); }
    q.set('level', params.level);
    return q.toString();
  }

  var form = document.getElementById('dash-period');
  var fromInput = document.getElementById('dash-from');
  var toInput = document.getElementById('dash-to');
  var levelSelect = document.getElementById('dash-level');
  var statusEl = document.getElementById('dash-status');
  var periodText = document.getElementById('dash-period-text');
  var wallLink = document.getElementById('dash-wall-link');
  var backLink = document.getElementById('wall-back');

  function setStatus(text, isError) {
    if (!statusEl) return;
    statusEl.textContent = text;
    statusEl.classList.toggle('error', !!isError);
  }

  function showControls(p) {
    if (fromInput) fromInput.value = p.from;
    if (toInput) toInput.value = p.to;
    if (levelSelect) levelSelect.value = params.level;
    root.querySelectorAll('[data-preset]').forEach(function (b) {
      b.setAttribute('aria-pressed', String(b.dataset.preset === params.preset));
    });
    var levelName = levelSelect && levelSelect.selectedOptions[0];
    root.querySelectorAll('.dash-level-name').forEach(function (el) {
      if (levelName) el.textContent = levelName.textContent.trim();
    });
    if (periodText) periodText.textContent = t('period', { from: p.from, to: p.to });
    var q = ownQuery();
    if (wallLink) wallLink.href = '/console/stats/wall?' + q;
    if (backLink) backLink.href = '/console/stats?' + q;
    if (!wall) history.replaceState(null, '', location.pathname + '?' + q);
    root.querySelectorAll('a[data-report]').forEach(function (a) {
      var r = new URLSearchParams({ format: 'xlsx', from: p.from, to: p.to });
      a.href = '/api/v1/stats/' + a.dataset.report + '?' + r.toString();
    });
  }

  // ---------------------------------------------------------------- fetching

  function getJSON(url, signal) {
    return fetch(url, { credentials: 'same-origin', signal: signal, headers: { Accept: 'application/json' } })
      .then(function (r) {
        var type = r.headers.get('content-type') || '';
        if (type.indexOf('application/json') !== 0) {
          var e = new Error('http ' + r.status + ' (not json)');
          e.status = r.status;
          throw e;
        }
        return r.json().then(function (body) {
          if (!r.ok) { var err = new Error('http ' + r.status); err.status = r.status; err.body = body; throw err; }
          return body;
        });
      });
  }

  /* The rows of a statistics answer ({from, to, rows}). */
  function rows(url, signal) {
    return getJSON(url, signal).then(function (body) {
      return body && Array.isArray(body.rows) ? body.rows : [];
    });
  }

  function isAbort(e) { return e && e.name === 'AbortError'; }

  // ---------------------------------------------------------------- charts

  /* Okabe–Ito: told apart with every common colour-vision deficiency. */
  var PALETTE = wall
    ? ['#56B4E9', '#E69F00', '#009E73', '#F0E442', '#CC79A7', '#D55E00']
    : ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9'];
  /* Grades from best to worst, the letter always written on the bar as well. */
  var GRADE = wall
    ? { A: '#9fc5e8', B: '#6fa8dc', C: '#3d85c6', D: '#f6b26b', E: '#e06666' }
    : { A: '#0b5394', B: '#3d85c6', C: '#6fa8dc', D: '#e69138', E: '#cc4125' };
  var INK = wall ? '#e6edf3' : '#263238';
  var MUTED = wall ? '#9fb3c8' : '#607d8b';
  var FONT = wall ? 16 : 12;

  var charts = {};
  /* Finished loads of the panels (the first draws with animation). */
  var loads = 0;
  function chartEl(name) { return root.querySelector('[data-chart="' + name + '"]'); }
  function chart(name) {
    if (charts[name]) return charts[name];
    var el = chartEl(name);
    if (!el) return null;
    charts[name] = echarts.init(el, wall ? 'dark' : null, { locale: chinese ? 'ZH' : 'EN' });
    return charts[name];
  }
  function setState(name, state) {
    var el = chartEl(name);
    if (el) el.dataset.state = state;
  }

  function base(extra) {
    var o = {
      backgroundColor: 'transparent',
      color: PALETTE,
      textStyle: { fontSize: FONT, color: INK },
      // The big screen animates its first drawing, not every minute's refresh.
      animation: !(wall && loads > 0),
      animationDuration: wall ? 600 : 400,
      tooltip: { confine: true, textStyle: { fontSize: FONT } }
    };
    Object.keys(extra).forEach(function (k) { o[k] = extra[k]; });
    return o;
  }

  /* A chart with a sentence instead of data: nothing in the period, or a failure. */
  function message(name, text, state) {
    var c = chart(name);
    if (!c) return;
    c.setOption(base({
      title: { text: text, left: 'center', top: 'middle', textStyle: { color: MUTED, fontSize: FONT + 2, fontWeight: 'normal' } }
    }), true);
    setState(name, state || 'empty');
  }

  function draw(name, option) {
    var c = chart(name);
    if (!c) return;
    c.setOption(base(option), true);
    setState(name, 'ready');
  }

  var axisLabel = { color: MUTED, fontSize: FONT };
  var splitLine = { lineStyle: { color: wall ? '#2b3a4a' : '#eceff1' } };

  function drawTrend(days) {
    if (!days.length) return message('trend', t('trend_empty'));
    var sameYear = days[0].day.slice(0, 4) === days[days.length - 1].day.slice(0, 4);
    var kinds = [['reported', 'circle', 'solid'], ['registered', 'rect', 'dashed'], ['closed', 'triangle', 'dotted']];
    draw('trend', {
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      legend: { top: 0, textStyle: { color: INK, fontSize: FONT } },
      tooltip: {
        trigger: 'axis', confine: true, textStyle: { fontSize: FONT },
        valueFormatter: function (v) { return num(v); }
      },
      xAxis: {
        type: 'category', boundaryGap: false, axisLabel: axisLabel,
        data: days.map(function (d) { return sameYear ? d.day.slice(5) : d.day; })
      },
      yAxis: { type: 'value', minInterval: 1, axisLabel: axisLabel, splitLine: splitLine },
      series: kinds.map(function (k) {
        return {
          name: t(k[0]), type: 'line', symbol: k[1], symbolSize: wall ? 8 : 6,
          showSymbol: days.length <= 62, lineStyle: { type: k[2], width: wall ? 3 : 2 },
          data: days.map(function (d) { return isNum(d[k[0]]) ? d[k[0]] : 0; })
        };
      })
    });
  }

  /* Rows with a score, best first (the API's rank), at most `limit`. */
  function ranked(list, limit) {
    return list.filter(function (r) { return isNum(r.score); })
      .sort(function (a, b) { return (a.rank || 1e9) - (b.rank || 1e9) || b.score - a.score; })
      .slice(0, limit);
  }

  function drawRanking(name, list, label, details) {
    var top = ranked(list, 15);
    if (!top.length) return message(name, t('empty'));
    draw(name, {
      grid: { left: 8, right: wall ? 72 : 60, top: 8, bottom: 8, containLabel: true },
      tooltip: {
        trigger: 'item', confine: true, textStyle: { fontSize: FONT },
        formatter: function (p) {
          var r = p.data.row;
          var lines = ['<strong>' + esc(label(r)) + '</strong>',
            esc(t('score')) + '：' + esc(dec(r.score)) + ' · ' + esc(t('grade')) + ' ' + esc(r.grade || '—') + ' · ' + esc(t('rank')) + ' ' + esc(r.rank || '—')];
          details(r).forEach(function (d) { lines.push(esc(d[0]) + '：' + esc(d[1])); });
          return lines.join('<br>');
        }
      },
      xAxis: { type: 'value', min: 0, max: 100, axisLabel: axisLabel, splitLine: splitLine },
      yAxis: {
        type: 'category', inverse: true, axisLabel: { color: INK, fontSize: FONT, width: wall ? 150 : 120, overflow: 'truncate' },
        data: top.map(label)
      },
      series: [{
        type: 'bar', barMaxWidth: wall ? 22 : 16,
        data: top.map(function (r) {
          return { value: r.score, row: r, itemStyle: { color: GRADE[r.grade] || PALETTE[0] } };
        }),
        label: {
          show: true, position: 'right', color: INK, fontSize: FONT,
          formatter: function (p) { return dec(p.value) + ' ' + (p.data.row.grade || ''); }
        }
      }]
    });
  }

  function drawAreas(list) {
    drawRanking('areas', list, function (r) { return r.name || r.code; }, function (r) {
      return [[t('reported'), num(r.reported)], [t('closure_rate'), pct(r.closure_rate)], [t('on_time_closure_rate'), pct(r.on_time_closure_rate)]];
    });
  }

  function drawUnits(list) {
    drawRanking('units', list, function (r) { return r.unit_name || r.unit; }, function (r) {
      return [[t('due'), num(r.due)], [t('on_time_handling_rate'), pct(r.on_time_handling_rate)],
        [t('handling_rate'), pct(r.handling_rate)], [t('rework_rate'), pct(r.rework_rate)]];
    });
  }

  /* 未诉先办 against the hotline: per area, the problems patrols found and the hotline reports no
   * patrol had found first, with the share the patrols found (the areas with most of both). */
  function drawDiscovery(list) {
    var top = list.filter(function (r) { return r.registered_by_patrol + (r.hotline_missed || 0) > 0; })
      .sort(function (a, b) {
        return (b.registered_by_patrol + (b.hotline_missed || 0)) - (a.registered_by_patrol + (a.hotline_missed || 0)) ||
          String(a.code).localeCompare(String(b.code));
      })
      .slice(0, 10);
    if (!top.length) return message('discovery', t('empty'));
    draw('discovery', {
      grid: { left: 8, right: 8, top: 32, bottom: 8, containLabel: true },
      legend: { top: 0, textStyle: { color: INK, fontSize: FONT } },
      tooltip: { trigger: 'axis', confine: true, textStyle: { fontSize: FONT } },
      xAxis: {
        type: 'category', axisLabel: { color: INK, fontSize: FONT, interval: 0, rotate: top.length > 5 ? 30 : 0, width: 90, overflow: 'truncate' },
        data: top.map(function (r) { return r.name || r.code; })
      },
      yAxis: [
        { type: 'value', minInterval: 1, axisLabel: axisLabel, splitLine: splitLine },
        { type: 'value', min: 0, max: 100, axisLabel: { color: INK, fontSize: FONT, formatter: '{value}%' }, splitLine: { show: false } }
      ],
      series: [
        { name: t('patrol_found'), type: 'bar', barMaxWidth: wall ? 22 : 16, itemStyle: { color: PALETTE[0] },
          data: top.map(function (r) { return r.registered_by_patrol; }) },
        { name: t('hotline_missed'), type: 'bar', barMaxWidth: wall ? 22 : 16, itemStyle: { color: PALETTE[3] || PALETTE[1] },
          data: top.map(function (r) { return r.hotline_missed || 0; }) },
        { name: t('hotline_discovery_rate'), type: 'line', yAxisIndex: 1, itemStyle: { color: PALETTE[2] || PALETTE[1] },
          tooltip: { valueFormatter: function (v) { return pct(v); } },
          data: top.map(function (r) { return isNum(r.hotline_discovery_rate) ? r.hotline_discovery_rate : null; }) }
      ]
    });
  }

  function drawCategories(list) {
    var top = list.filter(function (r) { return r.reported > 0; })
      .sort(function (a, b) { return b.reported - a.reported || String(a.code).localeCompare(String(b.code)); })
      .slice(0, 10);
    if (!top.length) return message('categories', t('empty'));
    draw('categories', {
      grid: { left: 8, right: 48, top: 8, bottom: 8, containLabel: true },
      tooltip: {
        trigger: 'item', confine: true, textStyle: { fontSize: FONT },
        formatter: function (p) {
          var r = p.data.row;
          return '<strong>' + esc(r.name || r.code) + '</strong> (' + esc(r.code) + ')<br>' +
            esc(t('reported')) + '：' + esc(num(r.reported)) + '<br>' +
            esc(t('registered')) + '：' + esc(num(r.registered)) + '<br>' +
            esc(t('closed')) + '：' + esc(num(r.closed)) + '<br>' +
            esc(t('closure_rate')) + '：' + esc(pct(r.closure_rate));
        }
      },
      xAxis: { type: 'value', minInterval: 1, axisLabel: axisLabel, splitLine: splitLine },
      yAxis: {
        type: 'category', inverse: true, axisLabel: { color: INK, fontSize: FONT, width: wall ? 150 : 130, overflow: 'truncate' },
        data: top.map(function (r) { return r.name || r.code; })
      },
      series: [{
        type: 'bar', barMaxWidth: wall ? 22 : 16, itemStyle: { color: PALETTE[0] },
        data: top.map(function (r) { return { value: r.reported, row: r }; }),
        label: { show: true, position: 'right', color: INK, fontSize: FONT, formatter: function (p) { return num(p.value); } }
      }]
    });
  }

  // ---------------------------------------------------------------- the heat panel

  var MAP_NAME = 'wangge-outlines';
  var outlines = null;

  function eachPoint(coords, fn) {
    if (typeof coords[0] === 'number') fn(coords);
    else coords.forEach(function (c) { eachPoint(c, fn); });
  }

  /* The outlines around the user's region, registered once: a district and its streets, a
   * street and its communities, or a community; the city's districts and streets with no region. */
  function loadOutlines() {
    if (!cfg.outlines) return Promise.resolve(null);
    if (outlines) return outlines;
    var region = cfg.region || '';
    var levels = region.length >= 12 ? ['community'] : region.length >= 9 ? ['street', 'community'] : ['district', 'street'];
    outlines = Promise.all(levels.map(function (l) { return getJSON('/console/map/regions?level=' + l); }))
      .then(function (collections) {
        var coarse = [];
        var features = [];
        var box = [Infinity, Infinity, -Infinity, -Infinity];
        // Finer outlines first, so the coarser ones are drawn over them.
        collections.slice().reverse().forEach(function (fc, i) {
          var isCoarse = i === collections.length - 1 && collections.length > 1;
          (fc.features || []).forEach(function (f) {
            var code = f.properties && f.properties.code;
            if (!code || code.indexOf(region) !== 0 || !f.geometry) return;
            features.push(f);
            if (isCoarse) coarse.push(code);
            eachPoint(f.geometry.coordinates, function (p) {
              box[0] = Math.min(box[0], p[0]); box[1] = Math.min(box[1], p[1]);
              box[2] = Math.max(box[2], p[0]); box[3] = Math.max(box[3], p[1]);
            });
          });
        });
        if (!features.length) return null;
        echarts.registerMap(MAP_NAME, { type: 'FeatureCollection', features: features });
        return { coarse: coarse, lat: (box[1] + box[3]) / 2 };
      });
    outlines.catch(function () { outlines = null; });
    return outlines;
  }

  function drawHeat(hotspots, shape) {
    if (!shape) return message('heat', t('empty'));
    var max = hotspots.reduce(function (m, h) { return Math.max(m, h.count || 0); }, 1);
    var option = {
      geo: {
        map: MAP_NAME, nameProperty: 'code', roam: !wall, silent: true, selectedMode: false,
        aspectScale: Math.cos(shape.lat * Math.PI / 180) || 0.9,
        layoutCenter: ['50%', '50%'], layoutSize: '95%',
        scaleLimit: { min: 0.8, max: 30 },
        label: { show: false },
        itemStyle: { areaColor: wall ? '#17212c' : '#eef2f5', borderColor: wall ? '#3d5166' : '#a7b6c2', borderWidth: 0.6 },
        emphasis: { disabled: true },
        regions: shape.coarse.map(function (code) {
          return { name: code, itemStyle: { areaColor: 'rgba(0,0,0,0)', borderColor: wall ? '#9fb3c8' : '#37474f', borderWidth: wall ? 2 : 1.6 } };
        })
      },
      tooltip: {
        trigger: 'item', confine: true, textStyle: { fontSize: FONT },
        formatter: function (p) { return esc(p.name) + '<br>' + esc(t('cases', { n: num(p.value[2]) })); }
      },
      series: [{
        type: 'scatter', coordinateSystem: 'geo', geoIndex: 0,
        symbolSize: function (v) { return Math.min(wall ? 40 : 32, 5 + 4 * Math.sqrt(v[2])); },
        itemStyle: { opacity: 0.85, borderColor: wall ? '#0b1118' : '#ffffff', borderWidth: 0.6 },
        data: hotspots.map(function (h) {
          return { name: h.category_name || h.category_code, value: [h.lon, h.lat, h.count] };
        })
      }]
    };
    if (hotspots.length) {
      /* Toward the background's opposite with the count (darker on the page, lighter on the
       * dark wall), so the order reads without telling hues apart; sizes grow with it too. */
      option.visualMap = {
        type: 'continuous', min: 1, max: Math.max(2, max), dimension: 2, seriesIndex: 0,
        calculable: false, itemWidth: 12, itemHeight: wall ? 120 : 80, left: 8, bottom: 8,
        text: [num(Math.max(2, max)), '1'], textStyle: { color: INK, fontSize: FONT },
        inRange: { color: wall ? ['#e31a1c', '#fd8d3c', '#fed976'] : ['#fd8d3c', '#e31a1c', '#800026'] }
      };
    }
    draw('heat', option);
  }

  var hotTable = root.querySelector('#dash-hotspots');
  var hotNone = root.querySelector('.dash-hotspots-none');
  function mapLink(h, p) {
    var q = new URLSearchParams({
      lon: String(h.lon), lat: String(h.lat), zoom: '17', hotspots: '1',
      category: h.category_code, state: 'all', from: p.from, to: p.to
    });
    return '/console/map?' + q.toString();
  }

  function drawHotspotTable(hotspots, p) {
    if (!hotTable) return;
    var body = hotTable.tBodies[0];
    body.textContent = '';
    var top = hotspots.filter(function (h) { return h.count >= 3; })
      .sort(function (a, b) { return b.count - a.count; })
      .slice(0, wall ? 6 : 10);
    top.forEach(function (h, i) {
      var tr = document.createElement('tr');
      tr.dataset.category = h.category_code;
      function cell(text, cls) {
        var td = document.createElement('td');
        if (cls) td.className = cls;
        td.textContent = text;
        tr.appendChild(td);
        return td;
      }
      cell(String(i + 1));
      cell((h.category_name || '') + ' ' + h.category_code);
      cell(num(h.count), 'num');
      cell(h.lon.toFixed(5) + ', ' + h.lat.toFixed(5), 'wide');
      if (cfg.map_links) {
        var a = document.createElement('a');
        a.href = mapLink(h, p);
        a.textContent = t('open_map');
        var td = cell('');
        td.appendChild(a);
      }
      body.appendChild(tr);
    });
    hotTable.dataset.state = top.length ? 'ready' : 'empty';
    hotTable.hidden = !top.length;
    if (hotNone) hotNone.hidden = !!top.length;
  }

  /* The grid workers' field work: fewest patrols first, then the lowest coverage — who needs a
   * word from the centre. */
  var fieldTable = document.getElementById('dash-field');
  var fieldNone = root.querySelector('.dash-field-none');
  function drawFieldTable(people) {
    if (!fieldTable) return;
    var body = fieldTable.tBodies[0];
    body.textContent = '';
    var top = people.filter(function (r) { return r.role === 'grid_worker'; })
      .sort(function (a, b) {
        return a.patrols - b.patrols || (a.patrol_coverage || 0) - (b.patrol_coverage || 0) ||
          String(a.username).localeCompare(String(b.username));
      })
      .slice(0, 10);
    top.forEach(function (r) {
      var tr = document.createElement('tr');
      tr.dataset.worker = r.username;
      [[r.display_name || r.username, ''], [r.region_code || '', ''], [num(r.patrols), 'num'],
        [dec(r.patrol_km), 'num'], [pct(r.patrol_coverage), 'num'], [num(r.reported), 'num'],
        [num(r.missed), 'num']].forEach(function (c) {
        var td = document.createElement('td');
        if (c[1]) td.className = c[1];
        td.textContent = c[0];
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    fieldTable.dataset.state = top.length ? 'ready' : 'empty';
    fieldTable.hidden = !top.length;
    if (fieldNone) fieldNone.hidden = !!top.length;
  }

  // ---------------------------------------------------------------- key figures

  function kpi(name, text) {
    var el = root.querySelector('[data-kpi="' + name + '"] .kpi-value');
    if (el) el.textContent = text;
  }

  /* Sums of the area rows (every level adds up to the same totals) and of the unit rows; a list
   * that failed to load (null) shows its figures as "—". */
  function drawKpis(areas, units) {
    function sum(list, field) {
      if (!list) return null;
      return list.reduce(function (a, r) { return a + (isNum(r[field]) ? r[field] : 0); }, 0);
    }
    function ratio(part, whole) { return isNum(part) && whole ? 100 * part / whole : null; }
    var registered = sum(areas, 'registered');
    kpi('reported', num(sum(areas, 'reported')));
    kpi('registered', num(registered));
    kpi('closed', num(sum(areas, 'closed')));
    kpi('closure_rate', pct(ratio(sum(areas, 'cohort_closed'), registered)));
    kpi('on_time_handling_rate', pct(ratio(sum(units, 'handled_on_time'), sum(units, 'due'))));
  }

  // ---------------------------------------------------------------- loading

  var controller = null;

  /* One panel: drawn from its data, or saying it failed. */
  function panel(name, promise, drawIt) {
    return promise.then(drawIt).catch(function (e) {
      if (isAbort(e)) throw e;
      if (e && e.status === 401) location.reload();
      if (name) message(name, t('error'), 'error');
      throw e;
    });
  }

  function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    var signal = controller.signal;
    var p = period();
    showControls(p);
    setStatus(t('loading'));
    var q = new URLSearchParams({ from: p.from, to: p.to });
    var api = '/api/v1/stats/';
    var areas = rows(api + 'areas?' + q + '&level=' + encodeURIComponent(params.level), signal);
    var units = rows(api + 'units?' + q, signal);
    var categories = rows(api + 'categories?' + q, signal);
    // Days of the period, oldest first.
    var trend = rows(api + 'trend?' + q, signal);
    var hotspots = rows(api + 'hotspots?' + q + '&min=1&cell_m=300', signal);
    var workers = fieldTable && !wall ? rows(api + 'workers?' + q, signal) : null;
    var jobs = [
      panel('trend', trend, drawTrend),
      panel('areas', areas, drawAreas),
      panel('discovery', areas, drawDiscovery),
      panel('units', units, drawUnits),
      panel('categories', categories, drawCategories),
      panel(null, Promise.all([areas, units].map(function (list) {
        return list.catch(function (e) { if (isAbort(e)) throw e; return null; });
      })), function (r) { drawKpis(r[0], r[1]); }),
      panel(null, hotspots, function (h) { drawHotspotTable(h, p); }).catch(function (e) {
        if (hotTable && !isAbort(e)) hotTable.dataset.state = 'error';
        throw e;
      })
    ];
    if (workers) {
      jobs.push(panel(null, workers, drawFieldTable).catch(function (e) {
        if (!isAbort(e)) fieldTable.dataset.state = 'error';
        throw e;
      }));
    }
    if (chartEl('heat')) {
      jobs.push(panel('heat', Promise.all([hotspots, loadOutlines()]), function (r) { drawHeat(r[0], r[1]); }));
    }
    return Promise.all(jobs.map(function (j) {
      return j.then(function () { return true; }, function (e) { return isAbort(e) ? null : false; });
    })).then(function (results) {
      if (signal.aborted) return;
      var failed = results.some(function (r) { return r === false; });
      setStatus(failed ? t('error') : t('updated', { time: hhmm.format(wallNow()) }), failed);
      loads += 1;
      root.dataset.loads = String(loads);
      document.body.dataset.dashReady = '1';
    });
  }

  // ---------------------------------------------------------------- controls

  root.querySelectorAll('[data-preset]').forEach(function (b) {
    b.addEventListener('click', function () {
      params.preset = b.dataset.preset;
      load();
    });
  });

  function customPeriod() {
    var f = fromInput && fromInput.value, to = toInput && toInput.value;
    if (!DAY.test(f || '') || !DAY.test(to || '') || f > to) return false;
    if (!params.preset && params.from === f && params.to === to) return false;
    params.preset = null;
    params.from = f;
    params.to = to;
    return true;
  }
  if (form) {
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      customPeriod();
      if (levelSelect) params.level = levelSelect.value;
      load();
    });
    [fromInput, toInput].forEach(function (input) {
      if (input) input.addEventListener('change', function () { if (customPeriod()) load(); });
    });
  }
  if (levelSelect) {
    levelSelect.addEventListener('change', function () {
      params.level = levelSelect.value;
      load();
    });
  }

  var resizeQueued = false;
  function resizeAll() {
    if (resizeQueued) return;
    resizeQueued = true;
    requestAnimationFrame(function () {
      resizeQueued = false;
      Object.keys(charts).forEach(function (k) { charts[k].resize(); });
    });
  }
  window.addEventListener('resize', resizeAll);

  // ---------------------------------------------------------------- the big screen

  if (wall) {
    var clock = document.getElementById('wall-clock');
    var clockFormat = new Intl.DateTimeFormat(lang, {
      timeZone: 'UTC', year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false
    });
    var tick = function () {
      if (!clock) return;
      var now = wallNow();
      clock.textContent = clockFormat.format(now);
      clock.setAttribute('datetime', new Date(Date.now() + skew).toISOString());
    };
    tick();
    setInterval(tick, 1000);

    var refresh = (isNum(cfg.refresh_seconds) && cfg.refresh_seconds >= 10 ? cfg.refresh_seconds : 60) * 1000;
    setInterval(function () { if (!document.hidden) load(); }, refresh);

    var fullscreen = document.getElementById('wall-fullscreen');
    if (fullscreen && document.fullscreenEnabled) {
      fullscreen.hidden = false;
      fullscreen.addEventListener('click', function () {
        var done = document.fullscreenElement ? document.exitFullscreen() : document.documentElement.requestFullscreen();
        if (done && done.catch) done.catch(function () {});
      });
      document.addEventListener('fullscreenchange', function () {
        fullscreen.textContent = document.fullscreenElement ? t('exit_fullscreen') : t('fullscreen');
        fullscreen.setAttribute('aria-pressed', String(!!document.fullscreenElement));
        resizeAll();
      });
    }
  }

  load();
  window.wanggeDashboard = { charts: charts, reload: load };
})();
