// The import page (/console/base/import) in the browser: the district uploads a small CSV of
// houses through the page (the file chosen as a buffer), sees the progress bar run to its end
// and the report — first a file with a bad row, which is reported by row and column and stores
// nothing, then the corrected file, which is stored and listed — without console errors or
// failed requests.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiLogin, assertClean, launchBrowser, open, signIn, startServer, step } from './harness.js';

const TIMEOUT = 180_000;

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

/** Two rooms of one building in `grid`; `second` is the second room's house code. */
function housesCsv(grid, second) {
  return [
    '房屋编码,网格编码,路,门牌号,楼栋,室,房屋用途,备注',
    `BI-0001-0101,${grid},导入测试路,1,2,101,住宅,`,
    `${second},${grid},导入测试路,1,2,102,出租屋,新租户`,
    '',
  ].join('\r\n');
}

/** Chooses the file, presses a button of the form and waits for the report. */
async function upload(page, csv, button) {
  await page.setInputFiles('[data-testid=import-file]', {
    name: 'houses.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from('\uFEFF' + csv, 'utf8'),
  });
  await page.click(`[data-testid=${button}]`);
  await page.waitForSelector('[data-testid=import-report][data-outcome]', { timeout: 60_000 });
  const status = await page.getAttribute('[data-testid=import-status]', 'data-state');
  const outcome = await page.getAttribute('[data-testid=import-report]', 'data-outcome');
  if (status !== 'done') {
    throw new Error(`the import ended ${status}: ${await page.innerText('[data-testid=import-report]')}`);
  }
  // The bar ran to its end.
  const bar = await page.$eval('[data-testid=import-progress]', (p) => ({ value: p.value, max: p.max, position: p.position }));
  assert.equal(bar.value, bar.max, `the progress bar is full: ${JSON.stringify(bar)}`);
  assert.equal(bar.position, 1);
  assert.match(await page.innerText('[data-testid=import-count]'), /2/);
  return outcome;
}

test('the district imports houses through the import page and sees the report', { timeout: TIMEOUT }, async () => {
  const grid = (await apiLogin(server, 'demo-worker')).user.region_code;
  assert.ok(grid && grid.length === 15, `the demo worker has a grid: ${grid}`);
  const user = await signIn(browser, server, 'demo-district');
  try {
    await step(user, 'open the import page from the tabs', async (page) => {
      await open(user, '/console/base/houses');
      await Promise.all([page.waitForEvent('load'), page.click('[data-testid=base-tabs] a[href="/console/base/import"]')]);
      assert.equal(new URL(page.url()).pathname, '/console/base/import');
      assert.ok(await page.locator('[data-testid=import-status]').isHidden(), 'no progress before an upload');
      await page.selectOption('[data-testid=import-kind]', 'houses');
      assert.ok(await page.locator('[data-map-kind=houses]').count(), 'the houses mapping table');
      assert.ok(await page.locator('[data-map-kind=people]').isHidden(), "the people's is hidden");
      const template = page.locator('[data-testid=import-template]:visible');
      assert.equal(await template.getAttribute('href'), '/console/base/import/template/houses');
      const district = await page.inputValue('[data-testid=import-district]');
      assert.equal(district, grid.slice(0, 6), 'the district of the reader is chosen');
    });

    await step(user, 'check a file with a bad house code', async (page) => {
      const outcome = await upload(page, housesCsv(grid, '坏编码'), 'import-store');
      assert.equal(outcome, 'not_stored');
      const said = await page.innerText('[data-testid=import-outcome]');
      assert.match(said, /全部不导入/);
      const bad = page.locator('[data-testid=import-errors] tbody tr[data-row="3"]');
      assert.equal(await bad.count(), 1, 'row 3 is listed');
      const cells = await bad.locator('td').allInnerTexts();
      assert.equal(cells[1], '房屋编码', `the column: ${cells.join(' | ')}`);
      assert.equal(cells[2], '房屋编码', `the field's label: ${cells.join(' | ')}`);
      assert.ok(cells[3].length > 0, 'the problem is said');
      assert.deepEqual(await page.locator('[data-testid=import-unmapped] li').allInnerTexts(), ['备注']);
      assert.equal(await page.innerText('[data-count=bad_rows]'), '1');
    });

    await step(user, 'nothing of it was stored', async (page) => {
      await open(user, '/console/base/houses?q=导入测试路');
      assert.equal(await page.locator('tr[data-house="BI-0001-0101"]').count(), 0, 'the good row was not stored either');
      await open(user, '/console/base/import?kind=houses');
    });

    await step(user, 'check and import the corrected file', async (page) => {
      const csv = housesCsv(grid, 'BI-0001-0102');
      assert.equal(await upload(page, csv, 'import-check'), 'checked');
      assert.match(await page.innerText('[data-testid=import-outcome]'), /检查通过/);
      const mapped = await page.$$eval('[data-testid=import-mapped] tbody tr', (rows) => rows.map((r) => r.dataset.field));
      assert.ok(mapped.includes('house_code') && mapped.includes('grid_code'), `the columns used: ${mapped}`);
      assert.equal(await upload(page, csv, 'import-store'), 'stored');
      assert.match(await page.innerText('[data-testid=import-outcome]'), /新增 2 条/);
      await Promise.all([page.waitForEvent('load'), page.click('[data-testid=import-list-link]')]);
      assert.equal(new URL(page.url()).pathname, '/console/base/houses');
      await open(user, '/console/base/houses?q=导入测试路');
      assert.equal(await page.locator('tr[data-house]').count(), 2, 'both rooms are listed');
    });
    assertClean(user);
  } finally {
    await user.context.close();
  }
});
