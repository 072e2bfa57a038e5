// The grid worker's field day in the browser: demo-worker opens the patrol page on a phone with
// its position emulated inside their grid, starts a patrol, walks east (the emulated position
// moves), ends it and reads the length and the share of the grid covered; the street then finds
// the patrol in the day's quota list and opens its track — without console errors or failed
// requests.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiGet, apiLogin, assertClean, launchBrowser, open, pointInGrid, signIn, startServer, step } from './harness.js';

const TIMEOUT = 240_000;
/** The shortest interval the page offers between two recorded fixes. */
const INTERVAL_S = 10;
/** About 30 m east at the demo city's latitude. */
const STEP_DEG = 0.0003;

/** Fixes recorded so far: those the server took plus those still queued on the phone. */
function recorded(n) {
  const count = (sel) => Number(document.querySelector(sel).textContent);
  return count('[data-field=points]') + count('[data-testid=queued]') >= n;
}

let server;
let browser;
const users = [];

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  for (const u of users) await u.context.close().catch(() => {});
  await browser?.close();
  await server?.stop();
});

test('a grid worker patrols their grid and the street sees the track', { timeout: TIMEOUT }, async () => {
  const api = await apiLogin(server, 'demo-worker');
  const grid = api.user.region_code;
  const start = await pointInGrid(server, grid);
  // Two steps east must stay in the grid: walk west instead if they would not.
  let east = 1;
  const inGrid = async (lon, lat) =>
    (await apiGet(server, `/api/v1/locate?lon=${lon}&lat=${lat}`).catch(() => null))?.grid?.code === grid;
  if (!(await inGrid(start.longitude + 2 * STEP_DEG, start.latitude))) east = -1;
  assert.ok(await inGrid(start.longitude + 2 * east * STEP_DEG, start.latitude), 'a 60 m walk inside the grid');

  const worker = await signIn(browser, server, 'demo-worker', {
    viewport: { width: 360, height: 740 },
    isMobile: true,
    hasTouch: true,
    permissions: ['geolocation'],
    geolocation: { ...start, accuracy: 8 },
  });
  users.push(worker);

  await step(worker, 'find the patrol page in the menu and start a patrol', async (page) => {
    await open(worker, '/m/patrol');
    const app = page.locator('[data-testid=patrol-app]');
    assert.equal(await app.getAttribute('data-state'), 'idle');
    await page.selectOption('select[name=interval]', String(INTERVAL_S));
    await page.click('[data-testid=start-patrol]');
    await page.waitForSelector('[data-testid=patrol-app][data-state=running]');
    // The first fix is recorded at once.
    await page.waitForFunction(recorded, 1);
  });

  await step(worker, 'walk east: a fix every interval', async (page) => {
    for (let i = 1; i <= 2; i++) {
      await page.waitForTimeout(INTERVAL_S * 1000 + 500);
      await worker.context.setGeolocation({
        longitude: start.longitude + i * east * STEP_DEG,
        latitude: start.latitude,
        accuracy: 8,
      });
      await page.waitForFunction(recorded, i + 1, { timeout: 15_000 });
    }
    const shown = Number(await page.textContent('[data-field=length]'));
    assert.ok(shown >= 50 && shown <= 70, `the length so far: ${shown} m`);
  });

  const patrol = await step(worker, 'end the patrol and read its length and coverage', async (page) => {
    await page.click('[data-testid=end-patrol]');
    await page.waitForSelector('[data-testid=patrol-app][data-state=idle]', { timeout: 15_000 });
    const message = await page.textContent('[data-testid=patrol-message]');
    assert.match(message, /\d+ m · [\d.]+%/, `the end message: ${message}`);
    const list = await apiGet(server, '/api/v1/patrols', api.token);
    const rows = Array.isArray(list) ? list : list.patrols ?? list.rows ?? [];
    const ended = rows.find((p) => p.status === 'ended' && p.points === 3);
    assert.ok(ended, `the patrol with three fixes among ${JSON.stringify(rows).slice(0, 400)}`);
    assert.ok(Math.abs(ended.length_m - 58) < 8, `length ${ended.length_m} m`);
    assert.ok(ended.coverage > 0 && ended.coverage <= 1, `coverage ${ended.coverage}`);
    // Today's list on the page has it, with its figures.
    await open(worker, '/m/patrol');
    assert.equal(await page.locator(`[data-testid=today-patrols] li[data-patrol="${ended.id}"]`).count(), 1);
    return ended;
  });
  assertClean(worker);

  const street = await signIn(browser, server, 'demo-street');
  users.push(street);
  await step(street, "see the worker in the day's quota list and open the track", async (page) => {
    const menu = await page.$$eval('nav.main-nav a', (as) => as.map((a) => a.getAttribute('href')));
    assert.ok(menu.includes('/console/field'), `the menu has no /console/field: ${menu.join(', ')}`);
    await open(street, '/console/field');
    assert.equal(await page.locator('[data-testid=daily] tr[data-worker=demo-worker]').count(), 1);
    await page.click(`a[href="/console/field/patrols/${patrol.id}"]`);
    // The track is drawn on the map's canvas (the page asks Leaflet for canvas rendering).
    await page.waitForSelector('#patrol-map .leaflet-overlay-pane canvas', { timeout: 15_000 });
  });
  assertClean(street);
});
