import { describe, expect, it } from 'vitest';
import {
  putBackWords, isDrawn, markPieces, markPoint,
  fenToYuan, filterArgs, formatBytes, isSyncing, orderedSteps, parseRoute, photoSyncState, syncStateKey,
  progressFraction, routeHash, stepProgress, stepScreen, visitSyncState, yuanToFen, type Route,
  aboutNewTerminal, addDays, addYears, ageYears, beijingDate, identifyStepsDone, parseDay,
  handoverOf, hasConditionPhrase, initialHandoverPhoto, terminalPhotos, toggleConditionPhrase,
  networkKey, syncHeadline, webConnectionType, isOfflineFailure, retryWords, retryLeftMs, syncProblem, cropFromDrag, telHref,
  dayWords, mapLinks, moveItem, windowWords, wgs84ToGcj02, distanceMetres, distanceWords, placeOf,
} from './logic';
import gcoord from 'gcoord';
import type { StepView } from './api';

const step = (id: string, requires: string[], over: Partial<StepView> = {}): StepView => ({
  id, zh: id, en: id, state: 'pending', reason: null, note: null, required: true, skippable: true, applies: true, requires, waits_for: null, ...over,
});

describe('stepScreen', () => {
  it.each([
    ['identify', ['terminal_identified'], 'identify'],
    ['replacement.identify', ['replacement_serial'], 'identify'],
    ['acceptance', ['signature'], 'sign'],
    ['docs.id_card', ['photo:id_card'], 'photos'],
    ['fault.classify', ['fault_recorded'], 'faults'],
    ['fault.onsite', [], 'faults'],
    ['warranty', ['warranty_decision'], 'details'],
    ['fee', ['repair_fee'], 'details'],
    ['sim', ['sim_data'], 'details'],
    ['test.print', [], null],
    ['identify', ['terminal_identified', 'terminal_details'], 'identify'],
    ['old.production_date', ['terminal_details'], 'identify'],
    ['new.identify', ['replacement_serial', 'replacement_details'], 'identify'],
    ['params', ['parameter_config'], 'details'],
    ['network', ['network_test'], 'details'],
    ['restore', ['data_restored'], 'details'],
    ['unbind', ['unbind_reference'], 'details'],
    ['confirm.settled', ['settled_balance', 'photo:settlement_proof'], 'details'],
    ['followup', ['follow_up_date'], 'details'],
    ['backup', ['backup_confirmation'], 'details'],
    ['docs.bank_card', ['photo:bank_card|account_proof'], 'photos'],
    ['old.collect', ['handover_recorded'], 'details'],
    ['collect', ['handover_recorded'], 'details'],
    ['collect', [], null],
  ])('step %s with %j opens %s', (id, requires, screen) => {
    expect(stepScreen(step(id, requires))).toBe(screen);
  });

  it('a step about the new terminal is told from one about the old', () => {
    expect(aboutNewTerminal(step('new.identify', ['replacement_serial', 'replacement_details']))).toBe(true);
    expect(aboutNewTerminal(step('replacement.identify', ['replacement_serial']))).toBe(true);
    expect(aboutNewTerminal(step('old.production_date', ['terminal_details']))).toBe(false);
    expect(aboutNewTerminal(step('identify', ['terminal_identified']))).toBe(false);
  });
});

