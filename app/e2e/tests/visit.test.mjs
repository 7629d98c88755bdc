// One agent does a whole repair visit in the real app, against a real
// posfield-server: online, then offline all day with one sync at the end,
// then the launch with 10,000 visits in the store.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Server, launchApp, out, seedBin, shot, tempDir, testdata } from '../harness.mjs';

const LABEL_PHOTO = path.join(testdata, 'barcodes/code128-1/3.png');
const LABEL_SERIAL = fs.readFileSync(path.join(testdata, 'barcodes/code128-1/3.txt'), 'utf8').trim();
const DOCUMENT_PHOTO = path.join(testdata, 'barcodes/qrcode-1/1.png');

const sel = (id) => `[data-testid="${id}"]`;

/**
 * Runs a WebDriver action again when WebKitWebDriver answers "stale element"
 * because the screen re-rendered between finding an element and using it
 * (the sync screen does, with every progress event); any other error, or a
 * fifth stale one, is the test's failure.
 */
async function settled(action) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await action();
    } catch (error) {
      if (attempt >= 5 || !/stale element/i.test(String(error?.message ?? error))) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Waits until `selector` exists (`'exist'`) or is displayed (`'displayed'`). */
async function waitFor(browser, selector, what, timeout) {
  await settled(async () => {
    const element = await browser.$(selector);
    if (what === 'displayed') await element.waitForDisplayed({ timeout });
    else await element.waitForExist({ timeout });
  });
}

async function click(browser, selector) {
  await settled(async () => {
    const element = await browser.$(selector);
    await element.waitForExist({ timeout: 15000 });
    // Centre it: WebDriver scrolls it to the bottom edge, under the fixed tab bar.
    await browser.execute((el) => el.scrollIntoView({ block: 'center' }), element);
    await element.waitForClickable({ timeout: 15000 });
    await element.click();
  });
}

async function type(browser, selector, text) {
  const element = await browser.$(selector);
  await element.waitForDisplayed({ timeout: 15000 });
  await element.setValue(text);
}

async function upload(browser, selector, file) {
  const input = await browser.$(selector);
  await input.waitForExist({ timeout: 15000 });
  // Element Send Keys on a file input chooses the file, as a picker would.
  await input.addValue(file);
}

/**
 * Every visible control on screen is at least 48 px high: a thumb on a
 * cracked screen hits it. A checkbox counts by the label that wraps it.
 */
async function assertTouchTargets(browser, where) {
  const small = await browser.execute(() => {
    const out = [];
    for (const el of document.querySelectorAll('button, a[href], input, select, textarea')) {
      if (el.matches('label input[type=checkbox], label input[type=radio]')) continue;
      const r = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      if (r.width === 0 || r.height === 0 || style.visibility === 'hidden' || style.opacity === '0' || style.display === 'none') continue;
      if (r.height < 48) out.push(`${el.tagName.toLowerCase()} "${el.dataset.testid ?? el.textContent.trim().slice(0, 20)}": ${Math.round(r.height)} px`);
    }
    return out;
  });
  assert.deepEqual(small, [], `controls under 48 px on ${where}`);
  // Every control a screen reader reaches has a name: its text, an
  // aria-label, or a label around it (an icon alone is not a name).
  const unnamed = await browser.execute(() => {
    const out = [];
    for (const el of document.querySelectorAll('button, a[href], input:not([type=hidden]), select, textarea')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      const named = el.textContent.trim() || el.getAttribute('aria-label')?.trim() || el.getAttribute('title')?.trim()
        || el.closest('label')?.textContent.trim() || (el.id && document.querySelector(`label[for="${el.id}"]`)?.textContent.trim())
        || el.getAttribute('placeholder')?.trim();
      if (!named) out.push(`${el.tagName.toLowerCase()} ${el.dataset.testid ?? el.className}`);
    }
    return out;
  });
  assert.deepEqual(unnamed, [], `controls without a name for a screen reader on ${where}`);
  await assertChineseOnly(browser, where);
}

/**
 * In Chinese, no English word or raw code on the screen: every visible
 * text, the app's words and the data alike. A token with a digit in it
 * is data (a serial, a size, a time); fields and addresses are what was
 * typed; a name is marked translate="no".
 */
async function assertChineseOnly(browser, where) {
  const leaks = await browser.execute(() => {
    if (document.documentElement.lang !== 'zh-CN') return [];
    // posfield is the enrolment link's scheme (posfield://…), shown as it is typed.
    const allowed = new Set(['Wi-Fi', 'ICCID', 'SN', 'S/N', 'NFC', 'POS', 'HTTP', 'English', 'KB', 'MB', 'GB', 'B', 'SIM', 'posfield']);
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      // Names are data, marked translate="no" (an agent's sign-in name).
      if (!el || el.closest('input, textarea, select, code, script, style, .url, [translate="no"]') || el.getClientRects().length === 0) continue;
      for (const token of node.textContent.split(/[\s，。：；、（）·]+/)) {
        if (!token || /\d/.test(token)) continue;
        for (const word of token.match(/[A-Za-z][A-Za-z_./-]*[A-Za-z]|[A-Za-z]/g) ?? []) {
          if (!allowed.has(word)) out.push(word);
        }
      }
    }
    return [...new Set(out)];
  });
  assert.deepEqual(leaks, [], `English or raw codes on ${where} in zh-CN`);
}

/** A screen the run reaches: read for English in zh-CN, then shot when `take`. */
async function look(browser, name, take = true) {
  await assertChineseOnly(browser, name);
  if (take) await shot(browser, name);
}

