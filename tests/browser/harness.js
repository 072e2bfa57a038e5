// The browser tests' harness: a real `wangge demo` server on a random port, Debian's chromium
// driven by playwright-core, one browser context per signed-in user, and failures that say which
// user, which page and what was on the screen (with a screenshot saved in a temporary directory).
//
// Environment:
//   WANGGE_BIN       the wangge binary (default: target/debug/wangge, built by scripts/test)
//   CHROMIUM         the browser (default: /usr/bin/chromium)
//   WANGGE_BROWSER_ARTIFACTS  where failure screenshots go (default: a fresh temporary directory)

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const PASSWORD = 'demo';

/** Every demo login, with the role it has (wangge_domain::role::Role::as_str). */
export const ROLES = {
  'demo-worker': 'grid_worker',
  'demo-receiver': 'receiver',
  'demo-leader': 'shift_leader',
  'demo-dispatcher': 'dispatcher',
  'demo-unit': 'unit_user',
  'demo-community': 'community',
  'demo-street': 'street',
  'demo-district': 'district',
  'demo-supervisor': 'supervisor',
  'demo-admin': 'admin',
};

/** The role labels the header shows: `role.*` of the zh-CN catalogue (the default language). */
export const ROLE_LABELS = JSON.parse(
  readFileSync(join(ROOT, 'crates', 'wangge-server', 'web', 'i18n', 'zh-CN', 'common.json'), 'utf8'),
).role;

// Without the networking flags chromium phones home at start, which a closed network refuses.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

// ---------------------------------------------------------------- the server

/**
 * Starts `wangge demo` on a fresh SQLite database and a random port; resolves once it prints
 * its address. `stop()` kills it and removes its files.
 */