describe('identify steps done', () => {
  const installation = [step('identify', ['terminal_identified', 'terminal_details']), step('install', [])];
  const replacement = [
    step('identify', ['terminal_identified']), step('old.production_date', ['terminal_details']),
    step('new.identify', ['replacement_serial', 'replacement_details']),
  ];

  it('a step asking for the serial and the details waits for both', () => {
    expect(identifyStepsDone(installation, false, { serial: true, details: false })).toEqual([]);
    expect(identifyStepsDone(installation, false, { serial: true, details: true })).toEqual(['identify']);
  });

  it('the serial alone finishes a step that asks only for it, the details their own step', () => {
    expect(identifyStepsDone(replacement, false, { serial: true, details: false })).toEqual(['identify']);
    expect(identifyStepsDone(replacement, false, { serial: true, details: true })).toEqual(['identify', 'old.production_date']);
    expect(identifyStepsDone(replacement, true, { serial: true, details: false })).toEqual([]);
    expect(identifyStepsDone(replacement, true, { serial: true, details: true })).toEqual(['new.identify']);
  });

  it('steps already finished, or that do not apply, are left as they are', () => {
    const steps = [step('identify', ['terminal_identified'], { state: 'done' }), step('old.production_date', ['terminal_details'], { applies: false })];
    expect(identifyStepsDone(steps, false, { serial: true, details: true })).toEqual([]);
    // An older visit's identify step asks for the serial only (edition 2).
    expect(identifyStepsDone([step('identify', ['terminal_identified'])], false, { serial: true, details: false })).toEqual(['identify']);
  });
});

describe('hand-over of the terminal taken back', () => {
  const doc = (sha256: string, kind: string) => ({ sha256, kind });
  const documents = [doc('a', 'terminal_photo'), doc('b', 'id_card'), doc('c', 'terminal_photo')];

  it('offers only the terminal photos, in the visit order', () => {
    expect(terminalPhotos(documents).map((d) => d.sha256)).toEqual(['a', 'c']);
    expect(terminalPhotos([doc('b', 'id_card')])).toEqual([]);
  });

  it('finds the record of the visit terminal, none before it is identified', () => {
    const handovers = [{ serial: 'N9100001234567', photo: 'a' }, { serial: 'N9100009876543', photo: null }];
    expect(handoverOf(handovers, 'N9100009876543')).toEqual({ serial: 'N9100009876543', photo: null });
    expect(handoverOf(handovers, 'N950')).toBeNull();
    expect(handoverOf(handovers, null)).toBeNull();
    expect(handoverOf(handovers, '')).toBeNull();
  });

  it('starts on the recorded photo while it is there, else on the newest terminal photo', () => {
    const photos = terminalPhotos(documents);
    expect(initialHandoverPhoto(photos, { photo: 'a' })).toBe('a');
    expect(initialHandoverPhoto(photos, null)).toBe('c');
    // The recorded photo was removed since: the newest one is offered instead.
    expect(initialHandoverPhoto(photos, { photo: 'gone' })).toBe('c');
    expect(initialHandoverPhoto(photos, { photo: null })).toBe('c');
    expect(initialHandoverPhoto([], { photo: 'a' })).toBeNull();
  });

  it('a quick pick adds its words as a part of the condition, and a second tap takes them out', () => {
    expect(toggleConditionPhrase('', '外观完好')).toBe('外观完好');
    expect(toggleConditionPhrase('外观完好', '缺配件')).toBe('外观完好，缺配件');
    expect(toggleConditionPhrase('外观完好，缺配件', '外观完好')).toBe('缺配件');
    // What the agent typed stays; their commas become full-width.
    expect(toggleConditionPhrase(' 缺电源线, 屏幕有划痕 ', '屏幕有划痕')).toBe('缺电源线');
    expect(toggleConditionPhrase('背壳裂开、', '缺配件')).toBe('背壳裂开，缺配件');
    expect(hasConditionPhrase('外观完好；缺配件', '缺配件')).toBe(true);
    // A phrase inside other words is not the picked one.
    expect(hasConditionPhrase('缺配件电池', '缺配件')).toBe(false);
    expect(toggleConditionPhrase('缺配件电池', '缺配件')).toBe('缺配件电池，缺配件');
  });
});

