// The statistics dashboard in the browser: an area user opens /console/stats and every chart
// draws (an ECharts canvas in each panel, no panel failed, no console error), a period preset
// asks the API again for its days, the big screen draws the same panels dark with a clock, and
// the command map's 热点 toggle draws the hotspots of the period with their popups.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiLogin, assertClean, launchBrowser, open, pointInGrid, signIn, startServer, step } from './harness.js';

// A hung page or server fails its test instead of the whole run.
const TIMEOUT = 180_000;
const CHARTS = ['trend', 'heat', 'areas', 'discovery', 'units', 'categories'];
// A subcategory the demo reports seldom, so three reports of it in one spot make the hotspot.
const CATEGORY = '07001';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The Beijing day `days` from today, YYYY-MM-DD. */
function beijingDay(days = 0) {
  return new Date(Date.now() + 8 * 3600_000 + days * 86_400_000).toISOString().slice(0, 10);
}

/** Waits for a load of the dashboard to finish (its count passes `after`) and checks every chart. */
async function dashboardDrawn(page, after = 0) {
  await page.waitForFunction(
    (n) => Number(document.getElementById('dashboard')?.dataset.loads || 0) > n,
    after,
    { timeout: 30_000 },
  );
  const charts = await page.$$eval('[data-chart]', (els) =>
    els.map((el) => ({ name: el.dataset.chart, state: el.dataset.state, canvas: !!el.querySelector('canvas') })),
  );
  assert.deepEqual(charts.map((c) => c.name).sort(), [...CHARTS].sort(), 'the panels on the page');
  for (const c of charts) {
    assert.ok(c.canvas, `the ${c.name} chart has no canvas`);
    assert.ok(['ready', 'empty'].includes(c.state), `the ${c.name} chart is ${c.state}`);
  }
  return Object.fromEntries(charts.map((c) => [c.name, c.state]));
}

/** Reports three cases of CATEGORY at one spot in the street user's area, as the receiver. */
async function makeHotspot() {
  const receiver = await apiLogin(server, 'demo-receiver');
  const street = await apiLogin(server, 'demo-street');
  const grid = (await apiLogin(server, 'demo-worker')).user.region_code;
  assert.ok(grid?.startsWith(street.user.region_code), `the demo worker's grid ${grid} is in the demo street`);
  const at = await pointInGrid(server, grid);
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${server.base}/api/v1/cases`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${receiver.token}` },
      body: JSON.stringify({
        category: CATEGORY,
        description: `热点测试 ${i}`,
        lon: at.longitude,
        lat: at.latitude,
        source: 'hotline_12345',
        external_id: `dashboard-hotspot-${i}`,
      }),
    });
    assert.equal(res.status, 201, `reporting case ${i}: ${await res.text()}`);
  }
  return at;
}

