// A campaign's day (核查任务) in the browser: the street uploads a small CSV of declared records
// through the campaigns page (addresses written noisily from real houses of the demo worker's
// grid, one address that matches nothing and one duplicate identity number) and reads the
// totals on the dashboard; the grid worker opens the task on the phone page, records a result
// with a photo and sees it done; the street assigns the unmatched record a house by hand in the
// queue, and the dashboard shows the progress — without console errors or failed requests.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiGet, apiLogin, assertClean, launchBrowser, open, signIn, startServer, step, tinyPng } from './harness.js';

const TIMEOUT = 240_000;
const CAMPAIGN = '浏览器测试核查';
const OUTCOME = '不在住';
const NOTES = '敲门无人，邻居说已搬走';

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

// ---------------------------------------------------------------- test data

/** A GB 11643 identity number: 17 digits and their check character. */
function identity(body17) {
  assert.match(body17, /^\d{17}$/);
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...body17].reduce((s, d, i) => s + Number(d) * weights[i], 0);
  return body17 + '10X98765432'[sum % 11];
}

const DIGITS = '〇一二三四五六七八九';

/** 1–99 in Chinese numerals with units: 13 → 十三, 20 → 二十, 7 → 七. */
function cnCount(n) {
  const v = Number(n);
  assert.ok(Number.isInteger(v) && v >= 1 && v <= 99, `a small number: ${n}`);
  if (v < 10) return DIGITS[v];
  const tens = Math.floor(v / 10);
  const ones = v % 10;
  return `${tens === 1 ? '' : DIGITS[tens]}十${ones ? DIGITS[ones] : ''}`;
}

/** Digit by digit: 101 → 一〇一. */
function cnDigits(n) {
  return [...String(n)].map((d) => DIGITS[Number(d)]).join('');
}