describe('days in Beijing', () => {
  it('the day of an instant is the Beijing day, whatever the phone zone', () => {
    // 2026-11-18 16:30 UTC is half past midnight of the 19th in Beijing.
    expect(beijingDate(1_795_019_400_000)).toBe('2026-11-19');
    expect(beijingDate(1_795_000_000_000)).toBe('2026-11-18');
    expect(beijingDate(Date.UTC(2026, 10, 18, 15, 59, 59, 999))).toBe('2026-11-18');
    expect(beijingDate(Date.UTC(2026, 10, 18, 16, 0, 0, 0))).toBe('2026-11-19');
    // New Year's Eve in London is already New Year's Day in Beijing.
    expect(beijingDate(Date.UTC(2026, 11, 31, 20, 0))).toBe('2027-01-01');
  });

  it.each([
    ['2024-02-29', true], ['2026-02-29', false], ['2026-13-01', false], ['2026-04-31', false],
    ['2026-1-5', false], ['', false], [' 2026-11-19 ', true],
  ])('%j is a day: %j', (text, ok) => {
    expect(parseDay(text) !== null).toBe(ok);
  });

  it('days and years are added on the calendar', () => {
    expect(addDays('2026-12-30', 3)).toBe('2027-01-02');
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
    expect(addDays('not a day', 1)).toBeNull();
    expect(addYears('2026-11-19', 1)).toBe('2027-11-19');
    expect(addYears('2024-02-29', 1)).toBe('2025-02-28');
    expect(addYears('2024-02-29', 4)).toBe('2028-02-29');
  });

  it.each<[string, string, number | null]>([
    ['2016-11-19', '2026-11-19', 10],
    ['2016-11-19', '2026-11-18', 9],
    ['2026-11-19', '2026-11-19', 0],
    // Made on the 29th of February: a year old on the 28th, as the core counts.
    ['2024-02-29', '2025-02-28', 1],
    ['2024-02-29', '2025-02-27', 0],
    ['2024-02-29', '2028-02-28', 3],
    ['2024-02-29', '2028-02-29', 4],
    ['2026-11-20', '2026-11-19', null],
    ['2026-02-30', '2026-11-19', null],
  ])('made %s, on %s the terminal is %j years old', (produced, on, age) => {
    expect(ageYears(produced, on)).toBe(age);
  });
});

describe('sync states', () => {
  it('a visit waiting to sync is on the phone, or sending while a sync runs', () => {
    expect(visitSyncState({ unsynced: true }, false)).toBe('on_phone');
    expect(visitSyncState({ unsynced: true }, true)).toBe('sending');
    expect(visitSyncState({ unsynced: false }, true)).toBe('confirmed');
    expect(photoSyncState({ confirmed: false }, true, false)).toBe('on_phone');
    expect(photoSyncState({ confirmed: false }, true, true)).toBe('sending');
    expect(photoSyncState({ confirmed: true }, true, true)).toBe('sent');
    expect(photoSyncState({ confirmed: true }, false, false)).toBe('confirmed');
    expect(syncStateKey('sent')).toBe('sent');
    expect(syncStateKey('confirmed')).toBe('confirmedByServer');
  });

  it('only started and unfinished progress count as syncing', () => {
    expect(isSyncing(null)).toBe(false);
    expect(isSyncing({ event: 'started', resumed: false })).toBe(true);
    expect(isSyncing({ event: 'progress', phase: 'blobs', docs_done: 0, docs_total: 1, bytes_done: 0, bytes_total: 9 })).toBe(true);
    expect(isSyncing({ event: 'progress', phase: 'done', docs_done: 1, docs_total: 1, bytes_done: 9, bytes_total: 9 })).toBe(false);
    expect(isSyncing({ event: 'failed', code: 'offline', message: '', failures: 1, retry_in_ms: 5000 })).toBe(false);
  });

  it('the progress bar moves with bytes, then with documents, and never leaves 0..1', () => {
    const p = (phase: 'blobs' | 'manifest' | 'documents' | 'done', dd: number, dt: number, bd: number, bt: number) =>
      progressFraction({ phase, docs_done: dd, docs_total: dt, bytes_done: bd, bytes_total: bt });
    expect(progressFraction(null)).toBe(0);
    expect(p('manifest', 0, 0, 0, 1000)).toBe(0);
    expect(p('documents', 1, 2, 0, 1000)).toBeCloseTo(0.15);
    expect(p('blobs', 2, 2, 500, 1000)).toBeCloseTo(0.65);
    expect(p('blobs', 0, 0, 500, 1000)).toBeCloseTo(0.65);
    expect(p('done', 2, 2, 1000, 1000)).toBe(1);
    expect(p('blobs', 2, 2, 5000, 1000)).toBeLessThanOrEqual(1);
    const series = [p('manifest', 0, 0, 0, 10), p('documents', 0, 3, 0, 10), p('documents', 3, 3, 0, 10), p('manifest', 3, 3, 0, 10), p('blobs', 3, 3, 0, 10), p('blobs', 3, 3, 10, 10), p('done', 3, 3, 10, 10)];
    expect([...series].sort((a, b) => a - b)).toEqual(series);
  });
});