export async function startServer({ grids = 300, cases = 80, bin } = {}) {
  const binary = bin || process.env.WANGGE_BIN || join(ROOT, 'target', 'debug', 'wangge');
  if (!existsSync(binary)) {
    throw new Error(
      `no wangge binary at ${binary}: build it first (cargo build -p wangge --locked) or set WANGGE_BIN`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'wangge-browser-server-'));
  const args = [
    'demo',
    '--db', join(dir, 'demo.db'),
    '--files', join(dir, 'files'),
    '--addr', '127.0.0.1:0',
    '--grids', String(grids),
    '--cases', String(cases),
  ];
  const child = spawn(binary, args, {
    cwd: dir,
    env: {
      ...process.env,
      WANGGE_LOG: process.env.WANGGE_LOG || 'warn',
      NO_COLOR: '1',
      // Personal data is sealed: the base-data pages need a key (a fixed one, for tests only).
      WANGGE_DATA_KEY: process.env.WANGGE_DATA_KEY || '3a'.repeat(32),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Everything the server says, for a failure's report, line by line (chunks split lines).
  const log = [];
  const partial = { stdout: '', stderr: '' };
  const keep = (stream) => (chunk) => {
    const lines = (partial[stream] + chunk.toString()).split('\n');
    partial[stream] = lines.pop();
    for (const line of lines) if (line.trim()) log.push(line);
    if (log.length > 400) log.splice(0, log.length - 400);
  };
  child.stdout.on('data', keep('stdout'));
  const keepStderr = keep('stderr');

  const started = new Promise((resolveBase, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${binary} demo did not print its address within 120 s:\n${log.join('\n') || '(no output)'}`));
    }, 120_000);
    let buffered = '';
    const onData = (chunk) => {
      keepStderr(chunk);
      buffered += chunk.toString();
      // The address ends at the slash the server prints after it: stderr may arrive in pieces,
      // and a match on a piece could cut the port short.
      const m = buffered.match(/wangge demo: open (http:\/\/[^\s/]+)\//);
      if (m) {
        clearTimeout(timer);
        resolveBase(m[1]);
      }
    };
    child.stderr.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${binary} demo exited (${code ?? signal}) before serving:\n${log.join('\n') || '(no output)'}`));
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  let base;
  try {
    base = await started;
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  child.removeAllListeners('exit');
  child.stderr.removeAllListeners('data');
  child.stderr.on('data', keepStderr);
  child.once('exit', (code, signal) => log.push(`(the server exited: ${code ?? signal})`));
  // A test file that dies (a timeout, Ctrl-C) must not leave its server running.
  const killChild = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const onSignal = (signal) => {
    killChild();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('exit', killChild);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  return {
    base,
    host: new URL(base).host,
    dir,
    log,
    /** The server's last lines, for a failure's report. */
    tail(n = 30) {
      // The demo's banner (address, logins) is not news.
      const start = log.findIndex((l) => l.includes('stop with Ctrl-C')) + 1;
      const lines = log.slice(start).slice(-n);
      return lines.length ? lines.join('\n') : '(nothing since it started)';
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Signs in through the JSON API: a bearer token and the user as `/auth/me` describes it. */
export async function apiLogin(server, username, password = PASSWORD) {
  const res = await fetch(`${server.base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!res.ok) throw new Error(`API login of ${username} answered ${res.status}: ${await res.text()}`);
  const body = await res.json();
  return { token: body.token, user: body.user };
}

/** GET an API path with an optional bearer token; JSON or a thrown error naming the path. */
export async function apiGet(server, path, token) {
  const res = await fetch(`${server.base}${path}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  if (!res.ok) throw new Error(`GET ${path} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

/**
 * A point inside a grid: the API's polygon, tried at its vertices' centroid and then at points
 * between the centroid and each vertex, each checked with `/api/v1/locate`.
 */
export async function pointInGrid(server, gridCode) {
  const region = await apiGet(server, `/api/v1/regions/${gridCode}`);
  const geometry = region.geometry;
  const ring = geometry.type === 'MultiPolygon' ? geometry.coordinates[0][0] : geometry.coordinates[0];
  const vertices = ring.slice(0, -1);
  const c = vertices.reduce((a, [x, y]) => [a[0] + x / vertices.length, a[1] + y / vertices.length], [0, 0]);
  const candidates = [c, ...vertices.map(([x, y]) => [c[0] + (x - c[0]) * 0.3, c[1] + (y - c[1]) * 0.3])];
  for (const [lon, lat] of candidates) {
    const hit = await apiGet(server, `/api/v1/locate?lon=${lon}&lat=${lat}`).catch(() => null);
    if (hit?.grid?.code === gridCode) return { longitude: lon, latitude: lat };
  }
  throw new Error(`found no point inside grid ${gridCode}`);
}

// ---------------------------------------------------------------- the browser

export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

let artifactsDir;
/** Where failure screenshots go; made on first use. */
export async function artifacts() {
  if (!artifactsDir) {
    artifactsDir = process.env.WANGGE_BROWSER_ARTIFACTS
      ? resolve(process.env.WANGGE_BROWSER_ARTIFACTS)
      : await mkdtemp(join(tmpdir(), 'wangge-browser-failures-'));
    await mkdir(artifactsDir, { recursive: true });
  }
  return artifactsDir;
}

/**
 * A browser context for one person, watching for trouble: console errors, uncaught page errors,
 * failed requests, server errors and any request to another host (nothing may be loaded from
 * the internet). `expect(pattern)` allows a problem the test provokes on purpose.
 */
export async function newUser(browser, server, label, contextOptions = {}) {
  const context = await browser.newContext({
    baseURL: server.base,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    viewport: { width: 1280, height: 800 },
    ...contextOptions,
  });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(30_000);
  const user = {
    label,
    context,
    server,
    page: null,
    problems: [],
    allowed: [],
    /** Pages this user opened (main-frame navigations), for the report. */
    visited: new Set(),
    expect(pattern) {
      user.allowed.push(pattern);
    },
    /** Records a problem unless the test said to expect it. */
    note(kind, where, text) {
      const line = `${kind} on ${where}: ${text}`;
      if (user.allowed.some((p) => p.test(line))) return;
      user.problems.push(line);
    },
  };
  const where = (page) => {
    try {
      return page ? new URL(page.url()).pathname + new URL(page.url()).search : '(no page)';
    } catch {
      return page?.url() ?? '(no page)';
    }
  };
  context.on('console', (msg) => {
    if (msg.type() === 'error') {
      const loc = msg.location();
      user.note('console error', where(msg.page()), `${msg.text()}${loc?.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`);
    }
  });
  context.on('weberror', (err) => user.note('page error', where(err.page()), String(err.error()?.stack || err.error())));
  context.on('request', (req) => {
    const url = req.url();
    if (/^(data|blob|about|chrome-extension):/.test(url)) return;
    let host;
    try {
      host = new URL(url).host;
    } catch {
      return;
    }
    if (host !== server.host) user.note('request to another host', where(req.frame()?.page?.()), url);
  });
  context.on('requestfailed', (req) => {
    const failure = req.failure()?.errorText ?? 'failed';
    // A navigation that replaces a still-loading page (a redirect after a form, a link clicked
    // while images load) cancels the old page's requests: that is the browser's doing, not ours.
    if (failure === 'net::ERR_ABORTED') return;
    user.note('failed request', where(req.frame()?.page?.()), `${req.method()} ${req.url()} ${failure}`);
  });
  context.on('response', (res) => {
    if (res.status() >= 500) user.note('server error', new URL(res.url()).pathname, `${res.status()} ${res.request().method()} ${res.url()}`);
  });
  context.on('page', (page) => {
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) user.visited.add(where(page));
    });
  });
  user.page = await context.newPage();
  return user;
}

/** Signs a demo user in through the login form; `user.page` is on its landing page after. */
export async function signIn(browser, server, username, contextOptions = {}) {
  const user = await newUser(browser, server, username, contextOptions);
  user.username = username;
  user.role = ROLES[username];
  await step(user, 'sign in through the login form', async () => {
    const { page } = user;
    await page.goto('/login');
    await page.fill('input[name=username]', username);
    await page.fill('input[name=password]', PASSWORD);
    const [res] = await Promise.all([
      page.waitForNavigation({ url: (u) => !u.pathname.startsWith('/login') }),
      page.click('button[type=submit]'),
    ]);
    if (res && res.status() >= 400) {
      throw new Error(`the landing page ${new URL(page.url()).pathname} answered ${res.status()}`);
    }
    if ((await page.locator('[data-testid=who]').count()) === 0) {
      throw new Error('the landing page has no [data-testid=who] header');
    }
  });
  return user;
}

/** Opens a path and waits for the page's load event. Throws on an HTTP error unless `status` says so. */
export async function open(user, path, { status } = {}) {
  const res = await user.page.goto(path, { waitUntil: 'load' });
  const got = res?.status();
  if (status === undefined && got !== undefined && got >= 400) {
    throw new Error(`GET ${path} answered ${got}`);
  }
  if (status !== undefined && got !== status) {
    throw new Error(`GET ${path} answered ${got}, expected ${status}`);
  }
  return res;
}

/**
 * Runs one step of a test as one user. A failure is rethrown with the user, the page, the
 * visible text of the screen, the problems seen so far, the server's last lines and the path of
 * a screenshot.
 */
export async function step(user, what, fn) {
  try {
    return await fn(user.page);
  } catch (err) {
    throw await explain(user, what, err);
  }
}

async function explain(user, what, err) {
  const page = user.page;
  let url = '(no page)';
  let text = '';
  let shot = '';
  try {
    url = page.url();
    text = (await page.evaluate(() => document.body?.innerText ?? '').catch(() => ''))
      .replace(/\s+\n/g, '\n')
      .replace(/\n{2,}/g, '\n')
      .slice(0, 1500);
    const dir = await artifacts();
    const name = `${user.label}-${what}`.replace(/[^\w.-]+/g, '_').slice(0, 100);
    shot = join(dir, `${name}-${Date.now()}.png`);
    await page.screenshot({ path: shot, fullPage: true, timeout: 5_000 });
  } catch {
    shot = shot ? `${shot} (could not be taken)` : '(none)';
  }
  const lines = [
    `${user.label} (${user.role ?? 'signed out'}): ${what} — failed`,
    `page: ${url}`,
    `error: ${err?.message ?? err}`,
    `screenshot: ${shot}`,
    `on screen:\n  ${text.split('\n').join('\n  ')}`,
  ];
  if (user.problems.length) lines.push(`problems seen so far:\n  ${user.problems.join('\n  ')}`);
  if (user.server) lines.push(`server's last lines:\n  ${user.server.tail(15).split('\n').join('\n  ')}`);
  const wrapped = new Error(lines.join('\n'));
  wrapped.cause = err;
  return wrapped;
}

/** Fails when a user met console errors, failed requests or requests to other hosts. */
export function assertClean(user) {
  if (user.problems.length) {
    throw new Error(
      `${user.label} (${user.role}) met ${user.problems.length} problem(s) on the pages it opened ` +
        `(${[...user.visited].join(', ')}):\n  ${user.problems.join('\n  ')}`,
    );
  }
}

/** Posts an action form of the case page (`form[data-action=…]`), with a photo when it takes one. */
export async function submitAction(user, caseId, action, { note, photo = true } = {}) {
  return step(user, `${action} case ${caseId} on the case page`, async (page) => {
    await open(user, `/console/cases/${caseId}`);
    const form = page.locator(`form[data-action=${action}]`);
    if ((await form.count()) === 0) {
      const offered = await page.$$eval('form[data-action]', (fs) => fs.map((f) => f.dataset.action));
      throw new Error(`no form[data-action=${action}] on the case page; it offers: ${offered.join(', ') || 'none'}`);
    }
    for (const field of await form.locator('textarea').all()) {
      if ((await field.getAttribute('required')) !== null || note) {
        await field.fill(note ?? `浏览器测试：${action}`);
      }
    }
    const files = form.locator('input[type=file]');
    if (photo && (await files.count()) > 0) {
      await files.first().setInputFiles({ name: `${action}.png`, mimeType: 'image/png', buffer: tinyPng() });
    }
    await Promise.all([page.waitForEvent('load'), form.locator('button[type=submit]').click()]);
    const error = await page.$('[data-error]');
    if (error) throw new Error(`the server refused ${action}: ${await error.innerText()}`);
  });
}

/** The case's state as its page shows it. */
export async function caseState(user, caseId) {
  return step(user, `read the state of case ${caseId}`, async (page) => {
    await open(user, `/console/cases/${caseId}`);
    return page.getAttribute('[data-testid=case-state]', 'data-state');
  });
}

// ---------------------------------------------------------------- test data

/** A valid 16×16 PNG (a red square with a dark border), made without any image library. */
export function tinyPng() {
  const width = 16;
  const height = 16;
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    for (let x = 0; x < width; x++) {
      const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1;
      const o = y * (width * 3 + 1) + 1 + x * 3;
      raw[o] = edge ? 40 : 220;
      raw[o + 1] = edge ? 40 : 60;
      raw[o + 2] = edge ? 40 : 50;
    }
  }
  return png(width, height, raw);
}

function png(width, height, raw) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
