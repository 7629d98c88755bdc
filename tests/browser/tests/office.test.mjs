// The back office in headless Debian Chromium (driven by playwright-core,
// no downloaded browser) against a real posfield-server on 127.0.0.1 with
// the demo fleet, and a real agent core (the posfield-agent CLI) whose
// visit is reviewed in the browser and whose sync must bring the note home.
//
// POSFIELD_SERVER_BIN and POSFIELD_AGENT_BIN name the binaries
// (scripts/test-office builds them). With OFFICE_SCREENSHOTS=DIR the main
// pages are also saved there as office-*.png.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const here = path.dirname(new URL(import.meta.url).pathname);
const repo = path.resolve(here, '../../..');
const serverBin = process.env.POSFIELD_SERVER_BIN;
const agentBin = process.env.POSFIELD_AGENT_BIN;
const shots = process.env.OFFICE_SCREENSHOTS;
const password = 'correct horse battery';

let work, server, base, browser, admin, visitId;

function serverCli(...args) {
  return execFileSync(serverBin, ['--data', path.join(work, 'server'), ...args], {
    env: { ...process.env, POSFIELD_PASSWORD: password },
    encoding: 'utf8',
  }).trim();
}

/** The agent CLI on the phone whose data folder is `phone` under the work folder. */
function agentAt(phone, ...args) {
  return execFileSync(agentBin, ['--data', path.join(work, phone), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

function agent(...args) {
  return agentAt('agent', ...args);
}

async function startServer() {
  const child = spawn(serverBin, ['--data', path.join(work, 'server'), 'serve', '--listen', '127.0.0.1:0', '--demo'], {
    env: { ...process.env, RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout });
  const line = await new Promise((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`posfield-server exited with ${code}`)));
  });
  return { child, base: line.trim().split('http://')[1].replace(/\/$/, '') };
}

async function screenshot(page, name, fullPage = false) {
  if (shots) await page.screenshot({ path: path.join(shots, `office-${name}.png`), fullPage });
}

async function signIn(context, user) {
  const page = await context.newPage();
  await page.goto(`http://${base}/office/login`);
  await page.fill('input[name=user]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL('**/office/visits'), page.click('button[type=submit]')]);
  return page;
}

async function newContext() {
  return browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'zh-CN' });
}

/** A whole repair visit on the agent's phone for `shop`, with a photo and a signature, completed. */
function repairVisit(shop, serial, { marks = false } = {}) {
  const id = agent('create', '--kind', 'repair', '--merchant', shop, '--merchant-number', '898310048161234');
  agent('identify', id, '--serial', serial);
  agent('step', id, 'identify', 'done');
  const fault = agent('fault', id, 'printer_fault', '--symptom', '打印空白');
  agent('attempt', id, fault, '--remedy', 'check_paper', '--description', '纸卷装反', '--fixed');
  agent('resolve', id, fault, '--fixed');
  agent('step', id, 'fault.classify', 'done');
  agent('step', id, 'fault.onsite', 'done');
  agent('warranty', id, 'in_warranty');
  agent('step', id, 'warranty', 'done');
  const photo = agent('photo', id, 'purchase_proof', path.join(repo, 'fuzz/corpus/photo/receipt.jpg')).split(' ')[0];
  if (marks) {
    // The agent marks the receipt's date: an arrow to it and a word beside it.
    agent('mark', id, photo, 'arrow', '150,750', '420,420');
    agent('mark', id, photo, 'text', '440,330', '440,330', '--text', '购买日期');
  }
  agent('step', id, 'docs.purchase_proof', 'done');
  agent('plan', id, 'fixed_on_site');
  agent('step', id, 'plan', 'done');
  agent('step', id, 'test', 'done');
  const wave = (y, t0) =>
    Array.from({ length: 40 }, (_, i) => ({ x: 30 + i * 12, y: y + Math.sin(i / 3) * 20, t: t0 + i * 15, p: 0.6 }));
  const strokes = path.join(work, 'strokes.json');
  fs.writeFileSync(strokes, JSON.stringify({ width: 600, height: 300, strokes: [wave(120, 0), wave(200, 800)] }));
  agent('sign', id, '--signer', '王老板', '--strokes', strokes);
  agent('step', id, 'acceptance', 'done');
  agent('complete', id);
  return id;
}