describe('offline is a calm state, not an error', () => {
  const status = (over: { failures?: number; last_error_code?: string | null; unsynced_visits?: number } = {}) => ({
    failures: 3, last_error_code: 'offline', unsynced_visits: 2, ...over,
  });
  const failed = (code: string) => ({ event: 'failed' as const, code, message: 'x', failures: 21, retry_in_ms: 420_000 });

  it('no signal, a cut or an unfinished sync is offline; a refusal is an error', () => {
    for (const code of ['offline', 'interrupted', 'unfinished']) expect(isOfflineFailure(code), code).toBe(true);
    for (const code of ['refused', 'credential_revoked', 'app_too_old', 'wrong_certificate', 'storage_full']) {
      expect(isOfflineFailure(code), code).toBe(false);
    }
    expect(isOfflineFailure(null)).toBe(false);
    expect(syncProblem(status(), failed('offline'), false)).toBe('offline');
    expect(syncProblem(status(), failed('credential_revoked'), false)).toBe('error');
    // From the stored status when this screen saw no event (after a restart).
    expect(syncProblem(status({ last_error_code: 'refused' }), null, false)).toBe('error');
    expect(syncProblem(status(), null, false)).toBe('offline');
  });

  it('nothing to say while syncing, with nothing waiting, or with no failure', () => {
    expect(syncProblem(status(), failed('offline'), true)).toBe(null);
    expect(syncProblem(status({ unsynced_visits: 0 }), failed('refused'), false)).toBe(null);
    expect(syncProblem(status({ failures: 0 }), null, false)).toBe(null);
  });

  it('the next try in words, rounded as read at a glance', () => {
    expect(retryWords('zh', 420_000)).toBe('约 7 分钟后');
    expect(retryWords('zh', 400_000)).toBe('约 7 分钟后');
    expect(retryWords('zh', 5_000)).toBe('约 5 秒后');
    expect(retryWords('zh', 400)).toBe('约 1 秒后');
    expect(retryWords('zh', 0)).toBe('马上');
    expect(retryWords('en', 0)).toBe('any moment now');
    expect(retryWords('zh', 2 * 3_600_000)).toBe('约 2 小时后');
    expect(retryWords('en', 60_000)).toBe('in about 1 minute');
    expect(retryWords('en', 600_000)).toBe('in about 10 minutes');
    expect(retryWords('en', 1_000)).toBe('in about 1 second');
  });

  it('counts the retry down while the screen stays open', () => {
    const at = 1_000_000;
    expect(retryWords('zh', retryLeftMs(420_000, at, at))).toBe('约 7 分钟后');
    expect(retryWords('zh', retryLeftMs(420_000, at, at + 300_000))).toBe('约 2 分钟后');
    expect(retryWords('zh', retryLeftMs(420_000, at, at + 415_000))).toBe('约 5 秒后');
    expect(retryLeftMs(420_000, at, at + 500_000)).toBe(0);
    // A clock that went back never adds time.
    expect(retryLeftMs(5_000, at, at - 60_000)).toBe(5_000);
  });
});

