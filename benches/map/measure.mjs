// Measures how long the command map takes to become interactive: for each run a fresh browser
// context (empty HTTP cache, new session), navigation to /console/map, and the page's own mark
// `window.wanggeMapReadyMs` = performance.now() when body.dataset.mapReady becomes "1" (first
// outlines and cases drawn), i.e. milliseconds from navigation start.
//
// usage: node measure.mjs BASE_URL [RUNS] [USER]   (env CHROMIUM=/usr/bin/chromium, GAP_MS)
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const candidates = [
  join(here, 'node_modules/playwright-core/index.mjs'),
  join(here, '../../tests/browser/node_modules/playwright-core/index.mjs'),
];
const found = candidates.find((p) => existsSync(p));
if (!found) {
  console.error('playwright-core not found: run `npm install --no-save playwright-core@1` in benches/map');
  process.exit(2);
}
const { chromium } = await import(pathToFileURL(found).href);

const base = process.argv[2];
const runs = Number(process.argv[3] || 7);
const user = process.argv[4] || 'demo-admin';
// Longer than the server's 5 s case snapshot, so every run reads all cases from the database.
const gap = Number(process.env.GAP_MS || 6000);
if (!base) {
  console.error('usage: node measure.mjs BASE_URL [RUNS] [USER]');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run'],
});

async function once(label) {
  const context = await browser.newContext({ viewport: { width: 1600, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', 'demo');
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  const bytes = { n: 0 };
  page.on('response', async (r) => {
    if (r.url().includes('/console/map')) {
      const len = Number(r.headers()['content-length'] || 0);
      bytes.n += len;
    }
  });
  await page.goto(`${base}/console/map`, { waitUntil: 'commit' });
  await page.waitForFunction(() => document.body && document.body.dataset.mapReady, null, { timeout: 60000 });
  const result = await page.evaluate(() => ({
    ready: document.body.dataset.mapReady,
    ms: window.wanggeMapReadyMs,
    status: document.getElementById('map-status').textContent,
    clusters: document.querySelectorAll('.case-cluster').length,
  }));
  if (result.ready !== '1') throw new Error(`map failed: ${JSON.stringify(result)}`);
  // Interaction after ready: zoom to grid level at the centre and wait for the new cases.
  const zoomMs = await page.evaluate(() => new Promise((resolve) => {
    const map = window.wanggeMap;
    const t0 = performance.now();
    const seen = document.getElementById('map-status').textContent;
    map.setView(map.getCenter(), 16, { animate: false });
    const tick = () => {
      const now = document.getElementById('map-status').textContent;
      if (now !== seen) resolve(performance.now() - t0); else if (performance.now() - t0 > 20000) resolve(-1); else setTimeout(tick, 10);
    };
    tick();
  }));
  console.error(`  ${label}: ready ${result.ms.toFixed(0)} ms, zoom-to-16 redraw ${zoomMs.toFixed(0)} ms, ` +
    `${result.clusters} cluster icons, status "${result.status}"`);
  await context.close();
  return result.ms;
}

const times = [];
const first = await once('run 0 (cold server: builds the region layers)');
for (let i = 1; i <= runs; i++) {
  await new Promise((r) => setTimeout(r, gap));
  times.push(await once(`run ${i}`));
}
await browser.close();
const sorted = [...times].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)];
console.log(`map ready (navigation start → mapReady, ${user}, ${runs} runs): median ${median.toFixed(0)} ms, ` +
  `min ${sorted[0].toFixed(0)} ms, max ${sorted[sorted.length - 1].toFixed(0)} ms; cold-server first run ${first.toFixed(0)} ms`);