/** The agent's phone enrolled, and its first visit made and synced. */
function agentDay() {
  agent('enroll', `http://${base}`, serverCli('enroll-agent', 'wang.test'), '--device-name', '测试手机');
  const id = repairVisit('测试五金店', 'N9100001234567', { marks: true });
  agent('sync');
  return id;
}

before(async () => {
  assert.ok(serverBin && agentBin, 'POSFIELD_SERVER_BIN and POSFIELD_AGENT_BIN must name the binaries');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'posfield-office-'));
  ({ child: server, base } = await startServer());
  serverCli('add-user', 'boss', '--role', 'admin');
  serverCli('add-user', 'chen', '--role', 'reviewer');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic',
    ],
  });
  admin = await newContext();
  visitId = agentDay();
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test('sign in, filter, open a visit with photos and signature, return it: the note reaches the agent', async () => {
  const page = await signIn(admin, 'boss');
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  assert.ok((await page.locator('#visit-list tbody tr').count()) >= 40, 'the demo fills the first page');
  await screenshot(page, 'visits');

  await page.selectOption('select[name=agent]', 'wang.test');
  await page.selectOption('select[name=status]', 'completed');
  await Promise.all([page.waitForURL(/agent=wang.test/), page.click('#visit-filters button[type=submit]')]);
  const rows = page.locator('#visit-list tbody tr');
  assert.equal(await rows.count(), 1);
  await Promise.all([page.waitForURL(`**/office/visits/${visitId}`), rows.locator('a', { hasText: '测试五金店' }).click()]);

  // Photos and the signature are real images the browser decoded.
  const photo = page.locator('#photos img.thumb');
  assert.equal(await photo.count(), 1);
  await photo.evaluate((img) => img.decode());
  assert.ok((await photo.evaluate((img) => img.naturalWidth)) > 0, 'the photo loaded');
  // The agent's marks are drawn over it, the photo itself untouched.
  assert.equal(await page.getAttribute('#photos a.marked', 'data-marks'), '2');
  assert.deepEqual(await page.locator('#photos svg.marks > *').evaluateAll((els) => els.map((e) => e.tagName)), ['line', 'polyline', 'text']);
  assert.equal(await page.textContent('#photos svg.marks text'), '购买日期');
  const signature = page.locator('#signature img.signature-image');
  await signature.evaluate((img) => img.decode());
  assert.ok((await signature.evaluate((img) => img.naturalWidth)) > 100, 'the signature loaded');
  assert.match(await page.textContent('#signature-badge'), /签字有效/);
  assert.match(await page.textContent('#faults'), /打印机故障[\s\S]*纸卷装反/);
  assert.match(await page.textContent('#history'), /商户验收签字/);
  // Full size on click: the thumbnail links to the photo itself.
  const href = await page.locator('#photos a').getAttribute('href');
  const full = await page.request.get(`http://${base}${href}`);
  assert.equal(full.status(), 200);
  assert.match(full.headers()['content-type'], /^image\//);
  await screenshot(page, 'visit', true);

  // The merchant's verification page, as the phone's QR code and the
  // certificate point to it: what was signed, that it matches, the
  // signature, and no photo.
  const verifyHref = await page.locator('#verify-link').getAttribute('href');
  assert.match(verifyHref, new RegExp(`^/verify/${visitId}\\?h=[0-9a-f]{64}$`));
  const merchantView = await page.context().newPage();
  await merchantView.setViewportSize({ width: 390, height: 844 });
  const verified = await merchantView.goto(`http://${base}${verifyHref}`);
  assert.equal(verified.status(), 200);
  assert.equal(await merchantView.getAttribute('#verify-state', 'data-state'), 'matches');
  assert.match(await merchantView.textContent('#verify-summary'), /测试五金店[\s\S]*本人确认以上服务已完成/);
  await merchantView.locator('#verify-signature').evaluate((img) => img.decode());
  assert.equal(await merchantView.locator('img').count(), 1, 'the signature is the only image');
  await screenshot(merchantView, 'verify', true);
  await merchantView.close();

  await page.fill('#review-note', '请补拍购机凭证');
  await Promise.all([page.waitForURL(/saved=1/), page.click('#return')]);
  assert.match(await page.textContent('#visit-status'), /已退回/);
  assert.match(await page.textContent('#review'), /请补拍购机凭证/);

  agent('sync');
  const onPhone = JSON.parse(agent('show', visitId));
  assert.equal(onPhone.status, 'returned');
  assert.equal(onPhone.reviews.at(-1).note, '请补拍购机凭证');
  assert.equal(onPhone.reviews.at(-1).stamp.by.user, 'boss');

  // The English switch keeps the page.
  await Promise.all([page.waitForURL(`**/office/visits/${visitId}`), page.click('#lang-switch')]);
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.match(await page.textContent('#visit-status'), /Returned/);
  await page.click('#lang-switch');
  await page.waitForURL(`**/office/visits/${visitId}`);
});

test('the alerts, terminals and applications pages show the fleet', async () => {
  const page = await admin.newPage();
  await page.goto(`http://${base}/office/alerts`);
  for (const id of ['total-sim', 'total-old', 'total-warranty', 'total-faults', 'total-applications', 'total-blobs']) {
    assert.ok(Number(await page.textContent(`#${id}`)) > 0, `${id} is empty`);
  }
  await screenshot(page, 'alerts');
  await page.goto(`http://${base}/office/terminals`);
  assert.equal(await page.locator('#terminal-list tbody tr').count(), 50);
  await screenshot(page, 'terminals');
  await page.goto(`http://${base}/office/applications`);
  const waiting = page.locator('section.application:has(button[value=approve])');
  assert.ok((await waiting.count()) > 0);
  await screenshot(page, 'applications');
  // Approve the first waiting application: it leaves the waiting list.
  const before = await waiting.count();
  await Promise.all([page.waitForURL('**/office/applications'), waiting.first().locator('button[value=approve]').click()]);
  assert.equal(await page.locator('section.application:has(button[value=approve])').count(), before - 1);
});

test('the dashboard draws the demo fleet: five charts, each with its numbers as a table and as CSV', async () => {
  const page = await admin.newPage();
  await page.goto(`http://${base}/office/dashboard`);
  const charts = page.locator('section.chart');
  assert.equal(await charts.count(), 5);
  for (const id of ['kind', 'agent', 'backlog', 'sim', 'states']) {
    const chart = page.locator(`#chart-${id}`);
    assert.ok((await chart.locator('.chart-svg svg rect').count()) > 1, `${id} draws bars`);
    assert.ok((await chart.locator('table.chart-table tbody tr').count()) > 0, `${id} has a table`);
  }
  assert.ok(Number(await page.textContent('#dash-waiting')) > 0, 'the demo has visits waiting');
  const sum = (await page.locator('#chart-states table tbody td:nth-child(2)').allTextContents())
    .reduce((total, n) => total + Number(n), 0);
  assert.ok(sum > 100, `the register's terminals by state: ${sum}`);
  const csv = await page.request.get(`http://${base}/office/dashboard.csv?chart=sim`);
  assert.equal(csv.status(), 200);
  const lines = (await csv.text()).replace(/^\uFEFF/, '').trim().split('\n');
  assert.equal(lines.length, 13, 'a header and twelve weeks');
  await screenshot(page, 'dashboard', true);
  await page.close();
});

test('a CSV import keeps the good rows and reports the bad ones by line', async () => {
  const page = await admin.newPage();
  await page.goto(`http://${base}/office/terminals/import`);
  const csv = [
    'serial,model,manufacturer,merchant,state,production_date,warranty_end,sim_iccid,sim_carrier,sim_expiry',
    'TEST00000001,A8,联迪,导入测试店,installed,2022-01-10,2024-01-10,89860012345678901238,中国移动,2027-01-01',
    'bad serial!,A8,联迪,导入测试店,installed,,,,,',
    'TEST00000002,A8,联迪,导入测试店,已安装,2023-05-01,,,,',
    'TEST00000003,A8,联迪,导入测试店,installed,2023-02-30,,,,',
    'TEST00000004,A8,联迪,导入测试店,installed,,,89860012345678901230,中国移动,',
    '',
  ].join('\n');
  await page.fill('#csv', csv);
  await Promise.all([page.waitForLoadState('load'), page.click('#import-form button[type=submit]')]);
  await page.waitForSelector('#import-report');
  assert.equal(await page.textContent('#imported-count'), '2');
  const lines = await page.locator('#bad-rows tbody tr td:first-child').allTextContents();
  assert.deepEqual(lines, ['3', '5', '6']);
  await screenshot(page, 'import');
  await page.goto(`http://${base}/office/terminals?serial=TEST0000`);
  const serials = await page.locator('#terminal-list tbody tr td:first-child').allTextContents();
  assert.deepEqual(serials.map((s) => s.trim()), ['TEST00000001', 'TEST00000002']);
});

test('a CSV file saved as GBK (Excel on Chinese Windows) or as UTF-8 with a BOM imports with its Chinese intact', async () => {
  const page = await admin.newPage();
  await page.goto(`http://${base}/office/terminals/import`);
  await page.setInputFiles('#csv-file', path.join(here, '../fixtures/register-gbk.csv'));
  await page.waitForSelector('#csv-encoding:not([hidden])');
  assert.match(await page.textContent('#csv-encoding'), /GBK \/ GB18030/);
  assert.match(await page.inputValue('#csv'), /老张五金店/);
  await Promise.all([page.waitForLoadState('load'), page.click('#import-form button[type=submit]')]);
  await page.waitForSelector('#import-report');
  assert.equal(await page.textContent('#imported-count'), '2');
  assert.deepEqual(await page.locator('#bad-rows tbody tr td:first-child').allTextContents(), ['4']);
  await page.goto(`http://${base}/office/terminals/GBK000000001`);
  assert.match(await page.textContent('main'), /老张五金店[\s\S]*898310048160101/);

  await page.goto(`http://${base}/office/terminals/import`);
  await page.setInputFiles('#csv-file', path.join(here, '../fixtures/register-utf8-bom.csv'));
  await page.waitForSelector('#csv-encoding:not([hidden])');
  assert.match(await page.textContent('#csv-encoding'), /UTF-8/);
  assert.ok((await page.inputValue('#csv')).startsWith('serial,'), 'the byte order mark is dropped');
  await Promise.all([page.waitForLoadState('load'), page.click('#import-form button[type=submit]')]);
  await page.waitForSelector('#import-report');
  assert.equal(await page.textContent('#imported-count'), '1');
  await page.goto(`http://${base}/office/terminals/BOM000000001`);
  assert.match(await page.textContent('main'), /李记茶庄/);
});

test('an XLSX import keeps its good rows and reports the bad ones by row; a zip bomb is refused whole', async () => {
  const made = path.join(work, 'xlsx');
  execFileSync('python3', [path.join(repo, 'tests/browser/fixtures/make_xlsx.py'), made]);
  const page = await admin.newPage();
  await page.goto(`http://${base}/office/terminals/import`);
  await page.setInputFiles('#csv-file', path.join(made, 'register.xlsx'));
  await page.waitForSelector('#csv-encoding:not([hidden])');
  await Promise.all([page.waitForLoadState('load'), page.click('#import-form button[type=submit]')]);
  await page.waitForSelector('#import-report');
  assert.equal(await page.textContent('#imported-count'), '2');
  const lines = await page.locator('#bad-rows tbody tr td:first-child').allTextContents();
  assert.deepEqual(lines, ['3', '4'], 'the bad date and the unknown state, by their rows');
  await page.goto(`http://${base}/office/terminals/N9100000000201`);
  assert.match(await page.textContent('main'), /898310048162001/, 'a number cell arrives as the merchant number it was');

  await page.goto(`http://${base}/office/terminals/import`);
  await page.setInputFiles('#csv-file', path.join(made, 'bomb.xlsx'));
  await page.waitForSelector('#csv-encoding:not([hidden])');
  await Promise.all([page.waitForLoadState('load'), page.click('#import-form button[type=submit]')]);
  assert.equal(await page.textContent('#imported-count'), '0');
  assert.match(await page.textContent('#bad-rows'), /zip bomb/);
  await screenshot(page, 'import-xlsx-bomb');

  // The register comes back out as a spreadsheet, which imports back.
  const exported = await page.request.get(`http://${base}/office/terminals/export.xlsx`);
  assert.equal(exported.status(), 200);
  const body = await exported.body();
  assert.equal(body.subarray(0, 4).toString('binary'), 'PK\x03\x04');
  await page.close();
});

test('the review queue: oldest first, skip, approve and next through five visits, return with a stock reason', async () => {
  // Six visits waiting, made in this order; the queue follows the agent's filter.
  const shops = ['队列一号店', '队列二号店', '队列三号店', '队列四号店', '队列五号店', '队列六号店'];
  const ids = shops.map((shop, i) => repairVisit(shop, `N91000012345${String(10 + i)}`));
  agent('sync');
  const page = await signIn(await newContext(), 'chen');
  const shown = async () => (await page.textContent('h1')).trim();
  const showing = (shop) => page.waitForFunction((name) => document.querySelector('h1')?.textContent.includes(name), shop);
  await page.goto(`http://${base}/office/queue?agent=wang.test`);
  assert.match(await shown(), /队列一号店/, 'the oldest waiting visit first');
  assert.match(page.url(), /queue=/);
  assert.equal((await page.textContent('#approve')).trim(), '审核通过并下一个 A');
  assert.match(await page.textContent('#queue-bar'), /审核队列/);
  await screenshot(page, 'queue', true);
  // N skips to the next without deciding.
  await page.keyboard.press('n');
  await showing('队列二号店');
  // Back to the start: five approvals and next, the first by the A key, the others by the button.
  await page.goto(`http://${base}/office/queue?agent=wang.test`);
  for (const [i, shop] of shops.slice(0, 5).entries()) {
    await showing(shop);
    if (i === 0) await page.keyboard.press('a');
    else await page.click('#approve');
    await showing(shops[i + 1]);
  }
  // The sixth is returned with a stock reason, then the queue is empty.
  await page.click('#return-reasons button.reason >> nth=0');
  assert.equal(await page.inputValue('#review-note'), '照片不清晰，请补拍');
  await page.click('#return');
  await page.waitForSelector('#queue-empty');
  await screenshot(page, 'queue-empty');
  // The decisions reach the phone.
  agent('sync');
  const states = ids.map((id) => JSON.parse(agent('show', id)).status);
  assert.deepEqual(states, ['approved', 'approved', 'approved', 'approved', 'approved', 'returned']);
  await page.context().close();
});

test('twenty expiring SIM cards ticked on the alerts page become renewals on the agent\'s phone', async () => {
  const page = await admin.newPage();
  await page.goto(`http://${base}/office/alerts`);
  const sim = page.locator('#dispatch-sim_renewal');
  const boxes = sim.locator('tbody input[name=serial]');
  assert.equal(await boxes.count(), 20, 'the twenty most urgent SIM cards can be ticked');
  const serials = await boxes.evaluateAll((all) => all.map((box) => box.value));
  // The list sorts by a column and filters by words; ticking all counts them on the button.
  await sim.locator('th', { hasText: '运营商' }).click();
  await sim.locator('input.tick-all').check();
  assert.equal(await sim.locator('.dispatch-button .ticked').textContent(), '20');
  await sim.locator('select[name=agent]').selectOption('wang.test');
  await screenshot(page, 'alerts-dispatch');
  await Promise.all([page.waitForURL('**/office/alerts/dispatch'), sim.locator('.dispatch-button').click()]);
  assert.equal(await page.textContent('#dispatch-count'), '20', 'the confirmation names how many');
  await screenshot(page, 'dispatch-confirm');
  await Promise.all([page.waitForLoadState('load'), page.click('#dispatch-confirm button[name=confirmed]')]);
  assert.equal(await page.textContent('#dispatch-created'), '20');
  await screenshot(page, 'dispatch-result');
  // The alert's rows now open the visits they became.
  await page.goto(`http://${base}/office/alerts`);
  assert.equal(await page.locator('#dispatch-sim_renewal a.became').count(), 20);
  await page.close();
  // After its sync the phone holds the twenty renewals, one per ticked terminal.
  agent('sync');
  const renewals = agent('list', '--status', 'draft', '--limit', '200')
    .split('\n')
    .map((line) => JSON.parse(line))
    .filter((row) => row.kind === 'sim_renewal');
  assert.equal(renewals.length, 20);
  const dispatched = renewals.flatMap((row) =>
    JSON.parse(agent('show', row.id)).notes.map((note) => note.text));
  for (const serial of serials) {
    assert.ok(dispatched.some((text) => text.includes(serial)), `${serial} reached the phone`);
  }
});

test('a phone enrolled by the QR code on the devices page, then revoked: its sync is refused, its work stays', async () => {
  const page = await admin.newPage();
  await page.goto(`http://${base}/office/devices`);
  await page.fill('#enrol-form input[name=agent]', 'zhao.qr');
  await Promise.all([page.waitForURL('**/office/devices/enrol'), page.click('#enrol-form button[type=submit]')]);
  await screenshot(page, 'enrol');
  // The phone reads the QR code off the screen: decoded from the page's screenshot.
  const shot = path.join(work, 'enrolment-qr.png');
  await page.locator('#enrolment-qr').screenshot({ path: shot });
  const symbols = agentAt('zhao', 'decode-barcodes', shot).split('\n').map((line) => JSON.parse(line));
  const qr = symbols.find((symbol) => symbol.format === 'qrcode' || /qr/i.test(String(symbol.format)));
  assert.ok(qr, `a QR code in ${JSON.stringify(symbols)}`);
  assert.equal(qr.text, (await page.textContent('#enrolment-link')).trim(), 'the QR code is the link shown');
  assert.match(qr.text, /^posfield\+http:\/\/127\.0\.0\.1:\d+\/[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
  agentAt('zhao', 'enroll', qr.text, '--device-name', '扫码手机');
  agentAt('zhao', 'sync');

  // Offline work made after the last sync, then the phone is revoked on the page.
  const unsynced = agentAt('zhao', 'create', '--kind', 'inspection', '--merchant', '扫码测试店');
  await page.goto(`http://${base}/office/devices`);
  const row = page.locator('#devices tbody tr', { hasText: 'zhao.qr' });
  await row.locator('td.revoke summary').click();
  await Promise.all([page.waitForURL('**/office/devices*'), row.locator('td.revoke button').click()]);
  assert.equal(await row.locator('.badge', { hasText: '已吊销' }).count(), 1, 'the row says revoked');
  await screenshot(page, 'devices');
  await page.close();

  let refusal = '';
  try {
    agentAt('zhao', 'sync');
  } catch (error) {
    refusal = String(error.stderr);
  }
  assert.match(refusal, /revoked/, 'the next sync is refused as revoked');
  // Both are in the audit log, under the administrator, without the code.
  const audit = await admin.newPage();
  await audit.goto(`http://${base}/office/audit?actor=boss`);
  const actions = await audit.locator('#audit-list tbody td:nth-child(3)').allTextContents();
  assert.ok(actions.includes('enrolment_code_issued') && actions.includes('device_revoked'), actions.join(' '));
  assert.ok(!(await audit.textContent('#audit-list')).includes(qr.text.split('/').pop()), 'the code is not logged');
  await audit.fill('#audit-filters input[name=action]', 'device_revoked');
  await Promise.all([audit.waitForURL('**/office/audit?*'), audit.click('#audit-filters button[type=submit]')]);
  assert.equal(await audit.locator('#audit-list tbody tr').count(), 1);
  await screenshot(audit, 'audit');
  const csv = await audit.request.get(`http://${base}/office/audit/export.csv?action=device_revoked`);
  assert.match(await csv.text(), /device_revoked/);
  await audit.close();
  const kept = agentAt('zhao', 'list', '--unsynced').split('\n').map((line) => JSON.parse(line).id);
  assert.ok(kept.includes(unsynced), 'the unsynced visit stays on the phone');
});

test('on a 360 px phone every page fits the screen, and a visit can be approved there', async () => {
  // Not `isMobile`: a mobile viewport zooms out to fit what overflows, and would hide it.
  const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'zh-CN', hasTouch: true });
  const page = await signIn(phone, 'boss');
  const pages = [
    '/office/visits', `/office/visits/${visitId}`, '/office/queue', '/office/terminals', '/office/terminals/N9100001234567',
    '/office/alerts', '/office/applications', '/office/outbox', '/office/check-in', '/office/visits/new',
    '/office/terminals/import', '/office/devices', '/office/dashboard', '/office/audit', '/office/users',
  ];
  for (const address of pages) {
    await page.goto(`http://${base}${address}`);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 360, `${address} is ${wide} px wide on a 360 px screen`);
  }
  // The review queue on the phone: its decision buttons are on the screen's width.
  const id = repairVisit('手机审核店', 'N9100001234599');
  agent('sync');
  await page.goto(`http://${base}/office/visits/${id}`);
  const approve = page.locator('button[value=approve]').first();
  const box = await approve.boundingBox();
  assert.ok(box && box.x >= 0 && box.x + box.width <= 360, `the approve button is on the screen: ${JSON.stringify(box)}`);
  await screenshot(page, 'phone-visit', true);
  await page.goto(`http://${base}/office/alerts`);
  await screenshot(page, 'phone-alerts');
  await phone.close();
});