describe('money and sizes', () => {
  it.each([
    ['12', 1200], ['12.5', 1250], ['12.50', 1250], ['0.05', 5], [' 300 ', 30000], ['12，5', 1250],
    ['', null], ['-1', null], ['1.234', null], ['abc', null], ['1e3', null],
  ])('yuan %j is %j fen', (text, fen) => {
    expect(yuanToFen(text)).toBe(fen);
  });

  it('fen prints as yuan with two decimals and round-trips', () => {
    expect(fenToYuan(1250)).toBe('12.50');
    expect(fenToYuan(5)).toBe('0.05');
    expect(fenToYuan(null)).toBe('');
    for (const fen of [0, 1, 99, 100, 12345]) expect(yuanToFen(fenToYuan(fen))).toBe(fen);
  });

  it('bytes are human sized', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2048)).toBe('2.0 KB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MB');
  });
});

describe('checklist', () => {
  it('steps that do not apply go last, order kept otherwise', () => {
    const steps = [step('a', []), step('b', [], { applies: false }), step('c', [])];
    expect(orderedSteps(steps).map((s) => s.id)).toEqual(['a', 'c', 'b']);
  });

  it('progress counts done and skipped required steps that apply', () => {
    const steps = [
      step('a', [], { state: 'done' }), step('b', [], { state: 'skipped', reason: 'x' }), step('c', []),
      step('d', [], { required: false, state: 'done' }), step('e', [], { applies: false }),
    ];
    expect(stepProgress(steps)).toEqual({ done: 2, total: 3 });
  });
});

describe('routes', () => {
  it.each<[string, Route]>([
    ['', { name: 'today' }],
    ['#/sync', { name: 'sync' }],
    ['#/enrol', { name: 'enrol' }],
    ['#/visit/abc', { name: 'visit', id: 'abc', section: 'checklist' }],
    ['#/visit/abc/photos', { name: 'visit', id: 'abc', section: 'photos' }],
    ['#/visit/abc/replacement', { name: 'visit', id: 'abc', section: 'replacement' }],
    ['#/visit/abc/nonsense', { name: 'visit', id: 'abc', section: 'checklist' }],
    ['#/visit', { name: 'today' }],
  ])('%j parses', (hash, route) => {
    expect(parseRoute(hash)).toEqual(route);
  });

  it('every route survives a round trip through the hash', () => {
    const routes: Route[] = [
      { name: 'today' }, { name: 'new' }, { name: 'sync' }, { name: 'enrol' },
      { name: 'visit', id: '0190-abc', section: 'checklist' }, { name: 'visit', id: 'x y', section: 'sign' },
      { name: 'visit', id: '0190-abc', section: 'replacement' },
    ];
    for (const r of routes) expect(parseRoute(routeHash(r))).toEqual(r);
  });

  it('the list filter maps to the command arguments', () => {
    expect(filterArgs({ kind: 'all' })).toEqual({ status: null, unsyncedOnly: false });
    expect(filterArgs({ kind: 'waiting' })).toEqual({ status: null, unsyncedOnly: true });
    expect(filterArgs({ kind: 'status', status: 'returned' })).toEqual({ status: 'returned', unsyncedOnly: false });
  });
});

describe('what the server put back', () => {
  it('says each visit the server put changes back in, in its words', () => {
    const report = { visits_synced: 2, put_back: [
      { visit: 'v1', fields: ['notes'], message: '这次访问（已通过）在后台的状态不允许这些修改，已恢复为后台的记录：备注。' },
      { visit: 'v2', fields: ['merchant'], message: '已恢复：商户信息。' },
    ] };
    expect(putBackWords(report)).toBe('这次访问（已通过）在后台的状态不允许这些修改，已恢复为后台的记录：备注。\n已恢复：商户信息。');
  });
  it('says nothing when everything was taken, or the report is from an older core', () => {
    expect(putBackWords({ visits_synced: 1 })).toBeNull();
    expect(putBackWords({ put_back: [] })).toBeNull();
    expect(putBackWords({ put_back: [{ visit: 'v', message: 7 }, null] })).toBeNull();
  });
});