/** Switches the app to `lang` (`zh-CN` or `en`) and waits until it shows it. */
async function language(browser, lang) {
  const now = () => browser.execute(() => document.documentElement.lang);
  if ((await now()) !== lang) await click(browser, sel('lang'));
  await browser.waitUntil(async () => (await now()) === lang, { timeout: 5000, timeoutMsg: `the app is not in ${lang}` });
}

async function visitScreen(browser) {
  const screen = await browser.$(sel('visit-screen'));
  await screen.waitForExist({ timeout: 15000 });
  return screen;
}

async function openSection(browser, name) {
  await click(browser, sel(`go-${name}`));
}

async function backToChecklist(browser) {
  await click(browser, 'button.back');
  await waitFor(browser, sel('steps'), 'exist', 15000);
}

async function markStepDone(browser, step) {
  await click(browser, `[data-step="${step}"] ${sel('step-done')}`);
  await waitFor(browser, `[data-step="${step}"][data-state="done"]`, 'exist', 15000);
}

async function enrol(browser, serverUrl, code, takeShots) {
  await type(browser, sel('enrol-server'), serverUrl);
  await type(browser, sel('enrol-code'), code);
  await look(browser, 'enrol', takeShots);
  await click(browser, sel('enrol-submit'));
  await waitFor(browser, sel('new-visit'), 'displayed', 30000);
}

