// Takes the README's screenshots of the console's main pages from a fresh demo city (see
// scripts/screenshots). Usage: node tests/browser/screenshots.js OUT_DIR
// Not a test file (node --test only picks *.test.js); it shares the tests' harness.

import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  apiLogin,
  launchBrowser,
  newUser,
  open,
  pointInGrid,
  signIn,
  startServer,
} from './harness.js';

const out = resolve(process.argv[2] || 'docs/screenshots');
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 740 };

async function settle(page) {
  await page.waitForLoadState('networkidle', { timeout: 15_000 }).catch(() => {});
  await page.evaluate(() => document.fonts?.ready).catch(() => {});
}

/** Each shot: the file, who takes it, and how to get the page ready. */
const SHOTS = [
  {
    file: 'login.png',
    user: null,
    async go(u) {
      await open(u, '/login');
    },
  },
  { file: 'intake-desk.png', user: 'demo-receiver', path: '/console/desk/intake' },
  { file: 'dispatch-desk.png', user: 'demo-dispatcher', path: '/console/desk/dispatch' },
  { file: 'unit-desk.png', user: 'demo-unit', path: '/console/desk/unit' },
  {
    file: 'case-page.png',
    user: 'demo-dispatcher',
    async go(u) {
      // A case waiting for dispatch: details, the deadline clock, the dispatch form with the
      // suggested unit and the timeline.
      await open(u, '/console/desk/dispatch');
      const id = await u.page.$$eval('tr[data-case-id]', (rows) => rows[0]?.dataset.caseId);
      if (!id) throw new Error('the dispatch desk lists no case to show');
      await open(u, `/console/cases/${id}`);
      await u.page.waitForSelector('[data-testid=case-state]');
    },
  },
  {
    file: 'command-map.png',
    user: 'demo-leader',
    async go(u) {
      await open(u, '/console/map');
      await u.page.waitForFunction(() => document.body.dataset.mapReady === '1', null, { timeout: 30_000 });
    },
  },
  { file: 'supervisor-desk.png', user: 'demo-supervisor', path: '/console/desk/supervise' },
  {
    file: 'dashboard.png',
    user: 'demo-district',
    async go(u) {
      await open(u, '/console/stats');
      await u.page.waitForFunction(() => Number(document.getElementById('dashboard')?.dataset.loads || 0) > 0, null, {
        timeout: 30_000,
      });
    },
  },
  {
    file: 'wall.png',
    user: 'demo-district',
    wall: true,
    async go(u) {
      await open(u, '/console/stats/wall');
      await u.page.waitForFunction(() => Number(document.getElementById('dashboard')?.dataset.loads || 0) > 0, null, {
        timeout: 30_000,
      });
    },
  },
  { file: 'admin-users.png', user: 'demo-admin', path: '/console/admin/users' },
  {
    file: 'phone.png',
    user: 'demo-worker',
    phone: true,
    async go(u) {
      await open(u, '/m');
      await u.page.waitForSelector('form#report');
      await u.page
        .waitForFunction(() => document.querySelector('form#report').elements.lon.value !== '', null, { timeout: 10_000 })
        .catch(() => {});
    },
  },
];

async function main() {
  await mkdir(out, { recursive: true });
  const server = await startServer({
    grids: Number(process.env.SCREENSHOT_GRIDS || 600),
    cases: Number(process.env.SCREENSHOT_CASES || 200),
  });
  const browser = await launchBrowser();
  const failed = [];
  try {
    const worker = await apiLogin(server, 'demo-worker');
    const position = await pointInGrid(server, worker.user.region_code);
    for (const shot of SHOTS) {
      const options = shot.phone
        ? {
            viewport: PHONE,
            isMobile: true,
            hasTouch: true,
            deviceScaleFactor: 1,
            permissions: ['geolocation'],
            geolocation: { ...position, accuracy: 8 },
          }
        : { viewport: shot.wall ? { width: 1920, height: 1080 } : DESKTOP, deviceScaleFactor: 1 };
      let user;
      try {
        user = shot.user
          ? await signIn(browser, server, shot.user, options)
          : await newUser(browser, server, 'signed-out', options);
        if (shot.go) await shot.go(user);
        else await open(user, shot.path);
        await settle(user.page);
        const error = await user.page.$('[data-error]');
        if (error) throw new Error(`an error page: [data-error=${await error.getAttribute('data-error')}]`);
        await user.page.screenshot({ path: join(out, shot.file) });
        console.log(`saved ${join(out, shot.file)}`);
        if (user.problems.length) console.warn(`  (${shot.file}: ${user.problems.join('; ')})`);
      } catch (e) {
        failed.push(`${shot.file} (${shot.user ?? 'signed out'}): ${e.message.split('\n')[0]}`);
      } finally {
        await user?.context.close();
      }
    }
  } finally {
    await browser.close();
    await server.stop();
  }
  if (failed.length) {
    console.error(`not taken:\n  ${failed.join('\n  ')}`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
