// The whole loop in the browser, one browser context per person: the grid worker reports a case
// from the phone page (position from the phone, a photo), the receiver registers it, the
// dispatcher sends it to the suggested unit, the unit accepts it and reports it done with a
// photo, the grid worker checks it, the shift leader closes it, and the map shows it closed.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiLogin,
  assertClean,
  caseState,
  launchBrowser,
  open,
  pointInGrid,
  signIn,
  startServer,
  step,
  submitAction,
  tinyPng,
} from './harness.js';

// 07001 非法小广告: class 07 goes to the district's 城管 (the demo unit) and is not dispatched
// automatically (crates/wangge/src/demo.rs, demo_dispatch_rules), so the dispatcher does it.
const CATEGORY = '07001';

// A hung page or server fails its test instead of the whole run.
const TIMEOUT = 180_000;

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

async function as(username, options) {
  const user = await signIn(browser, server, username, options);
  users.push(user);
  return user;
}

/** The row of a case on a desk, filtered to the case's category so paging cannot hide it. */
async function deskRow(user, desk, caseId) {
  await open(user, `/console/desk/${desk}?category=${CATEGORY}`);
  const row = user.page.locator(`tr[data-case-id="${caseId}"]`);
  if ((await row.count()) === 0) {
    const listed = await user.page.$$eval('tr[data-case-id]', (trs) => trs.map((t) => `${t.dataset.caseId} (${t.dataset.state})`));
    throw new Error(`case ${caseId} is not on the ${desk} desk; it lists: ${listed.join(', ') || 'nothing'}`);
  }
  return row;
}

/** Clicks a row's action button and waits for the desk to come back without an error. */
async function rowAction(user, row, action) {
  const button = row.locator(`button[data-action=${action}]`);
  if ((await button.count()) === 0) {
    const offered = await row.locator('button[data-action]').evaluateAll((bs) => bs.map((b) => b.dataset.action));
    throw new Error(`the row offers no ${action} button; it offers: ${offered.join(', ') || 'none'}`);
  }
  await Promise.all([user.page.waitForEvent('load'), button.click()]);
  const error = await user.page.$('[data-error]');
  if (error) throw new Error(`the server refused ${action}: ${await error.innerText()}`);
}

async function expectState(user, caseId, expected) {
  const state = await caseState(user, caseId);
  assert.equal(state, expected, `${user.label} sees case ${caseId} as ${state}, expected ${expected}`);
}

test('a case goes round the whole loop in the browser and shows closed on the map', { timeout: TIMEOUT }, async () => {
  const worker = await apiLogin(server, 'demo-worker');
  const unit = await apiLogin(server, 'demo-unit');
  const grid = worker.user.region_code;
  const unitCode = unit.user.unit_code;
  assert.ok(grid && unitCode, 'the demo worker has no grid or the demo unit no unit');
  const position = await pointInGrid(server, grid);

  // 1. The grid worker reports from the phone page.
  const w = await as('demo-worker', {
    viewport: { width: 360, height: 740 },
    isMobile: true,
    hasTouch: true,
    permissions: ['geolocation'],
    geolocation: { ...position, accuracy: 8 },
  });
  const caseId = await step(w, 'report a case on the phone page', async (page) => {
    await open(w, '/m');
    await page.waitForSelector('form#report');
    // The page asks the phone for its position when it opens; the inputs must get ours.
    const lon = page.locator('form#report input[name=lon]');
    const lat = page.locator('form#report input[name=lat]');
    await page
      .waitForFunction(
        ([x, y]) => {
          const f = document.querySelector('form#report');
          return Math.abs(Number(f.elements.lon.value) - x) < 1e-5 && Math.abs(Number(f.elements.lat.value) - y) < 1e-5;
        },
        [position.longitude, position.latitude],
        { timeout: 10_000 },
      )
      .catch(async () => {
        throw new Error(
          `the position inputs show ${await lon.inputValue()}, ${await lat.inputValue()}, ` +
            `not the phone's ${position.longitude}, ${position.latitude}`,
        );
      });
    await page.selectOption('form#report select[name=category]', CATEGORY);
    await page.fill('form#report textarea[name=description]', '浏览器测试：电线杆上贴满小广告');
    await page.setInputFiles('form#report input[type=file][name=photo]', {
      name: 'photo.png',
      mimeType: 'image/png',
      buffer: tinyPng(),
    });
    await page.click('form#report button[type=submit]');
    const result = page.locator('[data-testid=report-result][data-case-id]');
    await result.waitFor({ timeout: 20_000 });
    const id = await result.getAttribute('data-case-id');
    assert.match(id, /^[0-9a-f-]{36}$/, `the report result names case "${id}"`);
    return id;
  });
  await expectState(w, caseId, 'reported');
  await step(w, 'see the report photo on the case page', async (page) => {
    const photos = await page.locator('.photos img').count();
    assert.ok(photos >= 1, 'the case page shows no photo of the report');
  });

  // 2. The receiver registers it from the intake desk.
  const r = await as('demo-receiver');
  await step(r, 'register the case on the intake desk', async () => {
    const row = await deskRow(r, 'intake', caseId);
    await rowAction(r, row, 'register');
  });
  await expectState(r, caseId, 'registered');

  // 3. The dispatcher sends it to the suggested unit from the dispatch desk.
  const d = await as('demo-dispatcher');
  await step(d, 'dispatch the case to the suggested unit on the dispatch desk', async () => {
    const row = await deskRow(d, 'dispatch', caseId);
    const chosen = await row.locator('select[name=unit]').inputValue();
    assert.equal(chosen, unitCode, `the dispatch desk suggests ${chosen}, expected the demo unit ${unitCode}`);
    await rowAction(d, row, 'dispatch');
  });
  await expectState(d, caseId, 'dispatched');

  // 4. The unit accepts it on its desk and reports it done with a photo on the case page.
  const u = await as('demo-unit');
  await step(u, 'accept the case on the unit desk', async () => {
    const row = await deskRow(u, 'unit', caseId);
    await rowAction(u, row, 'accept');
  });
  await expectState(u, caseId, 'in_progress');
  await submitAction(u, caseId, 'handle', { note: '已清除小广告' });
  await expectState(u, caseId, 'handled');
  await step(u, 'see the handling photo', async (page) => {
    assert.ok((await page.locator('.photos img').count()) >= 2, 'the case page does not show the handling photo');
  });

  // 5. The grid worker checks the work.
  await submitAction(w, caseId, 'check_pass', { note: '现场核查已清理' });
  const afterCheck = await caseState(w, caseId);
  assert.ok(['verified', 'closed'].includes(afterCheck), `after the check the case is ${afterCheck}`);

  // 6. The shift leader closes it (unless the category closes by itself after the check).
  const l = await as('demo-leader');
  if (afterCheck === 'verified') {
    await submitAction(l, caseId, 'close', { note: '结案' });
  }
  await expectState(l, caseId, 'closed');

  // 7. The command map shows it closed.
  await step(l, 'see the case closed on the map', async (page) => {
    await open(l, `/console/map?case=${caseId}`);
    await page.waitForFunction(() => document.body.dataset.mapReady === '1', null, { timeout: 20_000 });
    await page.waitForSelector('[data-testid=map-case-state][data-state=closed]', { timeout: 15_000 });
  });

  for (const user of [w, r, d, u, l]) assertClean(user);
});