/** The whole repair visit, through the screens; returns the visit id. */
async function repairVisit(browser, { merchant, takeShots }) {
  await click(browser, sel('new-visit'));
  await click(browser, sel('kind-repair'));
  await type(browser, sel('new-merchant'), merchant);
  await type(browser, sel('new-merchant-number'), '898310048161234');
  await look(browser, 'new-visit', takeShots);
  await click(browser, sel('new-create'));
  const screen = await visitScreen(browser);
  const url = await browser.getUrl();
  const visitId = decodeURIComponent(url.split('#/visit/')[1].split('/')[0]);
  assert.ok(visitId.length > 10, `visit id from ${url}`);
  assert.equal(await screen.getAttribute('data-status'), 'draft');
  assert.ok((await browser.$$(`${sel('missing')} li`)).length > 0, 'a new visit lists what is missing');
  // The merchant's number is on the visit; a visit made on the phone has no
  // address, and the agent is told so rather than shown nothing.
  assert.match(await (await browser.$(sel('merchant-number'))).getText(), /898310048161234/);
  assert.match(await (await browser.$(sel('merchant-no-address'))).getText(), /没有地址/);

  // Identify the terminal from a photo of its label, decoded in Rust. Its
  // code holds 18 digits, in no known maker's serial format: the app is
  // unsure and offers the candidate with the crop of its code, and the agent
  // taps it.
  await openSection(browser, 'identify');
  await upload(browser, sel('identify-photo'), LABEL_PHOTO);
  await waitFor(browser, sel('identify-choice'), 'displayed', 30000);
  assert.equal(await (await browser.$(sel('identify-choice'))).getAttribute('data-reason'), 'unknown_format');
  const crop = await browser.$(`${sel('identify-candidate')}[data-serial="${LABEL_SERIAL}"] img`);
  assert.match(await crop.getAttribute('src'), /^data:image\/jpeg;base64,/);
  await look(browser, 'identify-choice', takeShots);
  await click(browser, `${sel('identify-candidate')}[data-serial="${LABEL_SERIAL}"]`);
  const serial = await browser.$(sel('identified-serial'));
  await serial.waitForDisplayed({ timeout: 30000 });
  assert.equal(await serial.getText(), LABEL_SERIAL);
  await look(browser, 'identify', takeShots);
  await click(browser, sel('identify-confirm'));
  await waitFor(browser, '[data-step="identify"][data-state="done"]', 'exist', 15000);

  // A printer fault: the recommended steps, one tried and it fixed it.
  await openSection(browser, 'faults');
  await click(browser, sel('fault-category-hardware'));
  await click(browser, sel('fault-printer_fault'));
  await type(browser, sel('fault-symptom'), '打印空白');
  await click(browser, sel('fault-add'));
  await waitFor(browser, '[data-testid="fault"][data-code="printer_fault"]', 'exist', 15000);
  await click(browser, `${sel('attempt-not-fixed')}[data-remedy="restart"]`);
  await click(browser, `${sel('attempt-fixed')}[data-remedy="check_paper"]`);
  await click(browser, sel('resolve-fixed'));
  await browser.waitUntil(async () => (await browser.$$(sel('resolve-fixed'))).length === 0, { timeout: 15000 });
  await look(browser, 'faults', takeShots);
  await backToChecklist(browser);

  // Warranty and plan.
  await openSection(browser, 'details');
  await click(browser, sel('warranty-in_warranty'));
  await waitFor(browser, `${sel('warranty-in_warranty')}.on`, 'exist', 15000);
  await click(browser, sel('plan-fixed_on_site'));
  await waitFor(browser, `${sel('plan-fixed_on_site')}.on`, 'exist', 15000);
  await look(browser, 'details', takeShots);
  await backToChecklist(browser);

  // The proof of purchase, photographed.
  await openSection(browser, 'photos');
  // Its own slot: the checklist asks for the purchase proof or the warranty card.
  const slot = '[data-testid="photo-slot"][data-kinds~="purchase_proof"]';
  await waitFor(browser, `${slot}[data-taken="false"]`, 'exist', 5000);
  await upload(browser, '[data-testid="slot-file"][data-kind="purchase_proof"]', DOCUMENT_PHOTO);
  // The preview: nothing is stored yet; the agent turns it a quarter right, then keeps it.
  await waitFor(browser, sel('photo-preview'), 'displayed', 10000);
  await browser.waitUntil(async () => browser.execute((s) => document.querySelector(s).naturalWidth > 0, sel('preview-image')), { timeout: 10000 });
  const [wideBefore, highBefore] = await browser.execute((s) => {
    const img = document.querySelector(s);
    return [img.naturalWidth, img.naturalHeight];
  }, sel('preview-image'));
  assert.notEqual(wideBefore, highBefore, 'the test photo is not square');
  assert.equal((await browser.$$('[data-testid="photo"][data-kind="purchase_proof"]')).length, 0, 'nothing stored before it is kept');
  await look(browser, 'photo-preview', takeShots);
  // The evidence stamp (time, merchant, serial, place) drawn into it, by the agent's choice.
  // (The webview may remember the choice from an earlier session.)
  const stampOn = () => browser.execute((s) => document.querySelector(s).checked, sel('photo-stamp'));
  if (!(await stampOn())) await click(browser, sel('photo-stamp'));
  assert.equal(await stampOn(), true);
  await click(browser, sel('turn-right'));
  assert.equal(await (await browser.$(sel('photo-preview'))).getAttribute('data-turns'), '1');
  // Then a drag across the turned photo keeps its middle: from a fifth in to a fifth from the far corner.
  const shown = await browser.execute((s) => {
    const r = document.querySelector(s).getBoundingClientRect();
    return { left: r.left, top: r.top, width: r.width, height: r.height };
  }, sel('preview-image'));
  const at = (fx, fy) => ({ origin: 'viewport', x: Math.round(shown.left + shown.width * fx), y: Math.round(shown.top + shown.height * fy) });
  const drag = browser.action('pointer', { parameters: { pointerType: 'touch' } }).move(at(0.2, 0.2)).down();
  for (let i = 1; i <= 6; i++) drag.move({ ...at(0.2 + i * 0.1, 0.2 + i * 0.1), duration: 16 });
  await drag.up().perform();
  await waitFor(browser, sel('crop-box'), 'displayed', 5000);
  const marked = (await (await browser.$(sel('photo-preview'))).getAttribute('data-crop')).split(',').map(Number);
  assert.equal(marked.length, 4);
  for (const part of marked.slice(2)) assert.ok(part > 500 && part < 700, `a crop of about 600 thousandths each way: ${marked}`);
  await look(browser, 'photo-crop', takeShots);
  await assertTouchTargets(browser, 'the photo preview');
  await click(browser, sel('photo-use'));
  await waitFor(browser, '[data-testid="photo"][data-kind="purchase_proof"]', 'exist', 30000);
  const size = await (await browser.$('[data-testid="photo"][data-kind="purchase_proof"] .sub')).getText();
  const [wideAfter, highAfter] = size.split(' ')[0].split('×').map(Number);
  assert.equal(wideAfter > highAfter, highBefore > wideBefore, `the kept photo is turned: ${wideBefore}×${highBefore} became ${size}`);
  // Turned, the photo is highBefore wide; its middle 60 % is kept, at full detail.
  assert.ok(Math.abs(wideAfter - highBefore * marked[2] / 1000) <= 2 && Math.abs(highAfter - wideBefore * marked[3] / 1000) <= 2,
    `the kept photo is the crop: ${size} of ${highBefore}×${wideBefore} by ${marked}`);
  await waitFor(browser, `${slot}[data-taken="true"]`, 'exist', 5000);
  // Removing asks first; "cancel" keeps the photo.
  await click(browser, `[data-testid="photo"][data-kind="purchase_proof"] ${sel('photo-remove')}`);
  assert.match(await (await browser.$(sel('photo-remove-ask'))).getText(), /删除这张照片/);
  await click(browser, sel('photo-remove-cancel'));
  await waitFor(browser, `[data-testid="photo"][data-kind="purchase_proof"] ${sel('photo-remove')}`, 'displayed', 5000);
  assert.equal((await browser.$$('[data-testid="photo"][data-kind="purchase_proof"]')).length, 1, 'the photo is kept');
  await browser.waitUntil(async () => (await browser.$$('.thumb img')).length > 0, { timeout: 15000 });
  // Marks over the kept photo: an arrow dragged across it, then words placed with a tap.
  const kept = '[data-testid="photo"][data-kind="purchase_proof"]';
  await click(browser, `${kept} ${sel('photo-mark')}`);
  await waitFor(browser, sel('mark-sheet'), 'displayed', 10000);
  await browser.waitUntil(async () => browser.execute((s) => document.querySelector(s).naturalWidth > 0, sel('mark-image')), { timeout: 10000 });
  const markShown = await browser.execute((s) => {
    const r = document.querySelector(s).getBoundingClientRect();
    return { left: r.left, top: r.top, width: r.width, height: r.height };
  }, sel('mark-image'));
  const onPhoto = (fx, fy) => ({ origin: 'viewport', x: Math.round(markShown.left + markShown.width * fx), y: Math.round(markShown.top + markShown.height * fy) });
  const arrow = browser.action('pointer', { parameters: { pointerType: 'touch' } }).move(onPhoto(0.2, 0.7)).down();
  for (let i = 1; i <= 5; i++) arrow.move({ ...onPhoto(0.2 + i * 0.06, 0.7 - i * 0.08), duration: 16 });
  await arrow.up().perform();
  await browser.waitUntil(async () => (await (await browser.$(sel('mark-sheet'))).getAttribute('data-marks')) === '1', { timeout: 10000, timeoutMsg: 'the arrow was not kept' });
  await click(browser, `${sel('mark-tool')}[data-tool="text"]`);
  await type(browser, sel('mark-text'), '发票日期');
  await browser.action('pointer', { parameters: { pointerType: 'touch' } }).move(onPhoto(0.55, 0.15)).down().up().perform();
  await browser.waitUntil(async () => (await (await browser.$(sel('mark-sheet'))).getAttribute('data-marks')) === '2', { timeout: 10000, timeoutMsg: 'the text was not kept' });
  const drawn = await browser.execute((s) => [...document.querySelectorAll(`${s} svg.marks > *`)].map((e) => e.tagName.toLowerCase()), sel('mark-sheet'));
  assert.deepEqual(drawn, ['line', 'polyline', 'text'], 'an arrow (line and head) and the words, drawn over the photo');
  await look(browser, 'photo-marks', takeShots);
  await assertTouchTargets(browser, 'the marking sheet');
  await click(browser, sel('mark-done'));
  await waitFor(browser, `${kept} svg.marks[data-count="2"]`, 'exist', 5000);
  const sizeMarked = await (await browser.$(`${kept} .sub`)).getText();
  assert.equal(sizeMarked, size, 'the photo itself is unchanged by its marks');
  await look(browser, 'photos', takeShots);
  await backToChecklist(browser);

  for (const step of ['fault.classify', 'fault.onsite', 'warranty', 'docs.purchase_proof', 'plan', 'test']) {
    await markStepDone(browser, step);
  }
  await look(browser, 'checklist', takeShots);
  await assertTouchTargets(browser, 'the checklist');

  // The merchant reads the summary and signs.
  await openSection(browser, 'sign');
  const summary = await (await browser.$(sel('summary'))).getText();
  assert.match(summary, /服务类型：维修/);
  assert.match(summary, new RegExp(`终端机身号：${LABEL_SERIAL}`));
  assert.match(summary, /故障：打印机故障（已修复）/);
  // The sentence the merchant agrees to, and the signing time in Beijing time.
  assert.match(summary, /本人确认以上服务已完成/);
  assert.match(summary, /签字时间：\d{4}-\d{2}-\d{2} \d{2}:\d{2}（北京时间）/);
  assert.doesNotMatch(summary, /\d{4}-\d{2}-\d{2}T\d{2}:/, 'no UTC timestamp before the merchant');
  await type(browser, sel('signer-name'), '王老板');
  await click(browser, sel('open-pad'));
  // The sheet fills the screen in landscape: on this portrait window it is
  // turned for a phone held sideways, and the consent is above the pad.
  const sheet = await browser.$(sel('sign-sheet'));
  await sheet.waitForDisplayed();
  assert.equal(await sheet.getAttribute('data-orientation'), 'turned');
  assert.match(await (await browser.$(sel('consent'))).getText(), /^本人确认以上服务已完成，内容属实，同意签字验收。$/);
  const pad = await browser.$(sel('signature-pad'));
  await pad.waitForDisplayed();
  const [padWide, padHigh] = await browser.execute((el) => [el.offsetWidth, el.offsetHeight], pad);
  assert.ok(padWide > padHigh, `the pad is landscape: ${padWide}x${padHigh}`);
  // Along the turned pad's length: down the portrait screen.
  const stroke = browser.action('pointer', { parameters: { pointerType: 'mouse' } }).move({ origin: pad, x: 20, y: -150 }).down();
  for (let i = 1; i <= 24; i++) {
    stroke.move({ origin: pad, x: Math.round(30 * Math.sin(i / 2)), y: -150 + i * 12, duration: 16 });
  }
  await stroke.up().perform();
  await look(browser, 'sign', takeShots);
  await assertTouchTargets(browser, 'the signing sheet');
  // 确认签字 spans the pad's width, not a narrow column beside 重写.
  const [confirmWidth, padWidth] = await browser.execute(
    (a, b) => [document.querySelector(a).offsetWidth, document.querySelector(b).offsetWidth],
    sel('sign-confirm'), sel('signature-pad'),
  );
  assert.ok(confirmWidth >= padWidth * 0.9, `确认签字 is ${confirmWidth} px wide beside a ${padWidth} px pad`);
  await click(browser, sel('sign-confirm'));
  await waitFor(browser, sel('signature-valid'), 'displayed', 30000);
  await waitFor(browser, sel('signature-image'), 'displayed', 15000);
  // The signature was kept as drawn on the landscape pad: its image is wide.
  await browser.waitUntil(async () => browser.execute((s) => document.querySelector(s).naturalWidth > 0, sel('signature-image')), { timeout: 10000 });
  const [imageWide, imageHigh] = await browser.execute((s) => {
    const img = document.querySelector(s);
    return [img.naturalWidth, img.naturalHeight];
  }, sel('signature-image'));
  assert.ok(imageWide > imageHigh, `the signature image is landscape: ${imageWide}x${imageHigh}`);
  // The QR code for the merchant: the server's verification page of this acceptance.
  await waitFor(browser, sel('verification-qr'), 'displayed', 15000);
  const verifyUrl = await (await browser.$(sel('verification-url'))).getText();
  assert.match(verifyUrl, new RegExp(`/verify/${visitId}\\?h=[0-9a-f]{64}$`));
  if (takeShots) {
    await browser.execute((s) => document.querySelector(s).scrollIntoView({ block: 'center' }), sel('verification'));
    await look(browser, 'signed-qr');
  }
  await look(browser, 'signed', takeShots);
  await backToChecklist(browser);

  await waitFor(browser, sel('nothing-missing'), 'displayed', 15000);
  await click(browser, sel('complete'));
  await waitFor(browser, `${sel('visit-screen')}[data-status="completed"]`, 'exist', 15000);
  await look(browser, 'completed', takeShots);
  return { visitId, verifyUrl };
}