describe('photos on Wi-Fi only', () => {
  const status = (unsynced: number, forPhotos: number, photos: number) => ({
    unsynced_visits: unsynced, visits_waiting_for_photos: forPhotos, photos_waiting_for_wifi: photos,
  });

  it.each([
    ['everything on the server', status(0, 0, 0), false, { key: 'syncOk', n: 0 }],
    ['visits to send', status(3, 0, 0), false, { key: 'syncWaiting', n: 3 }],
    ['visits on the server, their photos waiting', status(2, 2, 5), false, { key: 'visitsWaitingPhotos', n: 5 }],
    ['one visit edited since, the others waiting for photos', status(3, 2, 5), false, { key: 'syncWaiting', n: 1 }],
    ['a sync running', status(3, 2, 5), true, { key: 'syncing', n: 0 }],
  ] as const)('the headline: %s', (_, s, syncing, expected) => {
    expect(syncHeadline(s, syncing)).toEqual(expected);
  });

  it('names the network the syncs see', () => {
    expect(networkKey('wifi')).toBe('networkWifi');
    expect(networkKey('cellular')).toBe('networkCellular');
    expect(networkKey('unknown')).toBe('networkUnknown');
  });

  it('reads the WebView network type, and nothing where there is no API (iOS)', () => {
    expect(webConnectionType({ connection: { type: 'cellular' } })).toBe('cellular');
    expect(webConnectionType({ connection: { type: 'wifi' } })).toBe('wifi');
    expect(webConnectionType({ connection: {} })).toBeNull();
    expect(webConnectionType({})).toBeNull();
    expect(webConnectionType({ connection: { type: 4 } })).toBeNull();
  });
});

describe('tap to call', () => {
  it('dials the digits the desk typed, spaces and dashes aside', () => {
    expect(telHref('138 0013 8000')).toBe('tel:13800138000');
    expect(telHref('0755-8888 6666')).toBe('tel:075588886666');
    expect(telHref(' +86 138-0013-8000 ')).toBe('tel:+8613800138000');
    // An extension is dialled after a pause, not merged into the number.
    expect(telHref('0755-8888 6666 转 123')).toBe('tel:075588886666,123');
    expect(telHref('0755-88886666 ext. 42')).toBe('tel:075588886666,42');
    expect(telHref('021 6666 8888 #7')).toBe('tel:02166668888,7');
  });
});

describe("the day's list", () => {
  it('says a window with either end open, and nothing for the whole day', () => {
    expect(windowWords('09:00', '11:30')).toBe('09:00–11:30');
    expect(windowWords('14:00', null)).toBe('14:00–');
    expect(windowWords(null, '12:00')).toBe('–12:00');
    expect(windowWords(null, null)).toBeNull();
  });

  it('names a day with its weekday, and today, tomorrow and yesterday', () => {
    expect(dayWords('zh', '2026-12-07', '2026-12-07')).toBe('今天 · 12月7日 周一');
    expect(dayWords('zh', '2026-12-08', '2026-12-07')).toBe('明天 · 12月8日 周二');
    expect(dayWords('zh', '2026-12-06', '2026-12-07')).toBe('昨天 · 12月6日 周日');
    expect(dayWords('zh', '2027-01-01', '2026-12-07')).toBe('1月1日 周五');
    expect(dayWords('en', '2026-12-07', '2026-12-07')).toBe('Today · Mon 7 Dec');
    expect(dayWords('en', '2026-02-28', '2026-12-07')).toBe('Sat 28 Feb');
    // Across the end of a month and a year.
    expect(dayWords('zh', '2027-01-01', '2026-12-31')).toBe('明天 · 1月1日 周五');
    expect(dayWords('zh', 'not a day', '2026-12-07')).toBe('not a day');
  });

  it('links an address to the map apps, escaped', () => {
    const links = mapLinks(' 上海市浦东新区张杨路 500 号 & 1 ');
    expect(links.map((l) => l.app)).toEqual(['amap', 'baidu', 'apple']);
    const q = encodeURIComponent('上海市浦东新区张杨路 500 号 & 1');
    expect(links[0].href).toBe(`https://uri.amap.com/search?keyword=${q}&src=posfield&callnative=1`);
    expect(links[1].href).toBe(`https://api.map.baidu.com/geocoder?address=${q}&output=html&src=posfield`);
    expect(links[2].href).toBe(`https://maps.apple.com/?q=${q}`);
    for (const { href } of links) expect(new URL(href).search).not.toContain('&1');
  });

  it('moves a job up or down and never out of the list', () => {
    expect(moveItem(['a', 'b', 'c'], 2, -1)).toEqual(['a', 'c', 'b']);
    expect(moveItem(['a', 'b', 'c'], 0, 1)).toEqual(['b', 'a', 'c']);
    expect(moveItem(['a', 'b', 'c'], 0, -1)).toEqual(['a', 'b', 'c']);
    expect(moveItem(['a', 'b', 'c'], 2, 1)).toEqual(['a', 'b', 'c']);
    expect(moveItem(['a'], 5, 1)).toEqual(['a']);
  });
});