test('a reviewer cannot reach admin pages, and nothing is served without a session', async () => {
  const reviewer = await newContext();
  const page = await signIn(reviewer, 'chen');
  assert.equal(await page.locator('a[href="/office/terminals/import"]').count(), 0, 'no admin links');
  for (const adminPage of ['/office/visits/new', '/office/terminals/import', '/office/devices', '/office/audit', '/office/audit/export.csv', '/office/users', '/office/settings']) {
    const response = await page.goto(`http://${base}${adminPage}`);
    assert.equal(response.status(), 403, adminPage);
  }
  await reviewer.close();

  const anonymous = await newContext();
  const stranger = await anonymous.newPage();
  await stranger.goto(`http://${base}/office/visits/${visitId}`);
  assert.match(stranger.url(), /\/office\/login$/);
  const blob = JSON.parse(agent('show', visitId)).documents[0].sha256;
  const response = await stranger.request.get(`http://${base}/office/blobs/${blob}`, { maxRedirects: 0 });
  assert.equal(response.status(), 303);
  assert.equal(response.headers()['location'], '/office/login');
  await screenshot(stranger, 'login');
  await anonymous.close();
});

test('the warehouse checks in a terminal an agent held too long, by scanner: the alert goes, the chain shows it', async () => {
  const reviewer = await newContext();
  const page = await signIn(reviewer, 'chen');
  await page.goto(`http://${base}/office/alerts`);
  const held = Number((await page.textContent('#total-held')).trim());
  assert.ok(held > 0, 'the demo has terminals held by agents for too long');
  const serial = (await page.locator('#alert-held tbody tr td:first-child').first().textContent()).trim();

  await page.click('a[href="/office/check-in"]');
  await page.waitForURL('**/office/check-in');
  await page.fill('#check-in-condition', '外观完好，屏幕有划痕');
  await page.fill('#check-in-seal', 'BAG-2026-0042');
  // A USB scanner types the serial and presses Enter, in the serial field.
  await page.focus('#check-in-serial');
  await page.keyboard.type(serial);
  await Promise.all([page.waitForURL(/\/office\/check-in\?serial=/), page.keyboard.press('Enter')]);
  assert.match(await page.textContent('#checked-in'), new RegExp(serial));
  assert.equal(await page.evaluate(() => document.activeElement.id), 'check-in-serial', 'ready for the next scan');
  await screenshot(page, 'check-in');

  await page.goto(`http://${base}/office/alerts`);
  assert.equal(Number((await page.textContent('#total-held')).trim()), held - 1);
  await page.goto(`http://${base}/office/terminals/${serial}`);
  assert.match(await page.textContent('#holder-now'), /仓库/);
  const chain = await page.locator('#custody tbody tr').allTextContents();
  assert.ok(chain.length >= 2, 'the hand-over to the agent and the check-in');
  assert.match(chain[chain.length - 1], /BAG-2026-0042/);

  // A serial the register does not know is refused in words, nothing recorded.
  await page.goto(`http://${base}/office/check-in`);
  await page.fill('#check-in-serial', 'ZZ00000000000');
  const [refused] = await Promise.all([page.waitForNavigation(), page.click('#check-in-submit')]);
  assert.equal(refused.status(), 409);
  assert.match(await page.textContent('body'), /不在登记表中/);
  await reviewer.close();
});