async function syncAll(browser) {
  await click(browser, sel('nav-sync'));
  await waitFor(browser, sel('sync-screen'), 'exist', 15000);
  await browser.waitUntil(
    async () => {
      const waiting = await browser.$$(sel('sync-visit'));
      const last = await (await browser.$(sel('last-success'))).getText();
      if (waiting.length === 0 && /\d{4}-\d{2}-\d{2}/.test(last)) return true;
      const now = await browser.$(sel('sync-now'));
      if (await now.isClickable()) await now.click();
      return false;
    },
    { timeout: 90000, interval: 1500, timeoutMsg: 'the visit never synced' },
  );
}

async function assertArrived(server, visitId, expectedMerchant) {
  const body = await server.office(`/api/v1/office/visits/${visitId}`);
  const visit = body.visit;
  assert.equal(visit.status, 'completed');
  assert.equal(visit.merchant.name, expectedMerchant);
  assert.equal(visit.terminal.serial, LABEL_SERIAL);
  assert.equal(visit.terminal.method, 'photo');
  const faults = visit.faults.filter((f) => !f.removed);
  assert.deepEqual(faults.map((f) => f.code), ['printer_fault']);
  assert.deepEqual(faults[0].attempts.map((a) => [a.remedy, a.fixed]), [['restart', false], ['check_paper', true]]);
  const photos = visit.documents.filter((d) => !d.removed);
  assert.deepEqual(photos.map((d) => d.kind), ['purchase_proof']);
  // The marks reached the server beside the photo, the photo's hash unchanged.
  assert.deepEqual(visit.annotations.filter((m) => !m.removed).map((m) => [m.shape, m.photo === photos[0].sha256, m.text]),
    [['arrow', true, null], ['text', true, '发票日期']]);
  assert.equal(visit.acceptance.signer_name, '王老板');
  // Every photo and the signature image are stored on the server, and the
  // server checked the device's signature over summary, strokes and image.
  assert.equal(body.blobs_missing, 0);
  assert.equal(body.complete_on_server, true);
  assert.equal(body.device_signature_valid, true);
  return body;
}