describe('the arrival check-in', () => {
  it('a desktop has no positioning: unavailable, without asking the plugin', async () => {
    const { locate } = await import('./location');
    expect(await locate(false)).toBe('unavailable');
  });
});

describe('news as a system notification', () => {
  it('a desktop shows none: the bell is the notice, and the plugin is not asked', async () => {
    const { notifyNews } = await import('./notify');
    expect(await notifyNews(false, 'POS 运维', '消息，1 条未读')).toBe('not_on_desktop');
  });
});

describe('places and the maps', () => {
  // Cities across China's corners, and places outside it.
  const places = [
    { name: 'Shanghai', lat: 31.224361, lon: 121.46917 },
    { name: 'Beijing', lat: 39.904211, lon: 116.407395 },
    { name: 'Urumqi', lat: 43.825592, lon: 87.616848 },
    { name: 'Sanya', lat: 18.252847, lon: 109.511909 },
    { name: 'Harbin', lat: 45.803775, lon: 126.534967 },
    { name: 'Lhasa', lat: 29.652491, lon: 91.172112 },
  ];

  it('converts WGS-84 to GCJ-02 as gcoord, an independent implementation from npm, does', () => {
    for (const p of places) {
      const ours = wgs84ToGcj02(p);
      const [lon, lat] = gcoord.transform([p.lon, p.lat], gcoord.WGS84, gcoord.GCJ02) as [number, number];
      expect(Math.abs(ours.lat - lat), p.name).toBeLessThan(1e-9);
      expect(Math.abs(ours.lon - lon), p.name).toBeLessThan(1e-9);
      // The shift is real: a few hundred metres, never zero inside China.
      const shift = distanceMetres(p, ours);
      expect(shift, p.name).toBeGreaterThan(50);
      expect(shift, p.name).toBeLessThan(1000);
    }
    const london = { lat: 51.5074, lon: -0.1278 };
    expect(wgs84ToGcj02(london)).toEqual(london);
  });

  it('measures distances on the earth', () => {
    // One degree of latitude is about 111.2 km anywhere.
    expect(distanceMetres({ lat: 31, lon: 121 }, { lat: 32, lon: 121 })).toBeCloseTo(111195, -1);
    expect(distanceMetres(places[0], places[0])).toBe(0);
    // Shanghai to Beijing, about 1,067 km on the great circle.
    expect(distanceMetres(places[0], places[1]) / 1000).toBeCloseTo(1067, -1);
    expect(distanceWords('zh', 847)).toBe('850 米');
    expect(distanceWords('en', 3240)).toBe('3.2 km');
    expect(distanceWords('zh', 3240)).toBe('3.2 公里');
    expect(placeOf(31224361, 121469170)).toEqual({ lat: 31.224361, lon: 121.46917 });
    expect(placeOf(null, 121469170)).toBeNull();
  });

  it('links to the place in GCJ-02 when it is known, else searches the address, else nothing', () => {
    const g = wgs84ToGcj02(places[0]);
    const [lat, lon] = [g.lat.toFixed(6), g.lon.toFixed(6)];
    const links = mapLinks('世纪大道 8 号', '老李餐厅', places[0]);
    const name = encodeURIComponent('老李餐厅');
    expect(links[0].href).toBe(`https://uri.amap.com/marker?position=${lon},${lat}&name=${name}&src=posfield&coordinate=gaode&callnative=1`);
    expect(links[1].href).toContain(`location=${lat},${lon}&`);
    expect(links[1].href).toContain('coord_type=gcj02');
    expect(links[2].href).toBe(`https://maps.apple.com/?ll=${lat},${lon}&q=${name}`);
    expect(mapLinks(null, '老李餐厅', null)).toEqual([]);
    expect(mapLinks('   ', '', null)).toEqual([]);
  });
});

