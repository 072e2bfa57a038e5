// The phone page without a network: a report made offline waits in the page's queue and goes
// to the server by itself once the network is back.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiGet,
  apiLogin,
  assertClean,
  launchBrowser,
  open,
  pointInGrid,
  signIn,
  startServer,
  step,
  tinyPng,
} from './harness.js';

// A hung page or server fails its test instead of the whole run.
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

test('a report made offline is queued and sent when the network returns', { timeout: TIMEOUT }, async () => {
  const api = await apiLogin(server, 'demo-worker');
  const position = await pointInGrid(server, api.user.region_code);
  const w = await signIn(browser, server, 'demo-worker', {
    viewport: { width: 360, height: 740 },
    isMobile: true,
    hasTouch: true,
    permissions: ['geolocation'],
    geolocation: { ...position, accuracy: 8 },
  });
  // Whatever the page or its service worker tries while the network is off fails, on purpose.
  w.expect(/ERR_INTERNET_DISCONNECTED|Failed to fetch|ERR_NETWORK_CHANGED/);
  const description = `浏览器测试：离线上报 ${Date.now()}`;
  try {
    await step(w, 'open the phone page', async (page) => {
      await open(w, '/m');
      await page.waitForSelector('form#report');
      await page.waitForFunction(() => document.querySelector('form#report').elements.lon.value !== '', null, {
        timeout: 10_000,
      });
      // The queue shows nothing to send yet.
      const count = page.locator('[data-testid=queue-count]');
      if (await count.isVisible()) assert.equal((await count.innerText()).trim(), '0');
    });

    await step(w, 'report while offline', async (page) => {
      await w.context.setOffline(true);
      await page.waitForFunction(() => navigator.onLine === false);
      await page.selectOption('form#report select[name=category]', '07001');
      await page.fill('form#report textarea[name=description]', description);
      await page.setInputFiles('form#report input[type=file][name=photo]', {
        name: 'offline.png',
        mimeType: 'image/png',
        buffer: tinyPng(),
      });
      await page.click('form#report button[type=submit]');
      await page.waitForFunction(
        () => document.querySelector('[data-testid=queue-count]')?.textContent.trim() === '1',
        null,
        { timeout: 10_000 },
      );
      assert.ok(await page.locator('[data-testid=queue-count]').isVisible(), 'the queue count is not shown');
      assert.equal(await page.locator('[data-testid=report-result]').count(), 0, 'a result was shown while offline');
    });

    const caseId = await step(w, 'go back online and see the queue sent', async (page) => {
      await w.context.setOffline(false);
      await page.waitForFunction(
        () => document.querySelector('[data-testid=queue-count]')?.textContent.trim() === '0',
        null,
        { timeout: 30_000 },
      );
      const result = page.locator('[data-testid=report-result][data-case-id]');
      await result.waitFor({ timeout: 10_000 });
      return result.getAttribute('data-case-id');
    });

    await step(w, `find case ${caseId} on the server`, async () => {
      const c = await apiGet(server, `/api/v1/cases/${caseId}`, api.token);
      assert.equal(c.description, description);
      assert.equal(c.grid?.code ?? c.grid_code, api.user.region_code, 'the case is not in the worker\'s grid');
      assert.ok((c.attachments ?? []).length >= 1, 'the queued photo did not arrive');
    });

    await step(w, 'see exactly one such case in "my reports" after a reload', async (page) => {
      await open(w, '/m');
      const mine = await page.$$eval('[data-testid=my-reports] tr[data-case-id]', (trs) =>
        trs.map((tr) => ({ id: tr.dataset.caseId, text: tr.textContent })),
      );
      const ours = mine.filter((m) => m.text.includes(description));
      assert.equal(ours.length, 1, `"my reports" lists ${ours.length} cases with the offline description`);
      assert.equal(ours[0].id, caseId);
      const count = page.locator('[data-testid=queue-count]');
      if (await count.isVisible()) assert.equal((await count.innerText()).trim(), '0');
    });
    assertClean(w);
  } finally {
    await w.context.close();
  }
});