describe('a whole repair visit in the app', () => {
  const servers = [];
  const sessions = [];
  let onlineAgentData;

  before(() => {
    assert.ok(fs.existsSync(LABEL_PHOTO), `the shared test photos are missing: ${LABEL_PHOTO}`);
  });

  after(async () => {
    for (const s of sessions) await s.close();
    for (const s of servers) await s.stop();
  });

  it('online: enrol, visit, identify from a photo, fault, photo, signature, complete, sync', async () => {
    const server = new Server('online');
    servers.push(server);
    server.addReviewer();
    const code = server.cli(['enroll-agent', 'agent-li']);
    const url = await server.start();
    onlineAgentData = tempDir('agent-online');
    const session = await launchApp(onlineAgentData, 'online');
    sessions.push(session);
    const { browser } = session;
    // The webview keeps the language an earlier session chose: these screens are read in Chinese.
    await language(browser, 'zh-CN');
    await browser.setWindowSize(360, 780).catch(() => {});
    await enrol(browser, url, code, true);
    await look(browser, 'today-empty');
    const { visitId, verifyUrl } = await repairVisit(browser, { merchant: '老王便利店', takeShots: true });
    await syncAll(browser);
    // What the sync used, on the sync screen: the total and the visit's row. A
    // desktop cannot tell its network, so photos go whatever the option says.
    await waitFor(browser, sel('data-total'), 'exist', 15000);
    assert.match(await settled(async () => (await browser.$(sel('data-total'))).getText()), /^\d+(\.\d)? (B|KB|MB)$/);
    assert.ok((await browser.$$(sel('visit-data'))).length >= 1, 'the visit is listed with the data it used');
    assert.equal(await settled(async () => (await browser.$(sel('network-now'))).getText()), '无法判断');
    await look(browser, 'sync');
    await assertArrived(server, visitId, '老王便利店');
    // The merchant scans the code: the server's page shows what they signed
    // and that it still matches, and nothing else of the visit.
    const page = await fetch(verifyUrl);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /data-state="matches"/);
    assert.match(html, /与签字时一致/);
    assert.match(html, /签字人：<span id="verify-signer">王老板<\/span>/);
    assert.match(html, /商户名称：老王便利店/);
    assert.match(html, /本人确认以上服务已完成/);
    assert.match(html, /id="verify-signature"/);
    assert.equal((html.match(/<img /g) ?? []).length, 1, 'the signature is the one image: no document photo');
    assert.doesNotMatch(html, /office\/blobs|purchase_proof/);
    const forged = await fetch(verifyUrl.replace(/h=[0-9a-f]{64}$/, `h=${'0'.repeat(64)}`));
    assert.equal(forged.status, 404, 'another hash finds nothing');
    await click(browser, sel('nav-today'));
    await waitFor(browser, `[data-visit="${visitId}"]`, 'exist', 15000);
    assert.equal((await browser.$$(`[data-visit="${visitId}"] ${sel('waiting-marker')}`)).length, 0, 'a synced visit is not waiting');
    await look(browser, 'today');
    // English on the same screen.
    await click(browser, sel('lang'));
    await waitFor(browser, 'button*=New visit', 'displayed', 5000);
    await look(browser, 'today-en');
    await click(browser, sel('lang'));
    // The reviewer returns the visit: the next sync brings it as news, with the note.
    await server.officePost(`/api/v1/office/visits/${visitId}/review`, { decision: 'return', note: '请补拍门头照' }, server.user);
    // Nothing waits on the phone: the agent asks for a sync until the news is in.
    await click(browser, sel('nav-sync'));
    await browser.waitUntil(
      async () => {
        if (await (await browser.$(sel('news-badge'))).isExisting()) return true;
        const now = await browser.$(sel('sync-now'));
        if (await now.isClickable()) await now.click();
        return false;
      },
      { timeout: 60000, interval: 1500, timeoutMsg: 'no news badge after the sync' },
    );
    assert.equal(await (await browser.$(sel('news-badge'))).getText(), '1');
    await click(browser, sel('news-bell'));
    await waitFor(browser, sel('news-item'), 'displayed', 15000);
    const returned = await browser.$(`${sel('news-item')}[data-kind="returned"]`);
    assert.match(await returned.getText(), /工单被退回[\s\S]*老王便利店[\s\S]*后台退回：请补拍门头照/);
    await browser.waitUntil(async () => (await browser.$$(sel('news-badge'))).length === 0, { timeout: 10000, timeoutMsg: 'the badge stayed after reading' });
    await assertTouchTargets(browser, 'the news');
    await look(browser, 'news');
    await click(browser, `${sel('news-item')}[data-kind="returned"]`);
    await visitScreen(browser);
    await session.close();
    sessions.pop();
    await server.stop();
  });

  it('the day: jobs the desk planned for two days, in order, reordered, searched, with map and call links', async () => {
    const server = new Server('day');
    servers.push(server);
    server.addAdmin();
    const code = server.cli(['enroll-agent', 'agent-li']);
    const url = await server.start();
    const session = await launchApp(tempDir('agent-day'), 'day');
    sessions.push(session);
    const { browser } = session;
    // The webview keeps the language an earlier session chose: these screens are read in Chinese.
    await language(browser, 'zh-CN');
    await browser.setWindowSize(360, 780).catch(() => {});
    await enrol(browser, url, code, false);
    // Today in Beijing, as the phone counts it, and the days around it.
    const beijing = (days) => new Date(Date.now() + 8 * 3600e3 + days * 86400e3).toISOString().slice(0, 10);
    const [yesterday, today, tomorrow] = [beijing(-1), beijing(0), beijing(1)];
    const jobs = [
      { merchant: '张姐水果店', phone: '13800138001', address: '上海市浦东新区张杨路 500 号', schedule: { day: today, from: '14:00', until: '17:00' } },
      { merchant: '老李餐厅', phone: '13800138002', address: '上海市浦东新区世纪大道 8 号', schedule: { day: today, from: '09:00', until: '11:00' },
        merchant_number: '898310048161234', serial: 'N9100001234567', location: '31.224361,121.469170' },
      { merchant: '陈氏药房', phone: '13800138003', schedule: { day: today } },
      { merchant: '王记五金店', phone: '13800138004', address: '上海市徐汇区漕溪北路 1 号', schedule: { day: tomorrow, from: '10:00' } },
      { merchant: '昨天的便利店', phone: '13800138005', address: '上海市静安区南京西路 2 号', schedule: { day: yesterday } },
      { merchant: '还没排期的超市', phone: '13800138006', address: '上海市黄浦区人民大道 3 号' },
    ];
    // The register knows 老李餐厅's terminal: its SIM plan ends in 12 days.
    const register = 'serial,model,merchant,merchant_number,state,production_date,sim_carrier,sim_expiry\n'
      + `N9100001234567,N910,老李餐厅,898310048161234,installed,2025-03-15,china_mobile,${beijing(12)}\n`;
    assert.equal(await server.importRegister(register), 1);
    for (const job of jobs) {
      await server.officePost('/api/v1/office/visits', { kind: 'repair', agent: 'agent-li', ...job });
    }
    await syncAll(browser);
    // Six new jobs: the badge says so until the agent reads the news.
    await browser.waitUntil(async () => (await browser.$(sel('news-badge'))).isExisting(), { timeout: 15000, timeoutMsg: 'no news badge' });
    assert.equal(await (await browser.$(sel('news-badge'))).getText(), '6');
    await click(browser, sel('news-bell'));
    await browser.waitUntil(async () => (await browser.$$(`${sel('news-item')}[data-kind="new_job"]`)).length === 6, { timeout: 15000, timeoutMsg: 'the six new jobs are not in the news' });
    await browser.waitUntil(async () => (await browser.$$(sel('news-badge'))).length === 0, { timeout: 10000, timeoutMsg: 'read news leave a badge' });
    await click(browser, sel('nav-today'));
    const names = async (section) =>
      settled(async () => {
        const cards = await browser.$$(`${sel(section)} ${sel('job-card')} .merchant`);
        const texts = [];
        for (const card of cards) texts.push(await card.getText());
        return texts;
      });
    await browser.waitUntil(async () => (await names('day-planned')).length === 3, { timeout: 15000, timeoutMsg: "today's three jobs never showed" });
    // By window, the whole-day job last; the overdue and the unplanned below.
    assert.deepEqual(await names('day-planned'), ['老李餐厅', '张姐水果店', '陈氏药房']);
    assert.deepEqual(await names('day-overdue'), ['昨天的便利店']);
    assert.deepEqual(await names('day-unplanned'), ['还没排期的超市']);
    const first = `${sel('day-planned')} li:nth-child(1) ${sel('job-card')}`;
    assert.equal(await (await browser.$(`${first} ${sel('job-window')}`)).getText(), '09:00–11:00');
    // The desk gave the shop's place (WGS-84): the map link goes to it, in the map's own GCJ-02.
    const navigate = await (await browser.$(`${first} ${sel('job-navigate')}`)).getAttribute('href');
    assert.match(navigate, /^https:\/\/uri\.amap\.com\/marker\?position=121\.47\d+,31\.22\d+&name=/);
    const second = `${sel('day-planned')} li:nth-child(2) ${sel('job-card')}`;
    assert.equal(await (await browser.$(`${second} ${sel('job-navigate')}`)).getAttribute('href'),
      `https://uri.amap.com/search?keyword=${encodeURIComponent('上海市浦东新区张杨路 500 号')}&src=posfield&callnative=1`, 'no place: a search by the address');
    assert.equal(await (await browser.$(`${first} ${sel('job-call')}`)).getAttribute('href'), 'tel:13800138002');
    const third = `${sel('day-planned')} li:nth-child(3) ${sel('job-card')}`;
    assert.ok(await (await browser.$(`${third} ${sel('job-no-address')}`)).isExisting(), 'a job without an address says so');
    assert.equal((await browser.$$(`${third} ${sel('job-navigate')}`)).length, 0, 'no map link without an address');
    await assertTouchTargets(browser, "today's jobs");
    await look(browser, 'today-day');
    // The agent puts the afternoon job first; the order stays after leaving the screen.
    await click(browser, `${sel('day-planned')} li:nth-child(2) ${sel('job-up')}`);
    await browser.waitUntil(async () => (await names('day-planned'))[0] === '张姐水果店', { timeout: 10000, timeoutMsg: 'the job did not move up' });
    await click(browser, sel('nav-sync'));
    await click(browser, sel('nav-today'));
    await browser.waitUntil(async () => (await names('day-planned')).length === 3, { timeout: 15000 });
    assert.deepEqual(await names('day-planned'), ['张姐水果店', '老李餐厅', '陈氏药房']);
    // Tomorrow, and back.
    await click(browser, sel('day-next'));
    await browser.waitUntil(async () => (await names('day-planned')).join() === '王记五金店', { timeout: 10000, timeoutMsg: "tomorrow's job never showed" });
    assert.equal(await (await browser.$(sel('day-shown'))).getAttribute('data-day'), tomorrow);
    assert.equal((await browser.$$(sel('day-overdue'))).length, 0, 'overdue jobs are on today only');
    await click(browser, sel('day-today'));
    await browser.waitUntil(async () => (await names('day-planned')).length === 3, { timeout: 10000 });
    // A search by phone typed with spaces, by merchant number's end, then nothing found.
    await type(browser, sel('job-search'), '138 0013 8004');
    await browser.waitUntil(async () => (await names('search-results')).join() === '王记五金店', { timeout: 10000, timeoutMsg: 'the search by phone found nothing' });
    assert.match(await (await browser.$(`${sel('search-results')} ${sel('job-day')}`)).getText(), /^原定 明天 · /);
    await look(browser, 'today-search');
    await type(browser, sel('job-search'), '不存在的商户');
    await waitFor(browser, sel('search-none'), 'displayed', 10000);
    // Emptied as the agent's delete key does, with the input event the screen listens to.
    await browser.execute((el) => {
      el.value = '';
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }, await browser.$(sel('job-search')));
    await waitFor(browser, sel('day-planned'), 'displayed', 10000);
    // The job's screen: the address with the three map apps.
    await click(browser, `${sel('day-planned')} li:nth-child(2) .job-main`);
    await visitScreen(browser);
    const maps = [];
    for (const link of await browser.$$(`${sel('merchant-maps')} a`)) maps.push(await link.getAttribute('href'));
    assert.deepEqual(maps.map((href) => new URL(href).host), ['uri.amap.com', 'api.map.baidu.com', 'maps.apple.com']);
    // The way there: accepted, set off, arrived. A desktop cannot tell where
    // it is: the arrival is recorded with its time and says so.
    await click(browser, sel('trip-accept'));
    await waitFor(browser, sel('trip-tripAccepted'), 'displayed', 10000);
    await click(browser, sel('trip-depart'));
    await waitFor(browser, sel('trip-tripDeparted'), 'displayed', 10000);
    await click(browser, sel('trip-arrive'));
    await waitFor(browser, sel('trip-location'), 'displayed', 15000);
    assert.equal(await (await browser.$(sel('trip-location'))).getText(), '位置：手机无法定位，只记录了到达时间');
    assert.match(await (await browser.$(sel('trip-tripArrived'))).getText(), /^已到达 \d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
    assert.equal(await (await browser.$(sel('visit-status'))).getText(), '待处理', 'arriving is not yet working on it');
    await look(browser, 'visit-trip');
    await click(browser, sel('nav-today'));
    await browser.waitUntil(async () => (await browser.$$(`${sel('day-planned')} ${sel('job-trip')}`)).length === 1, { timeout: 10000, timeoutMsg: 'the card does not say the agent arrived' });
    assert.equal(await (await browser.$(`${sel('day-planned')} ${sel('job-trip')}`)).getText(), '已到达');
    // At the terminal: typed in, its history shows on the job from the
    // job's brief, with the renewal of its SIM plan offered for this trip.
    await click(browser, `${sel('day-planned')} li:nth-child(2) .job-main`);
    await visitScreen(browser);
    await openSection(browser, 'identify');
    await type(browser, sel('identify-typed'), 'N9100001234567');
    await browser.keys('Enter');
    await click(browser, sel('identify-confirm'));
    await waitFor(browser, sel('terminal-history'), 'displayed', 15000);
    assert.match(await (await browser.$(sel('history-sim'))).getText(), /12 天后/);
    assert.equal(await (await browser.$(`${sel('history-alerts')} [data-code="sim_expiring"]`)).getText(), '流量卡即将到期');
    assert.match(await (await browser.$(sel('renewal-offer'))).getText(), /流量卡 12 天后到期，顺便续费？/);
    await assertTouchTargets(browser, 'the terminal history');
    await browser.execute((s) => { document.querySelector(s).scrollIntoView({ block: 'start' }); window.scrollBy(0, -140); }, sel('terminal-history'));
    await look(browser, 'terminal-history');
    await click(browser, sel('renewal-accept'));
    await waitFor(browser, sel('renewal-linked'), 'displayed', 15000);
    await click(browser, sel('nav-today'));
    await language(browser, 'en');
    await waitFor(browser, 'button*=New visit', 'displayed', 5000);
    await browser.waitUntil(async () => (await names('day-planned')).length === 3, { timeout: 10000 });
    await look(browser, 'today-day-en');
    await language(browser, 'zh-CN');
    // Dark, and strong light for the sun: chosen on the sync screen, kept across screens.
    for (const theme of ['dark', 'contrast']) {
      await click(browser, sel('nav-sync'));
      await click(browser, sel(`theme-${theme}`));
      await click(browser, sel('nav-today'));
      await browser.waitUntil(async () => (await names('day-planned')).length === 3, { timeout: 10000 });
      const looks = await browser.execute(() => ({
        theme: document.documentElement.dataset.theme,
        background: getComputedStyle(document.body.parentElement).backgroundColor,
      }));
      assert.equal(looks.theme, theme);
      assert.equal(looks.background, theme === 'dark' ? 'rgb(15, 20, 25)' : 'rgb(255, 255, 255)');
      await assertTouchTargets(browser, `today's jobs, ${theme}`);
      await look(browser, `today-${theme}`);
    }
    await click(browser, sel('nav-sync'));
    await click(browser, sel('theme-auto'));
    await session.close();
    sessions.pop();
    await server.stop();
  });

  it('offline all day: the server is down from after enrolment until one sync at the end', async () => {
    const server = new Server('offline');
    servers.push(server);
    server.addReviewer();
    const code = server.cli(['enroll-agent', 'agent-zhao']);
    const url = await server.start();
    const session = await launchApp(tempDir('agent-offline'), 'offline');
    sessions.push(session);
    const { browser } = session;
    // The webview keeps the language an earlier session chose: these screens are read in Chinese.
    await language(browser, 'zh-CN');
    await browser.setWindowSize(360, 780).catch(() => {});
    await enrol(browser, url, code, false);
    await server.stop();

    const { visitId } = await repairVisit(browser, { merchant: '街角咖啡', takeShots: false });
    // Everything waits on the phone, and the agent is told why in plain words.
    await click(browser, sel('nav-today'));
    await waitFor(browser, `[data-visit="${visitId}"] ${sel('waiting-marker')}`, 'exist', 15000);
    await assertTouchTargets(browser, "today's list");
    await click(browser, sel('nav-sync'));
    await click(browser, sel('sync-now'));
    // No signal is a calm state of its own, not a red failure.
    await waitFor(browser, sel('sync-offline'), 'displayed', 60000);
    const offline = await settled(async () => (await browser.$(sel('sync-offline'))).getText());
    assert.match(offline, /离线 · 已保存在手机上 · 1 项待上传/);
    assert.match(offline, /约 \d+ (秒|分钟)后自动重试/);
    assert.equal((await browser.$$(sel('sync-error'))).length, 0, 'offline is not shown as an error');
    await browser.waitUntil(async () => (await (await browser.$(sel('sync-pill'))).getText()) === '离线',
      { timeout: 15000, timeoutMsg: 'the header says 离线 while offline' });
    await click(browser, `${sel('sync-visit')} button`);
    await waitFor(browser, '.photo-states .on_phone', 'exist', 15000);
    await assertTouchTargets(browser, 'the sync screen');
    await look(browser, 'sync-offline');

    await server.start();
    await syncAll(browser);
    await assertArrived(server, visitId, '街角咖啡');
    await session.close();
    sessions.pop();
    await server.stop();
  });

  it('launch: the list on screen soon after launch with 10,000 visits in the store, server unreachable', async () => {
    assert.ok(onlineAgentData, 'runs after the online visit, on its enrolled phone');
    const seeded = execFileSync(seedBin, [onlineAgentData, process.env.POSFIELD_SEED_VISITS ?? '10000'], { encoding: 'utf8' });
    const runs = [];
    for (let run = 0; run < 3; run++) {
      const session = await launchApp(onlineAgentData, `launch-${run}`);
      sessions.push(session);
      const { browser, started, sessionMs } = session;
      await waitFor(browser, 'body[data-ready="1"]', 'exist', 30000);
      const totalMs = Date.now() - started;
      const body = await browser.$('body');
      const inPageMs = Number(await body.getAttribute('data-ready-ms'));
      // From the app process's start to the first list on screen.
      const launchMs = Number(await body.getAttribute('data-ready-at')) - Number(await body.getAttribute('data-launched-at'));
      const cards = (await browser.$$(sel('visit-card'))).length;
      assert.equal(cards, 100, 'the first page of the list is on screen');
      runs.push({ sessionMs, totalMs, inPageMs, launchMs });
      if (run === 0) await look(browser, 'today-10000');
      await session.close();
      sessions.pop();
    }
    const sorted = (key) => runs.map((r) => r[key]).sort((a, b) => a - b);
    const median = (key) => sorted(key)[1];
    const result = {
      seeded: seeded.trim(),
      runs,
      median: { launchMs: median('launchMs'), inPageMs: median('inPageMs'), totalMs: median('totalMs'), sessionMs: median('sessionMs') },
      best: { launchMs: sorted('launchMs')[0], inPageMs: sorted('inPageMs')[0] },
    };
    fs.writeFileSync(path.join(out, 'launch-benchmark.json'), JSON.stringify(result, null, 2));
    console.error(`launch with 10,000 visits: ${JSON.stringify(result)}`);
    // The product target is 1 s from launch; this debug build on a shared
    // 2-core machine lands around it (docs/benchmarks.md), so the test holds
    // the best of three launches to a CI budget of twice that and records
    // the figures; a release build is what the 1 s target is for.
    const CI_BUDGET_MS = 2000;
    assert.ok(result.best.launchMs < CI_BUDGET_MS, `the list was on screen ${result.best.launchMs} ms after launch at best`);
    assert.ok(result.median.inPageMs < 1000, `the page took ${result.median.inPageMs} ms to show the list`);
  });
});