test('visits ticked in the list are approved at once, after a confirmation that names how many, with a line each', async () => {
  const ids = ['批量一号店', '批量二号店', '批量三号店'].map((shop, i) => repairVisit(shop, `N91000012346${10 + i}`));
  agent('sync');
  const page = await admin.newPage();
  await page.goto(`http://${base}/office/visits?status=completed&agent=wang.test&merchant=${encodeURIComponent('批量')}`);
  const boxes = page.locator('#visit-list tbody input[name=visit]');
  assert.equal(await boxes.count(), 3);
  assert.equal(await page.isDisabled('#bulk-approve'), true, 'nothing ticked, nothing to approve');
  await page.check('#visit-list thead input.tick-all');
  assert.equal(await page.textContent('#bulk-bar .ticked'), '3');
  await Promise.all([page.waitForURL('**/office/visits/bulk'), page.click('#bulk-approve')]);
  assert.equal(await page.textContent('#bulk-count'), '3');
  await screenshot(page, 'bulk-confirm');
  await Promise.all([page.waitForLoadState('load'), page.click('#bulk-confirm button[name=confirmed]')]);
  assert.equal(await page.textContent('#bulk-done'), '3');
  await screenshot(page, 'bulk-result');
  await page.close();
  agent('sync');
  for (const id of ids) assert.equal(JSON.parse(agent('show', id)).status, 'approved');
});

