// Every demo role signs in through the login form, lands on its page, opens every page of its
// menu without console errors or failed requests, and signs out; pages refuse the wrong roles;
// an area user sees only its area's cases.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ROLES,
  ROLE_LABELS,
  assertClean,
  launchBrowser,
  open,
  signIn,
  startServer,
  step,
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

/** Waits a little for a page's own requests (map data, lists) to settle; slow pages are fine. */
async function settle(page) {
  await page.waitForLoadState('networkidle', { timeout: 10_000 }).catch(() => {});
}

describe('each demo role signs in and out', () => {
  for (const [username, role] of Object.entries(ROLES)) {
    test(`${username} (${role}) lands on its page, the header names its role, logout works`, { timeout: TIMEOUT }, async () => {
      const user = await signIn(browser, server, username);
      try {
        await step(user, 'check the landing page and the header', async (page) => {
          const path = new URL(page.url()).pathname;
          assert.notEqual(path, '/login', 'still on the login page after signing in');
          assert.equal(await page.locator('[data-error]').count(), 0, `the landing page ${path} is an error page`);
          const nav = await page.$$eval('nav.main-nav a', (as) => as.map((a) => a.getAttribute('href')));
          assert.equal(path, nav[0], `landed on ${path}, but the first page of the menu is ${nav[0]}`);
          const label = (await page.locator('[data-testid=who] .role').innerText()).trim();
          assert.equal(label, ROLE_LABELS[role], `the header shows role "${label}"`);
        });
        await step(user, 'log out', async (page) => {
          await Promise.all([page.waitForURL((u) => u.pathname === '/login'), page.click('[data-testid=logout]')]);
          await page.goto('/console');
          assert.equal(new URL(page.url()).pathname, '/login', 'after logout /console did not go to the login page');
          assert.equal(await page.locator('[data-testid=who]').count(), 0, 'the header still shows a user after logout');
        });
        await settle(user.page);
        assertClean(user);
      } finally {
        await user.context.close();
      }
    });
  }
});

describe('every page a role opens is clean', () => {
  for (const [username, role] of Object.entries(ROLES)) {
    test(`${username} (${role}) opens every page of its menu without errors`, { timeout: TIMEOUT }, async () => {
      const user = await signIn(browser, server, username);
      try {
        const nav = await step(user, 'read the menu', (page) =>
          page.$$eval('nav.main-nav a', (as) => as.map((a) => a.getAttribute('href'))),
        );
        assert.ok(nav.length > 0, `${username} has no menu`);
        const broken = [];
        for (const href of nav) {
          try {
            await step(user, `open ${href}`, async (page) => {
              await open(user, href);
              if (href === '/console/map') {
                await page.waitForFunction(() => document.body.dataset.mapReady === '1', null, { timeout: 20_000 });
              }
              await settle(page);
              const error = await page.$('[data-error]');
              if (error) throw new Error(`${href} is an error page: [data-error=${await error.getAttribute('data-error')}]`);
            });
          } catch (e) {
            broken.push(e.message);
          }
        }
        // A case of the first list the role can see, so the case page is covered too.
        const caseLink = await user.page
          .$$eval('tr[data-case-id]', (rows) => rows[0]?.dataset.caseId)
          .catch(() => undefined);
        if (caseLink) {
          try {
            await step(user, 'open a case page', async (page) => {
              await open(user, `/console/cases/${caseLink}`);
              await settle(page);
              await page.waitForSelector('[data-testid=case-state]');
            });
          } catch (e) {
            broken.push(e.message);
          }
        }
        if (broken.length) assert.fail(`${broken.length} of ${nav.length} pages failed:\n\n${broken.join('\n\n')}`);
        assertClean(user);
      } finally {
        await user.context.close();
      }
    });
  }
});

test('an intake operator cannot open the admin pages', { timeout: TIMEOUT }, async () => {
  const user = await signIn(browser, server, 'demo-receiver');
  // The browser reports the 403 answer of the page itself as a failed resource.
  user.expect(/status of 403/);
  try {
    const adminPages = ['users', 'units', 'categories', 'rules', 'calendar', 'regions'].map((p) => `/console/admin/${p}`);
    for (const path of adminPages) {
      await step(user, `open ${path}`, async (page) => {
        await open(user, path, { status: 403 });
        await page.waitForSelector('[data-error=page_forbidden]');
        assert.equal(await page.locator('table.list tbody tr').count(), 0, `${path} shows a list to a receiver`);
      });
    }
    assertClean(user);
  } finally {
    await user.context.close();
  }
});

test('a community user sees only its community\'s cases', { timeout: TIMEOUT }, async () => {
  const user = await signIn(browser, server, 'demo-community');
  try {
    await step(user, 'read its region and the list of all cases', async (page) => {
      const region = await page.getAttribute('[data-testid=who] .region[title]', 'title');
      assert.match(region ?? '', /^\d{12}$/, `the header's region code is "${region}", not a community code`);
      await open(user, '/console/desk/all');
      const rows = await page.$$eval('tr[data-case-id]', (trs) =>
        trs.map((tr) => ({ id: tr.dataset.caseId, grid: tr.dataset.grid })),
      );
      assert.ok(rows.length > 0, '/console/desk/all lists no case for the demo community');
      const foreign = rows.filter((r) => !r.grid?.startsWith(region));
      assert.deepEqual(foreign, [], `cases outside community ${region} are listed`);
    });
    assertClean(user);
  } finally {
    await user.context.close();
  }
});
