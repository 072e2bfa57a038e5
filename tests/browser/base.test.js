// The base data (基础数据) in the browser: the district registers a house and a person living in
// it through the console's forms, opens the house's page and finds the resident (masked, linked
// to their page), and the house's map draws — without console errors or failed requests.
// The demo database's own houses and people are not relied on: the test makes what it reads.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiLogin, assertClean, launchBrowser, open, signIn, startServer, step } from './harness.js';

// A hung page or server fails its test instead of the whole run.
const TIMEOUT = 180_000;
const HOUSE = 'BT-0003-0502';

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

/** An identity number with its GB 11643 check character. */
function identity(first17) {
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...first17].reduce((s, c, i) => s + Number(c) * weights[i], 0);
  return first17 + '10X98765432'[sum % 11];
}

/** Fills a registration form's fields by name and submits it; resolves on the next page. */
async function register(page, fields) {
  for (const [name, value] of Object.entries(fields)) {
    const field = page.locator(`form[data-testid=register] [name="${name}"]`).first();
    if ((await field.evaluate((el) => el.tagName)) === 'SELECT') {
      await field.selectOption(value);
    } else {
      await field.fill(value);
    }
  }
  await Promise.all([page.waitForEvent('load'), page.click('[data-testid=register-submit]')]);
  const problem = await page.$('[data-testid=problem], [data-error]');
  if (problem) {
    const bad = await page.$$eval('[data-field-error]', (els) => els.map((e) => `${e.dataset.fieldError}: ${e.textContent}`));
    throw new Error(`the form was refused: ${await problem.innerText()} ${bad.join('; ')}`);
  }
}

test('the district registers a house and its resident and finds them on the house page', { timeout: TIMEOUT }, async () => {
  const grid = (await apiLogin(server, 'demo-worker')).user.region_code;
  assert.ok(grid && grid.length === 15, `the demo worker has a grid: ${grid}`);
  const number = identity('11010519800101123');
  const user = await signIn(browser, server, 'demo-district');
  try {
    await step(user, 'find the base data in the menu', async (page) => {
      const menu = await page.$$eval('nav.main-nav a', (as) => as.map((a) => a.getAttribute('href')));
      assert.ok(menu.includes('/console/base'), `the menu has no /console/base: ${menu.join(', ')}`);
    });

    await step(user, 'register a house through the form', async (page) => {
      await open(user, '/console/base/new/house');
      await register(page, {
        house_code: HOUSE,
        grid_code: grid,
        road: '测试路',
        number: '8',
        building: '3',
        room: '502',
        use: 'rental',
      });
      const url = new URL(page.url());
      assert.equal(url.pathname, `/console/base/houses/${HOUSE}`, 'the house page follows the registration');
      assert.match(await page.innerText('[data-testid=flash]'), /已登记/);
    });

    await step(user, 'register a person living in it', async (page) => {
      await open(user, `/console/base/new/person?house_code=${HOUSE}`);
      assert.equal(await page.inputValue('form[data-testid=register] [name=house_code]'), HOUSE, 'the house is filled in');
      await page.check('form[data-testid=register] input[name=tags][value=elderly]');
      await register(page, {
        identity_number: number,
        name: '浏览器测试',
        phone: '13800138000',
        moved_in: '2024-03-01',
        relation: '户主',
      });
      assert.match(new URL(page.url()).pathname, /^\/console\/base\/people\/[0-9a-f-]{36}$/, 'the person page follows');
      const shown = (await page.innerText('[data-testid=identity-number]')).trim();
      assert.equal(shown, `1101**********${number.slice(14)}`, 'the number is masked');
    });

    await step(user, 'open the house page and see the resident', async (page) => {
      await open(user, `/console/base/houses/${HOUSE}`);
      const resident = page.locator('[data-testid=residents] tbody tr[data-person] a');
      assert.equal(await resident.count(), 1, 'one resident');
      assert.equal((await resident.innerText()).trim(), '浏览器测试');
      const row = await page.innerText('[data-testid=residents] tbody tr[data-person]');
      assert.ok(!row.includes(number), 'the number is masked on the house page');
      await page.waitForFunction(() => document.getElementById('record-map')?.dataset.ready === '1');
      assert.ok(await page.locator('#record-map.leaflet-container').count(), 'the map is drawn');
      // On a day before they moved in, nobody lived there.
      await page.fill('[data-testid=as-of] input[name=as_of]', '2024-01-01');
      await Promise.all([page.waitForEvent('load'), page.click('[data-testid=as-of] button[type=submit]')]);
      assert.equal(await page.locator('[data-testid=residents] tbody tr[data-person]').count(), 0, 'nobody on 2024-01-01');
      await Promise.all([page.waitForEvent('load'), page.click('[data-testid=as-of] a.button')]);
      await Promise.all([page.waitForEvent('load'), page.locator('[data-testid=residents] tbody tr[data-person] a').click()]);
      assert.match(await page.innerText('[data-testid=person-name]'), /浏览器测试/);
    });

    await step(user, 'find the house in the list and its component map', async (page) => {
      await open(user, '/console/base/houses?q=测试路');
      assert.equal(await page.locator(`tr[data-house="${HOUSE}"]`).count(), 1, 'the house is found by its address');
      await open(user, '/console/base/components');
      await page.waitForFunction(() => document.getElementById('components-map')?.dataset.ready === '1');
    });
    await settle(user.page);
    assertClean(user);
  } finally {
    await user.context.close();
  }
});

/** Lets a page's own requests (the map's outline) finish before the problems are counted. */
async function settle(page) {
  await page.waitForLoadState('networkidle', { timeout: 10_000 }).catch(() => {});
}