test('an administrator adds a reviewer in the browser, who signs in; then removes them: all audited', async () => {
  const page = await admin.newPage();
  await page.goto(`http://${base}/office/users`);
  assert.equal(await page.locator('#user-boss summary').count(), 0, 'no removing oneself');
  await page.fill('#user-form input[name=name]', 'zhou.desk');
  await page.selectOption('#user-form select[name=role]', 'reviewer');
  await page.fill('#user-form input[name=password]', password);
  await Promise.all([page.waitForURL('**/office/users'), page.click('#user-form button[type=submit]')]);
  assert.equal(await page.getAttribute('#user-zhou\\.desk td.role', 'data-role'), 'reviewer');
  await screenshot(page, 'users');
  const theirs = await newContext();
  const signedIn = await signIn(theirs, 'zhou.desk');
  assert.equal((await signedIn.goto(`http://${base}/office/users`)).status(), 403, 'a reviewer is refused');
  await page.locator('#user-zhou\\.desk summary').click();
  await Promise.all([page.waitForURL('**/office/users'), page.locator('#user-zhou\\.desk button').click()]);
  assert.equal(await page.locator('#user-zhou\\.desk').count(), 0);
  await signedIn.goto(`http://${base}/office/visits`);
  assert.match(signedIn.url(), /\/office\/login$/, 'their session ended');
  await theirs.close();
  await page.goto(`http://${base}/office/audit?actor=boss`);
  const actions = await page.locator('#audit-list tbody td:nth-child(3)').allTextContents();
  assert.ok(actions.includes('user_saved') && actions.includes('user_removed'), actions.join(' '));
  assert.ok(!(await page.textContent('#audit-list')).includes(password), 'no password in the log');
  await page.close();
});

test('the return reasons the administrator keeps are the ones a reviewer picks from', async () => {
  const page = await admin.newPage();
  await page.goto(`http://${base}/office/settings`);
  assert.match(await page.inputValue('#settings-reasons'), /照片不清晰/, 'the stock reasons first');
  await page.fill('#settings-reasons', '营业执照照片缺失\n机身号照片看不清\n');
  await Promise.all([page.waitForURL('**/office/settings'), page.click('#settings-form button[type=submit]')]);
  await screenshot(page, 'settings');
  await page.close();
  const waiting = repairVisit('退回原因测试店', 'N9100001234620');
  agent('sync');
  const reviewer = await newContext();
  const theirs = await signIn(reviewer, 'chen');
  await theirs.goto(`http://${base}/office/visits/${waiting}`);
  const reasons = await theirs.locator('#return-reasons button.reason').allTextContents();
  assert.deepEqual(reasons, ['营业执照照片缺失', '机身号照片看不清']);
  assert.equal((await theirs.goto(`http://${base}/office/settings`)).status(), 403);
  await reviewer.close();
});