/** A CSV cell, quoted when it must be. */
function cell(v) {
  const s = String(v ?? '');
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * The declared records: three houses written three noisy ways, an address that matches
 * nothing and, last, a second row of the first person (same identity number).
 */
function declared(houses) {
  const [a, b, c] = houses.map((h) => h.fields);
  const people = [
    { name: '张伟', id: identity('42010219800312001'), phone: '13800138001' },
    { name: '李娜', id: identity('42010219920705002'), phone: '13800138002' },
    { name: '王芳', id: identity('42010219751120003'), phone: '13800138003' },
    { name: '赵强', id: identity('42010220010101004'), phone: '13800138004' },
  ];
  const rows = [
    // street + community, the number and building in Chinese numerals, 幢 for 栋
    [`${a.street}${a.community}${a.road}${cnCount(a.number)}号${cnCount(a.building)}幢${a.unit}单元${a.room}室`, people[0]],
    // the district, the unit and room in Chinese numerals, 座 for 栋, a stray space
    [`${b.district}${b.street} ${b.road}${b.number}号${b.building}座${cnCount(b.unit)}单元${cnDigits(b.room)}室`, people[1]],
    // full width digits, 号楼 for 栋, 房 for 室
    [`${c.community}${c.road}${toFullWidth(c.number)}号${c.building}号楼${c.unit}单元${toFullWidth(c.room)}房`, people[2]],
    ['火星路999号', people[3]],
    // the first person again, declared at the first house written plainly, without a phone
    [`${a.road}${a.number}号${a.building}栋${a.unit}单元${a.room}室`, { ...people[0], phone: '' }],
  ];
  const lines = [
    '地址,姓名,身份证号,联系电话',
    ...rows.map(([address, p]) => [address, p.name, p.id, p.phone].map(cell).join(',')),
    '',
  ];
  return { csv: '\uFEFF' + lines.join('\r\n'), rows };
}

function toFullWidth(s) {
  return String(s).replace(/[0-9]/g, (d) => String.fromCharCode(d.charCodeAt(0) + 0xfee0));
}

/** Waits for the navigation a click starts. */
async function clickAndLoad(page, target, timeout = 30_000) {
  await Promise.all([
    page.waitForEvent('load', { timeout }),
    typeof target === 'string' ? page.click(target) : target.click(),
  ]);
}

async function totals(page) {
  return page.$eval('[data-testid=totals]', (el) => ({ ...el.dataset }));
}

// ---------------------------------------------------------------- the test

test("a campaign's day: upload, dashboard, a result on the phone, the street queue", { timeout: TIMEOUT }, async () => {
  const worker = await apiLogin(server, 'demo-worker');
  const grid = worker.user.region_code;
  assert.ok(grid && grid.length === 15, `the demo worker has a grid: ${grid}`);
  const street = await apiLogin(server, 'demo-street');
  assert.ok(grid.startsWith(street.user.region_code), `the demo street ${street.user.region_code} holds grid ${grid}`);

  // Houses of the grid, each in a building (room, unit, building and number set).
  const listed = await apiGet(server, `/api/v1/houses?region=${grid}&limit=50`, street.token);
  const houses = listed.items.filter((h) =>
    ['road', 'number', 'building', 'unit', 'room', 'street', 'community', 'district'].every((k) => h.fields?.[k]),
  );
  assert.ok(houses.length >= 4, `grid ${grid} has at least four complete houses: ${listed.items.length} listed`);
  // Three for the table, in different rooms; a fourth for the queue.
  const picked = [houses[0], houses[1], houses[houses.length - 1]];
  const byHand = houses.find((h) => !picked.includes(h));
  assert.equal(new Set(picked.map((h) => h.house_code)).size, 3);
  const { csv, rows } = declared(picked);

  // ------------------------------------------------------------ 1. the street uploads the table
  const s = await as('demo-street');
  let campaignId;
  await step(s, 'open the campaigns page from the navigation', async (page) => {
    const link = page.locator('nav.main-nav a[href="/console/campaigns"]');
    assert.equal(await link.count(), 1, 'the navigation has 核查任务');
    assert.equal((await link.innerText()).trim(), '核查任务');
    await clickAndLoad(page, link);
    assert.equal(new URL(page.url()).pathname, '/console/campaigns');
    assert.equal(await page.locator('[data-testid=new-campaign]').count(), 1, 'the street may create campaigns');
    assert.equal(await page.locator('[data-testid=queue-link]').count(), 1, 'and work the queue');
  });

  await step(s, 'upload the declared records through the form', async (page) => {
    const form = page.locator('[data-testid=new-campaign]');
    await form.locator('input[name=name]').fill(CAMPAIGN);
    await form.locator('input[name=kind]').fill('疫情核查');
    await page.setInputFiles('[data-testid=campaign-file]', {
      name: '申报名单.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(csv, 'utf8'),
    });
    await form.locator('input[name=address_column]').fill('地址');
    await form.locator('input[name=identity_column]').fill('身份证号');
    await form.locator('input[name=name_column]').fill('姓名');
    await form.locator('input[name=phone_column]').fill('联系电话');
    // Matching takes a moment: the answer is the dashboard, or the form again with the problem.
    await clickAndLoad(page, '[data-testid=campaign-submit]', 60_000);
    const problem = page.locator('[data-testid=problem]');
    if (await problem.count()) throw new Error(`the upload was refused: ${await problem.innerText()}`);
    const m = new URL(page.url()).pathname.match(/^\/console\/campaigns\/([0-9a-f-]{36})$/);
    assert.ok(m, `the upload lands on the campaign's dashboard, not ${page.url()}`);
    campaignId = m[1];
  });

  await step(s, "read the totals on the campaign's dashboard", async (page) => {
    assert.equal(await page.getAttribute('[data-testid=campaign-name]', 'data-campaign'), campaignId);
    assert.match(await page.innerText('[data-testid=campaign-name]'), new RegExp(CAMPAIGN));
    const t = await totals(page);
    assert.deepEqual(
      { records: t.records, matched: t.matched, manual: t.manual, unmatched: t.unmatched, duplicates: t.duplicates },
      { records: '5', matched: '3', manual: '0', unmatched: '1', duplicates: '1' },
      `the totals: ${JSON.stringify(t)}`,
    );
    assert.equal(t.done, '0');
    assert.equal(t.toVerify, '3');
    // What the page says, not only its attributes.
    assert.equal((await page.innerText('[data-count=records]')).trim(), '5');
    assert.match(await page.innerText('[data-count=matched]'), /^3 \(\+0 /);
    assert.equal((await page.innerText('[data-count=unmatched]')).trim(), '1');
    assert.equal((await page.innerText('[data-count=duplicates]')).trim(), '1');
    assert.equal((await page.innerText('[data-count=done]')).trim(), '0 / 3');
    const rule = await page.innerText('[data-testid=totals]');
    assert.match(rule, /去重合并规则/);
    // It is listed on the campaigns page.
    await open(s, '/console/campaigns');
    const row = page.locator(`[data-testid=campaigns] tr[data-campaign="${campaignId}"]`);
    assert.equal(await row.count(), 1, 'the campaign is listed');
    assert.equal(await row.getAttribute('data-status'), 'open');
    await clickAndLoad(page, row.locator('a'));
    assert.equal(new URL(page.url()).pathname, `/console/campaigns/${campaignId}`);
    // By grid: the worker's grid has all three records.
    await clickAndLoad(page, '[data-testid=levels] a[href="?level=grid"]');
    assert.equal(await page.getAttribute('[data-testid=progress]', 'data-level'), 'grid');
    const gridRow = page.locator(`[data-testid=progress] tr[data-region="${grid}"]`);
    assert.equal(await gridRow.count(), 1, `grid ${grid} is on the dashboard`);
    assert.equal(await gridRow.getAttribute('data-total'), '3');
    assert.equal(await gridRow.getAttribute('data-done'), '0');
  });

  // ------------------------------------------------------------ 2. the grid worker on the phone
  const w = await as('demo-worker', { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  let resultSeq;
  await step(w, 'open the task from /m/campaigns', async (page) => {
    await open(w, '/m/campaigns');
    const task = page.locator(`[data-testid=campaign-tasks] li[data-campaign="${campaignId}"]`);
    assert.equal(await task.count(), 1, 'the new campaign is one of my tasks');
    assert.equal(await task.getAttribute('data-grid'), grid);
    assert.equal(await task.getAttribute('data-total'), '3');
    assert.equal(await task.getAttribute('data-done'), '0');
    assert.match(await task.innerText(), new RegExp(`${CAMPAIGN}[\\s\\S]*0 / 3`));
    await clickAndLoad(page, task.locator('[data-testid=open-task]'));
    assert.equal(new URL(page.url()).pathname, `/m/campaigns/${campaignId}/${grid}`);
    assert.equal(await page.getAttribute('[data-testid=task-title]', 'data-grid'), grid);
    // The three matched records, each at its house; no duplicate, nothing unmatched.
    const cards = await page.$$eval('[data-testid=task-record]', (els) => els.map((e) => ({ ...e.dataset })));
    assert.deepEqual(
      cards.map((c) => c.house).sort(),
      picked.map((h) => h.house_code).sort(),
      `the task's records: ${JSON.stringify(cards)}`,
    );
    assert.ok(cards.every((c) => c.status === 'matched' && c.outcome === ''), 'none is done yet');
    // Personal data is masked on the phone too.
    const text = await page.innerText('main');
    assert.ok(!text.includes(rows[0][1].id), 'no identity number in full');
    assert.ok(text.includes(rows[0][1].name), "the person's name");
    resultSeq = cards.find((c) => c.house === picked[0].house_code).seq;
  });

  await step(w, 'record a result with a photo', async (page) => {
    const card = page.locator(`[data-testid=task-record][data-seq="${resultSeq}"]`);
    const form = card.locator('[data-testid=result-form]');
    await form.locator('select[name=outcome]').selectOption(OUTCOME);
    await form.locator('input[name=notes]').fill(NOTES);
    await form.locator('input[name=photo]').setInputFiles({ name: 'door.png', mimeType: 'image/png', buffer: tinyPng() });
    await clickAndLoad(page, form.locator('button[type=submit]'));
    const url = new URL(page.url());
    assert.equal(url.pathname, `/m/campaigns/${campaignId}/${grid}`);
    assert.equal(url.searchParams.get('done'), resultSeq);
    assert.match(await page.innerText('[data-testid=flash]'), new RegExp(`第 ${resultSeq} 条已保存`));
  });

  await step(w, 'see the record done', async (page) => {
    const card = page.locator(`[data-testid=task-record][data-seq="${resultSeq}"]`);
    assert.equal(await card.getAttribute('data-outcome'), OUTCOME);
    assert.equal(await card.getAttribute('data-photo'), 'yes', 'the photo is kept');
    const href = await card.locator('[data-testid=result-photo]').getAttribute('href');
    const photo = await page.request.get(href);
    assert.equal(photo.status(), 200, `the photo opens: ${href}`);
    assert.match(photo.headers()['content-type'] || '', /^image\//);
    const result = await card.locator('[data-testid=result]').innerText();
    assert.ok(result.includes(OUTCOME) && result.includes(NOTES) && result.includes('demo-worker'), `the result line: ${result}`);
    assert.equal(await card.locator('select[name=outcome]').inputValue(), OUTCOME, 'the form shows the outcome chosen');
    const others = await page.$$eval(`[data-testid=task-record]:not([data-seq="${resultSeq}"])`, (els) => els.map((e) => e.dataset.outcome));
    assert.deepEqual(others, ['', ''], 'the other records are still open');
    // The task counts it.
    await open(w, '/m/campaigns');
    const task = page.locator(`[data-testid=campaign-tasks] li[data-campaign="${campaignId}"]`);
    assert.equal(await task.getAttribute('data-done'), '1');
    assert.match(await task.locator('.badge').innerText(), /1 \/ 3/);
  });

  // ------------------------------------------------------------ 3. the street queue
  await step(s, 'assign the unmatched record a house in the queue', async (page) => {
    await open(s, '/console/campaigns');
    await clickAndLoad(page, '[data-testid=queue-link]');
    assert.equal(new URL(page.url()).pathname, '/console/campaigns/queue');
    const row = page.locator(`[data-testid=queue] tr[data-campaign="${campaignId}"]`);
    assert.equal(await row.count(), 1, 'one record of the campaign waits in the queue');
    assert.match(await row.innerText(), /火星路999号/);
    assert.equal(await row.getAttribute('data-status'), 'unmatched');
    const masked = await row.innerText();
    assert.ok(!masked.includes(rows[3][1].id), 'the identity number is masked in the queue');
    const form = row.locator('[data-testid=assign-form]');
    await form.locator('input[name=house_code]').fill(byHand.house_code);
    await clickAndLoad(page, form.locator('button[type=submit]'));
    const problem = page.locator('[data-testid=problem]');
    if (await problem.count()) throw new Error(`the assignment was refused: ${await problem.innerText()}`);
    assert.match(await page.innerText('[data-testid=flash]'), new RegExp(`已指定房屋 ${byHand.house_code}`));
    assert.equal(await page.locator(`[data-testid=queue] tr[data-campaign="${campaignId}"]`).count(), 0, 'the queue is empty of it');
  });

  await step(s, "the dashboard's progress shows the done record", async (page) => {
    await open(s, `/console/campaigns/${campaignId}`);
    const t = await totals(page);
    assert.equal(t.matched, '3');
    assert.equal(t.manual, '1', 'the record matched by hand');
    assert.equal(t.unmatched, '0');
    assert.equal(t.duplicates, '1');
    assert.equal(t.done, '1');
    assert.equal(t.toVerify, '4');
    assert.equal((await page.innerText('[data-count=done]')).trim(), '1 / 4');
    assert.match(await page.innerText('[data-count=matched]'), /^3 \(\+1 人工匹配\)/);
    // By grid (the default) with the outcome, and by street.
    await clickAndLoad(page, '[data-testid=levels] a[href="?level=street"]');
    assert.equal(await page.getAttribute('[data-testid=progress]', 'data-level'), 'street');
    const streetRow = page.locator(`[data-testid=progress] tr[data-region="${street.user.region_code}"]`);
    assert.equal(await streetRow.count(), 1, 'the street is on the dashboard');
    assert.equal((await streetRow.locator('[data-testid=region-done]').innerText()).trim(), '1 / 4');
    await clickAndLoad(page, '[data-testid=levels] a[href="?level=grid"]');
    const gridRow = page.locator(`[data-testid=progress] tr[data-region="${grid}"]`);
    assert.equal(await gridRow.getAttribute('data-done'), '1');
    assert.equal(await gridRow.getAttribute('data-total'), '4');
    assert.equal((await gridRow.locator('[data-testid=region-done]').innerText()).trim(), '1 / 4');
    assert.match(await gridRow.innerText(), new RegExp(`${OUTCOME} 1`));
  });

  // The worker's task now holds the record matched by hand.
  await step(w, 'the record matched by hand joins the task', async (page) => {
    await open(w, `/m/campaigns/${campaignId}/${grid}`);
    const card = page.locator(`[data-testid=task-record][data-house="${byHand.house_code}"]`);
    assert.equal(await card.count(), 1);
    assert.equal(await card.getAttribute('data-status'), 'manual');
    assert.match(await card.innerText(), /火星路999号/);
  });

  for (const u of users) assertClean(u);
});