test('an area user reads the dashboard, changes the period, opens the big screen and the hotspots', { timeout: TIMEOUT }, async () => {
  const at = await makeHotspot();
  const user = await signIn(browser, server, 'demo-street');
  try {
    const menu = await step(user, 'find the dashboard in the menu', (page) =>
      page.$$eval('nav.main-nav a', (as) => as.map((a) => a.getAttribute('href'))),
    );
    assert.ok(menu.includes('/console/stats'), `the menu has no /console/stats: ${menu.join(', ')}`);

    await step(user, 'open the dashboard and see every chart drawn', async (page) => {
      const areas = page.waitForRequest((r) => r.url().includes('/api/v1/stats/areas?'));
      await open(user, '/console/stats');
      const first = new URL((await areas).url());
      assert.equal(first.searchParams.get('from'), `${beijingDay().slice(0, 8)}01`, 'the default period starts on the 1st');
      assert.equal(first.searchParams.get('to'), beijingDay(), 'and ends today');
      assert.equal(first.searchParams.get('level'), 'community', 'a street ranks its communities');
      const states = await dashboardDrawn(page);
      // The demo reported cases this month: the rankings and the breakdown have data.
      for (const name of ['areas', 'categories', 'heat']) assert.equal(states[name], 'ready', `${name} is ${states[name]}`);
      // The grid workers' field work: the demo worker patrolled twice today.
      assert.equal(await page.getAttribute('#dash-field', 'data-state'), 'ready');
      const patrols = await page.$eval('#dash-field tr[data-worker=demo-worker] td:nth-child(3)', (td) => td.textContent.trim());
      assert.ok(Number(patrols) >= 2, `the demo worker's patrols: "${patrols}"`);
      const reported = await page.$eval('[data-kpi=reported] .kpi-value', (e) => e.textContent.trim());
      assert.match(reported, /^[\d,]+$/, `the reported KPI shows "${reported}"`);
      assert.ok(Number(reported.replace(/,/g, '')) >= 3, 'at least the three cases of this test');
      const pressed = await page.$eval('[data-preset][aria-pressed=true]', (b) => b.dataset.preset);
      assert.equal(pressed, 'month');
      // The hotspot made above heads the table, with a link to the map.
      const row = page.locator(`#dash-hotspots tbody tr[data-category="${CATEGORY}"]`);
      assert.equal(await row.count(), 1, 'the hotspot is in the table');
      const href = await row.locator('a').getAttribute('href');
      const link = new URL(href, server.base);
      assert.equal(link.pathname, '/console/map');
      assert.equal(link.searchParams.get('category'), CATEGORY);
      assert.equal(link.searchParams.get('hotspots'), '1');
      assert.ok(Math.abs(Number(link.searchParams.get('lon')) - at.longitude) < 0.001, 'centred on the hotspot');
      // The Excel reports follow the period.
      const xlsx = await page.$eval('a[data-report=areas]', (a) => a.getAttribute('href'));
      assert.match(xlsx, new RegExp(`format=xlsx&from=${first.searchParams.get('from')}&to=${beijingDay()}`));
    });

    await step(user, 'pick last month and see the charts asked for again', async (page) => {
      const loads = Number(await page.$eval('#dashboard', (d) => d.dataset.loads));
      const [request] = await Promise.all([
        page.waitForRequest((r) => r.url().includes('/api/v1/stats/areas?')),
        page.click('[data-preset=last_month]'),
      ]);
      const asked = new URL(request.url());
      const from = asked.searchParams.get('from');
      const to = asked.searchParams.get('to');
      assert.match(from, /^\d{4}-\d{2}-01$/);
      assert.ok(to < beijingDay().slice(0, 8) + '01', `last month ends before this month: ${to}`);
      await dashboardDrawn(page, loads);
      assert.equal(await page.inputValue('#dash-from'), from);
      assert.equal(await page.inputValue('#dash-to'), to);
      assert.match(page.url(), /preset=last_month/, 'the address keeps the period');
      const wall = await page.$eval('#dash-wall-link', (a) => a.getAttribute('href'));
      assert.match(wall, /^\/console\/stats\/wall\?preset=last_month/);
      // The window narrows: the charts follow it.
      const before = await page.$eval('[data-chart=trend] canvas', (c) => c.getBoundingClientRect().width);
      await page.setViewportSize({ width: 900, height: 800 });
      await page.waitForFunction(
        (w) => Math.abs(document.querySelector('[data-chart=trend] canvas').getBoundingClientRect().width - w) > 10,
        before,
      );
    });

    await step(user, 'open the big screen', async (page) => {
      await page.setViewportSize({ width: 1920, height: 1080 });
      await open(user, '/console/stats/wall');
      await dashboardDrawn(page);
      assert.equal(await page.locator('nav.main-nav').count(), 0, 'no menu on the big screen');
      assert.equal(await page.$eval('#dashboard', (d) => d.dataset.mode), 'wall');
      const clock = page.locator('#wall-clock');
      await page.waitForFunction(() => /\d{2}:\d{2}:\d{2}/.test(document.getElementById('wall-clock').textContent));
      const shown = await clock.textContent();
      await page.waitForFunction((s) => document.getElementById('wall-clock').textContent !== s, shown);
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(background, 'rgb(11, 17, 24)', 'dark');
      // Everything on one screen: nothing scrolls.
      const height = await page.evaluate(() => document.documentElement.scrollHeight);
      assert.ok(height <= 1080, `the big screen is ${height}px high`);
      const button = page.locator('#wall-fullscreen');
      if (await button.isVisible()) await button.click();
    });

    await step(user, 'toggle the hotspots on the command map', async (page) => {
      await page.setViewportSize({ width: 1280, height: 800 });
      await open(user, '/console/map');
      await page.waitForFunction(() => document.body.dataset.mapReady === '1', null, { timeout: 30_000 });
      const [request] = await Promise.all([
        page.waitForRequest((r) => r.url().includes('/api/v1/stats/hotspots?')),
        page.click('#hotspot-toggle'),
      ]);
      const asked = new URL(request.url());
      assert.equal(asked.searchParams.get('to'), beijingDay(), 'no date filter: up to today');
      assert.equal(asked.searchParams.get('from'), beijingDay(-29), 'and the 30 days before');
      await page.waitForFunction(() => document.body.dataset.hotspots !== undefined);
      const count = Number(await page.evaluate(() => document.body.dataset.hotspots));
      assert.ok(count >= 1, `the map drew ${count} hotspots`);
      assert.equal(await page.getAttribute('#hotspot-toggle', 'aria-pressed'), 'true');
      // Centre on the hotspot and click its circle beside the cases' markers.
      await page.evaluate(([lat, lon]) => {
        window.wanggeMap.setView([lat, lon], 17, { animate: false });
      }, [at.latitude, at.longitude]);
      await page.waitForTimeout(300);
      const point = await page.evaluate(([lat, lon]) => {
        const p = window.wanggeMap.latLngToContainerPoint([lat, lon]);
        const box = document.getElementById('map').getBoundingClientRect();
        return { x: box.left + p.x, y: box.top + p.y + 13 };
      }, [at.latitude, at.longitude]);
      await page.mouse.click(point.x, point.y);
      const popup = page.locator('[data-testid=hotspot-popup]');
      await popup.waitFor();
      assert.equal(await popup.getAttribute('data-category'), CATEGORY);
      assert.match(await popup.innerText(), /\d+ 件/);
      // Off again: the layer goes.
      await page.click('#hotspot-toggle');
      assert.equal(await page.getAttribute('#hotspot-toggle', 'aria-pressed'), 'false');
      assert.equal(await page.evaluate(() => document.body.dataset.hotspots), undefined);
    });
    assertClean(user);
  } finally {
    await user.context.close();
  }
});

test('a grid worker has no dashboard', { timeout: TIMEOUT }, async () => {
  const user = await signIn(browser, server, 'demo-worker');
  // The browser reports the 403 answer of the page itself as a failed resource.
  user.expect(/status of 403/);
  try {
    await step(user, 'open /console/stats', async (page) => {
      const menu = await page.$$eval('nav.main-nav a', (as) => as.map((a) => a.getAttribute('href')));
      assert.ok(!menu.includes('/console/stats'), 'no menu item');
      await open(user, '/console/stats', { status: 403 });
      await page.waitForSelector('[data-error=page_forbidden]');
      assert.equal(await page.locator('[data-chart]').count(), 0);
    });
    assertClean(user);
  } finally {
    await user.context.close();
  }
});