describe('cropping in the preview', () => {
  const rect = { left: 10, top: 100, width: 300, height: 400 };
  it('marks thousandths of the photo as shown, whichever way the finger went', () => {
    expect(cropFromDrag({ x: 70, y: 180 }, { x: 250, y: 420 }, rect)).toEqual({ x: 200, y: 200, width: 600, height: 600 });
    expect(cropFromDrag({ x: 250, y: 420 }, { x: 70, y: 180 }, rect)).toEqual({ x: 200, y: 200, width: 600, height: 600 });
  });
  it('clamps a drag past the photo to its edges', () => {
    expect(cropFromDrag({ x: -50, y: 0 }, { x: 900, y: 900 }, rect)).toEqual({ x: 0, y: 0, width: 1000, height: 1000 });
  });
  it('a tap or a thin drag is not a crop', () => {
    expect(cropFromDrag({ x: 100, y: 200 }, { x: 102, y: 203 }, rect)).toBeNull();
    expect(cropFromDrag({ x: 100, y: 200 }, { x: 300, y: 205 }, rect)).toBeNull();
    expect(cropFromDrag({ x: 0, y: 0 }, { x: 9, y: 9 }, { left: 0, top: 0, width: 0, height: 0 })).toBeNull();
  });
});


describe('marks over a photo', () => {
  it('turns a pointer into thousandths of the shown photo, clamped to it', () => {
    const rect = { left: 10, top: 20, width: 200, height: 100 };
    expect(markPoint({ x: 110, y: 70 }, rect)).toEqual([500, 500]);
    expect(markPoint({ x: -50, y: 500 }, rect)).toEqual([0, 1000]);
  });

  it('takes a slip of the finger for no mark', () => {
    expect(isDrawn([100, 100], [105, 110])).toBe(false);
    expect(isDrawn([100, 100], [130, 100])).toBe(true);
  });

  it('draws each shape in the photo\u2019s own pixels, as the back office does', () => {
    const base = { from: [100, 200] as [number, number], to: [500, 600] as [number, number], text: null };
    const [line, head] = markPieces({ ...base, shape: 'arrow' }, 1600, 1200);
    expect(line).toEqual({ tag: 'line', x1: 160, y1: 240, x2: 800, y2: 720 });
    expect(head.tag).toBe('polyline');
    expect(markPieces({ ...base, shape: 'circle' }, 1600, 1200)).toEqual([{ tag: 'ellipse', cx: 480, cy: 480, rx: 320, ry: 240 }]);
    expect(markPieces({ ...base, shape: 'text', text: '屏幕裂' }, 1600, 1200)).toEqual([{ tag: 'text', x: 160, y: 240, size: 80, text: '屏幕裂' }]);
    expect(markPieces({ ...base, shape: 'star' }, 1600, 1200)).toEqual([]);
  });
});
