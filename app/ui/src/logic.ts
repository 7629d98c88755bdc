// Pure helpers behind the screens, unit-tested with vitest.
import type { DocumentView, HandoverView, Progress, StepView, SyncEvent, SyncView, VisitRow } from './api';
import type { Locale } from './i18n';

/** Which screen works on a checklist step, from what the step requires. */
export type StepScreen = 'identify' | 'faults' | 'photos' | 'details' | 'sign' | null;

const IDENTIFY_REQUIREMENTS = ['terminal_identified', 'replacement_serial', 'terminal_details', 'replacement_details'];
const DETAILS_REQUIREMENTS = [
  'warranty_decision', 'repair_plan', 'repair_fee', 'sim_data', 'sim_action', 'backup_confirmation', 'suspension_cause',
  'application_approved', 'parameter_config', 'network_test', 'data_restored', 'unbind_reference', 'settled_balance',
  'follow_up_date', 'handover_recorded',
];

export function stepScreen(step: Pick<StepView, 'id' | 'requires'>): StepScreen {
  const r = step.requires;
  if (r.some((q) => IDENTIFY_REQUIREMENTS.includes(q))) return 'identify';
  if (r.includes('signature')) return 'sign';
  // A step asking for a record and a photo (the settled balance and its
  // proof) opens the record, which links to the photos.
  if (r.some((q) => DETAILS_REQUIREMENTS.includes(q))) return 'details';
  if (r.some((q) => q.startsWith('photo:'))) return 'photos';
  if (r.includes('fault_recorded') || step.id.startsWith('fault.')) return 'faults';
  return null;
}

/** Whether a step is about the new terminal: the identify screen opens on it. */
export function aboutNewTerminal(step: Pick<StepView, 'requires'>): boolean {
  return step.requires.includes('replacement_serial') || step.requires.includes('replacement_details');
}

/**
 * The identify steps to mark done once the serial (and, where asked, the
 * model and production date) of one terminal are recorded: pending steps
 * that apply, ask for this terminal's serial or details, and ask nothing
 * that is not recorded yet.
 */
export function identifyStepsDone(
  steps: Pick<StepView, 'id' | 'state' | 'applies' | 'requires'>[],
  replacement: boolean,
  known: { serial: boolean; details: boolean },
): string[] {
  const serial = replacement ? 'replacement_serial' : 'terminal_identified';
  const details = replacement ? 'replacement_details' : 'terminal_details';
  const met = (q: string) => (q === serial && known.serial) || (q === details && known.details);
  return steps
    .filter((s) => s.state === 'pending' && s.applies)
    .filter((s) => s.requires.includes(serial) || s.requires.includes(details))
    .filter((s) => s.requires.every(met))
    .map((s) => s.id);
}

/** The visit's current photos of a terminal, the ones a hand-over may show. */
export function terminalPhotos<T extends Pick<DocumentView, 'kind'>>(documents: T[]): T[] {
  return documents.filter((d) => d.kind === 'terminal_photo');
}

/** The hand-over recorded for a terminal, if any. */
export function handoverOf<T extends Pick<HandoverView, 'serial'>>(handovers: T[], serial: string | null | undefined): T | null {
  return (serial && handovers.find((h) => h.serial === serial)) || null;
}

/**
 * The photo a hand-over form starts on: the one recorded while it is still
 * among the terminal photos, else the newest terminal photo, else none.
 */
export function initialHandoverPhoto(
  photos: Pick<DocumentView, 'sha256'>[],
  recorded: Pick<HandoverView, 'photo'> | null,
): string | null {
  if (recorded?.photo && photos.some((p) => p.sha256 === recorded.photo)) return recorded.photo;
  return photos.length ? photos[photos.length - 1].sha256 : null;
}

/** The parts of a condition as typed, split at commas, semicolons and enumeration commas. */
function conditionParts(text: string): string[] {
  return text.split(/[，,、;；]/).map((p) => p.trim()).filter(Boolean);
}

/** Whether a quick-pick phrase is already one of the condition's parts. */
export function hasConditionPhrase(text: string, phrase: string): boolean {
  return conditionParts(text).includes(phrase);
}

/**
 * The condition with a quick-pick phrase added as its own part, or taken
 * out when it is there already; parts are joined by a full-width comma.
 */
export function toggleConditionPhrase(text: string, phrase: string): string {
  const parts = conditionParts(text);
  const next = parts.includes(phrase) ? parts.filter((p) => p !== phrase) : [...parts, phrase];
  return next.join('，');
}

/** The list filter of the today screen. */
export type VisitFilter = { kind: 'all' } | { kind: 'status'; status: string } | { kind: 'waiting' };

export function filterArgs(filter: VisitFilter): { status: string | null; unsyncedOnly: boolean } {
  if (filter.kind === 'status') return { status: filter.status, unsyncedOnly: false };
  return { status: null, unsyncedOnly: filter.kind === 'waiting' };
}

/**
 * The sync state of a visit or a photo as the agent reads it: only on the
 * phone, being sent, sent (a photo the server has received and verified while
 * its visit still waits), or confirmed by the server.
 */
export type VisitSyncState = 'on_phone' | 'sending' | 'sent' | 'confirmed';

/** The words for a sync state, through the screen's translator. */
export function syncStateKey(s: VisitSyncState): 'onPhone' | 'sending' | 'sent' | 'confirmedByServer' {
  return s === 'confirmed' ? 'confirmedByServer' : s === 'sent' ? 'sent' : s === 'sending' ? 'sending' : 'onPhone';
}

export function visitSyncState(row: Pick<VisitRow, 'unsynced'>, syncing: boolean): VisitSyncState {
  if (!row.unsynced) return 'confirmed';
  return syncing ? 'sending' : 'on_phone';
}

/**
 * A photo (or the signature image) the server has verified is `sent` until
 * the visit that refers to it is synced too, then `confirmed`.
 */
export function photoSyncState(doc: Pick<DocumentView, 'confirmed'>, visitUnsynced: boolean, syncing: boolean): VisitSyncState {
  if (doc.confirmed) return visitUnsynced ? 'sent' : 'confirmed';
  return syncing ? 'sending' : 'on_phone';
}

/** Whether a sync event means a sync is running. */
export function isSyncing(event: SyncEvent | null): boolean {
  return event?.event === 'started' || (event?.event === 'progress' && event.phase !== 'done');
}

/**
 * The progress bar's fraction (0..1): the visit documents first, then the
 * photos. The counts run over the whole sync, so the bar only moves forward.
 */
export function progressFraction(p: Progress | null): number {
  if (!p) return 0;
  if (p.phase === 'done') return 1;
  // No documents to send and photos going: the documents part is full.
  const docs = p.docs_total > 0 ? p.docs_done / p.docs_total : p.phase === 'blobs' ? 1 : 0;
  const bytes = p.bytes_total > 0 ? p.bytes_done / p.bytes_total : 0;
  // Photos are most of the bytes: they weigh 70 % of the bar.
  return Math.max(0, Math.min(1, docs * 0.3 + bytes * 0.7));
}

/**
 * The sync screen's headline: syncing, visits waiting to go (their
 * documents), photos left for Wi-Fi with every visit on the server, or
 * everything synced. Visits whose documents are on the server and whose
 * photos wait are not "waiting to sync": the back office has them.
 */
export function syncHeadline(
  status: Pick<SyncView, 'unsynced_visits' | 'visits_waiting_for_photos' | 'photos_waiting_for_wifi'>,
  syncing: boolean,
): { key: 'syncing' | 'syncWaiting' | 'visitsWaitingPhotos' | 'syncOk'; n: number } {
  if (syncing) return { key: 'syncing', n: 0 };
  const documents = status.unsynced_visits - status.visits_waiting_for_photos;
  if (documents > 0) return { key: 'syncWaiting', n: documents };
  if (status.visits_waiting_for_photos > 0 || status.photos_waiting_for_wifi > 0) {
    return { key: 'visitsWaitingPhotos', n: status.photos_waiting_for_wifi };
  }
  return { key: 'syncOk', n: 0 };
}

/** The words for the network the syncs see. */
export function networkKey(connection: SyncView['connection']): 'networkWifi' | 'networkCellular' | 'networkUnknown' {
  return connection === 'wifi' ? 'networkWifi' : connection === 'cellular' ? 'networkCellular' : 'networkUnknown';
}

/**
 * The WebView's network type for the shell (`navigator.connection.type`):
 * Android's WebView has it, iOS's and most desktop ones have no
 * `navigator.connection` at all, which is null (the phone cannot tell).
 */
export function webConnectionType(nav: { connection?: { type?: unknown } }): string | null {
  const type = nav.connection?.type;
  return typeof type === 'string' ? type : null;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Yuan as typed (`12`, `12.5`, `12.50`) to fen; null when not a price. */
export function yuanToFen(text: string): number | null {
  const m = /^\s*(\d{1,7})(?:\.(\d{1,2}))?\s*$/.exec(text.replace('，', '.').replace('。', '.'));
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
}

export function fenToYuan(fen: number | null): string {
  if (fen == null) return '';
  return `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
}

/** Steps in checklist order, with the ones that do not apply last. */
export function orderedSteps(steps: StepView[]): StepView[] {
  return [...steps.filter((s) => s.applies), ...steps.filter((s) => !s.applies)];
}

/** How many required, applicable steps are finished. */
export function stepProgress(steps: StepView[]): { done: number; total: number } {
  const counted = steps.filter((s) => s.applies && s.required);
  return { done: counted.filter((s) => s.state === 'done' || s.state === 'skipped').length, total: counted.length };
}

/** Parses `#/visit/ID/photos` into a route. */
export type Route =
  | { name: 'enrol' } | { name: 'today' } | { name: 'new' } | { name: 'sync' } | { name: 'news' }
  | { name: 'visit'; id: string; section: VisitSection };

/** A visit's screens; `replacement` is the identify screen on the new terminal. */
export type VisitSection = 'checklist' | 'identify' | 'replacement' | 'faults' | 'photos' | 'details' | 'sign';

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case 'enrol': return { name: 'enrol' };
    case 'new': return { name: 'new' };
    case 'sync': return { name: 'sync' };
    case 'news': return { name: 'news' };
    case 'visit': {
      if (!parts[1]) return { name: 'today' };
      const sections = ['identify', 'replacement', 'faults', 'photos', 'details', 'sign'] as const;
      const section = (sections as readonly string[]).includes(parts[2] ?? '') ? (parts[2] as (typeof sections)[number]) : 'checklist';
      return { name: 'visit', id: parts[1], section };
    }
    default: return { name: 'today' };
  }
}

export function routeHash(route: Route): string {
  if (route.name === 'visit') {
    return `#/visit/${encodeURIComponent(route.id)}${route.section === 'checklist' ? '' : `/${route.section}`}`;
  }
  return `#/${route.name}`;
}

/** What the server put back of this phone's changes in a sync, in the
 * agent's words (one line per visit), or null when it took everything. */
export function putBackWords(report: Record<string, unknown>): string | null {
  const putBack = Array.isArray(report.put_back) ? report.put_back : [];
  const lines = putBack
    .map((entry) => (entry && typeof entry === 'object' ? (entry as { message?: unknown }).message : null))
    .filter((message): message is string => typeof message === 'string' && message.length > 0);
  return lines.length > 0 ? lines.join('\n') : null;
}

/**
 * Beijing is UTC+8 all year (no daylight saving since 1991): the business
 * day of an instant, as the core counts it, whatever the phone's own zone.
 */
const BEIJING_OFFSET_MS = 8 * 60 * 60 * 1000;

/** `YYYY-MM-DD` of a calendar day (UTC fields of a Date at midnight UTC). */
function dayText(d: Date): string {
  const y = String(d.getUTCFullYear()).padStart(4, '0');
  return `${y}-${String(d.getUTCMonth() + 1).padStart(2, '0')}-${String(d.getUTCDate()).padStart(2, '0')}`;
}

/** The Beijing date (`YYYY-MM-DD`) of an instant in ms since the epoch: today's follow-ups are this day's. */
export function beijingDate(ms: number): string {
  return dayText(new Date(ms + BEIJING_OFFSET_MS));
}

/** A real calendar day written `YYYY-MM-DD` (as a date input gives it), else null. */
export function parseDay(text: string): { y: number; m: number; d: number } | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  if (!match) return null;
  const [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (m < 1 || m > 12 || d < 1 || d > daysInMonth(y, m)) return null;
  return { y, m, d };
}

function daysInMonth(y: number, m: number): number {
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

/** The day `n` days after `day` (`YYYY-MM-DD`), or null when `day` is not a day. */
export function addDays(day: string, n: number): string | null {
  const p = parseDay(day);
  if (!p) return null;
  const d = new Date(Date.UTC(p.y, p.m - 1, p.d));
  d.setUTCDate(d.getUTCDate() + n);
  return dayText(d);
}

/** The same day `n` years later; the 29th of February becomes the 28th in other years. */
export function addYears(day: string, n: number): string | null {
  const p = parseDay(day);
  if (!p) return null;
  const y = p.y + n;
  return dayText(new Date(Date.UTC(y, p.m - 1, Math.min(p.d, daysInMonth(y, p.m)))));
}

/**
 * A terminal's age in whole years from its production date to `on` (both
 * `YYYY-MM-DD`), as the core counts it: a birthday on the 29th of February
 * falls on the 28th in other years. Null when either is not a day or the
 * terminal is not made yet.
 */
export function ageYears(produced: string, on: string): number | null {
  const p = parseDay(produced);
  const today = parseDay(on);
  if (!p || !today || on < produced) return null;
  let years = today.y - p.y;
  const anniversary = addYears(produced, years);
  if (anniversary !== null && anniversary > on) years -= 1;
  return years;
}

/**
 * Failures the network causes (no signal, a cut connection, a sync left
 * unfinished): the normal state in the field. Everything stays on the phone
 * and the app tries again by itself, so they are shown as "offline", calmly,
 * not as an error the agent must act on.
 */
export function isOfflineFailure(code: string | null | undefined): boolean {
  return code === 'offline' || code === 'interrupted' || code === 'unfinished';
}

/** The sync's problem as the agent should see it, if any. */
export function syncProblem(
  status: Pick<SyncView, 'failures' | 'last_error_code' | 'unsynced_visits'>,
  event: SyncEvent | null,
  syncing: boolean,
): 'offline' | 'error' | null {
  if (syncing || status.unsynced_visits === 0) return null;
  const code = event?.event === 'failed' ? event.code : status.failures > 0 ? status.last_error_code : null;
  if (!code) return null;
  return isOfflineFailure(code) ? 'offline' : 'error';
}

/**
 * When the next try comes, in words ("约 7 分钟后", "in about 7 minutes"):
 * rounded, as an agent reads it at a glance.
 */
export function retryWords(locale: 'zh' | 'en', ms: number): string {
  if (ms <= 0) return locale === 'zh' ? '马上' : 'any moment now';
  const seconds = Math.max(1, Math.round(ms / 1000));
  if (seconds < 60) return locale === 'zh' ? `约 ${seconds} 秒后` : `in about ${seconds} ${seconds === 1 ? 'second' : 'seconds'}`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return locale === 'zh' ? `约 ${minutes} 分钟后` : `in about ${minutes} ${minutes === 1 ? 'minute' : 'minutes'}`;
  const hours = Math.round(minutes / 60);
  return locale === 'zh' ? `约 ${hours} 小时后` : `in about ${hours} ${hours === 1 ? 'hour' : 'hours'}`;
}

/**
 * What is left of a retry announced `retryInMs` ahead at `announcedAt`, at
 * `now` (all milliseconds): the words count down as the screen stays open.
 */
export function retryLeftMs(retryInMs: number, announcedAt: number, now: number): number {
  return Math.max(0, retryInMs - Math.max(0, now - announcedAt));
}

/**
 * A `tel:` link for a phone number as the desk typed it ("138 0013 8000",
 * "0755-8888 6666", "+86 138..."): digits and a leading plus only, so the
 * phone's dialler gets the number and nothing else.
 */
export function telHref(phone: string): string {
  const trimmed = phone.trim();
  // An extension (转 123, ext. 123, x123, #123) is dialled after a pause
  // (`,`), never merged into the number.
  const [main, extension] = trimmed.split(/\s*(?:转|分机|ext\.?|x|#)\s*/i);
  const digits = main.replace(/\D/g, '');
  const extra = extension?.replace(/\D/g, '') ?? '';
  return `tel:${main.startsWith('+') ? '+' : ''}${digits}${extra ? `,${extra}` : ''}`;
}

/** The window a job is planned in: `09:00–11:00`, `09:00–`, `–11:00`, or null for the whole day. */
export function windowWords(from: string | null, until: string | null): string | null {
  if (!from && !until) return null;
  return `${from ?? ''}–${until ?? ''}`;
}

const WEEKDAYS_ZH = '日一二三四五六';
const WEEKDAYS_EN = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS_EN = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * A day (`YYYY-MM-DD`) as the agent reads it: `12月7日 周一` or `Mon 7 Dec`,
 * with 今天 / 明天 / 昨天 (Today, Tomorrow, Yesterday) when it is one of
 * those from `today`. The text itself when it is not a day.
 */
export function dayWords(locale: Locale, day: string, today: string): string {
  const p = parseDay(day);
  if (!p) return day;
  const weekday = new Date(Date.UTC(p.y, p.m - 1, p.d)).getUTCDay();
  const near = [-1, 0, 1].find((n) => addDays(today, n) === day);
  const zh = locale === 'zh';
  const relative = near === undefined ? null : zh ? ['昨天', '今天', '明天'][near + 1] : ['Yesterday', 'Today', 'Tomorrow'][near + 1];
  const words = zh ? `${p.m}月${p.d}日 周${WEEKDAYS_ZH[weekday]}` : `${WEEKDAYS_EN[weekday]} ${p.d} ${MONTHS_EN[p.m - 1]}`;
  return relative ? `${relative} · ${words}` : words;
}

/** A place in degrees. */
export interface LatLon { lat: number; lon: number }

/** The Krasovsky 1940 ellipsoid GCJ-02 is defined on: semi-major axis and eccentricity squared. */
const KRASOVSKY_A = 6378245.0;
const KRASOVSKY_EE = 0.00669342162296594323;

/** Outside this box GCJ-02 is WGS-84 unchanged. */
function outsideChina({ lat, lon }: LatLon): boolean {
  return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
}

function shiftLat(x: number, y: number): number {
  let d = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  d += ((20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2) / 3;
  d += ((20 * Math.sin(y * Math.PI) + 40 * Math.sin((y / 3) * Math.PI)) * 2) / 3;
  d += ((160 * Math.sin((y / 12) * Math.PI) + 320 * Math.sin((y * Math.PI) / 30)) * 2) / 3;
  return d;
}

function shiftLon(x: number, y: number): number {
  let d = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  d += ((20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2) / 3;
  d += ((20 * Math.sin(x * Math.PI) + 40 * Math.sin((x / 3) * Math.PI)) * 2) / 3;
  d += ((150 * Math.sin((x / 12) * Math.PI) + 300 * Math.sin((x / 30) * Math.PI)) * 2) / 3;
  return d;
}

/**
 * A phone's WGS-84 position as the Chinese map apps (高德, Apple Maps in
 * China; 百度 takes it with coord_type=gcj02) expect it: GCJ-02, the
 * obfuscated datum maps in mainland China must use. Unchanged outside China.
 */
export function wgs84ToGcj02(point: LatLon): LatLon {
  if (outsideChina(point)) return point;
  const radLat = (point.lat / 180) * Math.PI;
  const sin = Math.sin(radLat);
  const magic = 1 - KRASOVSKY_EE * sin * sin;
  const root = Math.sqrt(magic);
  const dLat = (shiftLat(point.lon - 105, point.lat - 35) * 180) / (((KRASOVSKY_A * (1 - KRASOVSKY_EE)) / (magic * root)) * Math.PI);
  const dLon = (shiftLon(point.lon - 105, point.lat - 35) * 180) / ((KRASOVSKY_A / root) * Math.cos(radLat) * Math.PI);
  return { lat: point.lat + dLat, lon: point.lon + dLon };
}

/** The distance between two places on the earth's surface in metres (haversine, mean radius). */
export function distanceMetres(a: LatLon, b: LatLon): number {
  const rad = (d: number) => (d * Math.PI) / 180;
  const h = Math.sin(rad(b.lat - a.lat) / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(rad(b.lon - a.lon) / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** A distance as an agent reads it: `850 米` / `850 m` under a kilometre, else `3.2 公里` / `3.2 km`. */
export function distanceWords(locale: Locale, metres: number): string {
  if (metres < 1000) return `${Math.round(metres / 10) * 10} ${locale === 'zh' ? '米' : 'm'}`;
  return `${(metres / 1000).toFixed(1)} ${locale === 'zh' ? '公里' : 'km'}`;
}

/** A place from the core's millionths of a degree, when both are known. */
export function placeOf(lat_e6: number | null, lon_e6: number | null): LatLon | null {
  return lat_e6 === null || lon_e6 === null ? null : { lat: lat_e6 / 1e6, lon: lon_e6 / 1e6 };
}

/**
 * The map apps' links to a merchant, for the phone to open: 高德 (Amap)
 * first, then 百度 (Baidu) and Apple Maps. To its place when one is known
 * (converted to GCJ-02), else a search by the address as typed; none
 * without either. Nothing is looked up online here.
 */
export function mapLinks(address: string | null, name = '', place: LatLon | null = null): { app: 'amap' | 'baidu' | 'apple'; href: string }[] {
  if (place) {
    const g = wgs84ToGcj02(place);
    const [lat, lon] = [g.lat.toFixed(6), g.lon.toFixed(6)];
    const title = encodeURIComponent(name || address || '');
    const content = encodeURIComponent(address ?? name);
    return [
      { app: 'amap', href: `https://uri.amap.com/marker?position=${lon},${lat}&name=${title}&src=posfield&coordinate=gaode&callnative=1` },
      { app: 'baidu', href: `https://api.map.baidu.com/marker?location=${lat},${lon}&title=${title}&content=${content}&output=html&coord_type=gcj02&src=posfield` },
      { app: 'apple', href: `https://maps.apple.com/?ll=${lat},${lon}&q=${title}` },
    ];
  }
  if (!address?.trim()) return [];
  const q = encodeURIComponent(address.trim());
  return [
    { app: 'amap', href: `https://uri.amap.com/search?keyword=${q}&src=posfield&callnative=1` },
    { app: 'baidu', href: `https://api.map.baidu.com/geocoder?address=${q}&output=html&src=posfield` },
    { app: 'apple', href: `https://maps.apple.com/?q=${q}` },
  ];
}

/** `ids` with the one at `index` moved `delta` places (kept inside the list). */
export function moveItem<T>(ids: readonly T[], index: number, delta: number): T[] {
  const to = Math.max(0, Math.min(ids.length - 1, index + delta));
  const moved = [...ids];
  if (index < 0 || index >= ids.length || to === index) return moved;
  const [item] = moved.splice(index, 1);
  moved.splice(to, 0, item);
  return moved;
}

/** The message key of a piece of news's kind. */
export function newsKey(kind: string): 'newsNewJob' | 'newsReturned' | 'newsApplicationApproved' | 'newsApplicationRejected' | 'newsReplanned' | 'newsCancelled' | null {
  switch (kind) {
    case 'new_job': return 'newsNewJob';
    case 'returned': return 'newsReturned';
    case 'application_approved': return 'newsApplicationApproved';
    case 'application_rejected': return 'newsApplicationRejected';
    case 'replanned': return 'newsReplanned';
    case 'cancelled': return 'newsCancelled';
    default: return null;
  }
}

/** A crop in thousandths of a photo's width and height, as the core takes it (`x-crop`). */
export interface CropBox { x: number; y: number; width: number; height: number }

/** The smallest side a crop keeps, in thousandths (the core's `CropBox::MIN_SIDE`). */
export const MIN_CROP_SIDE = 50;

/**
 * The crop a drag from `a` to `b` (screen pixels) marks on a photo shown
 * in `rect` (its box on the screen, as turned): thousandths of the turned
 * photo, clamped to it, or `null` for a drag too small to mean a crop.
 */
export function cropFromDrag(
  a: { x: number; y: number }, b: { x: number; y: number },
  rect: { left: number; top: number; width: number; height: number },
): CropBox | null {
  if (rect.width <= 0 || rect.height <= 0) return null;
  const fx = (x: number) => Math.round(Math.min(1, Math.max(0, (x - rect.left) / rect.width)) * 1000);
  const fy = (y: number) => Math.round(Math.min(1, Math.max(0, (y - rect.top) / rect.height)) * 1000);
  const [x0, x1] = [fx(a.x), fx(b.x)].sort((p, q) => p - q);
  const [y0, y1] = [fy(a.y), fy(b.y)].sort((p, q) => p - q);
  if (x1 - x0 < MIN_CROP_SIDE || y1 - y0 < MIN_CROP_SIDE) return null;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}


/** A mark drawn over a photo, as the Rust side sends it: points in thousandths of the photo. */
export interface Mark { id: string; shape: string; from: [number, number]; to: [number, number]; text: string | null }

/** The marks' colour and sizes: the same rules as the back office's overlay (shared/src/visit/marks.rs). */
export const MARK_COLOUR = '#e11d48';
export const markStroke = (width: number, height: number): number => Math.max(2, Math.min(width, height) / 120);

/** A pointer's place on the shown photo, in thousandths, clamped to the photo. */
export function markPoint(p: { x: number; y: number }, rect: { left: number; top: number; width: number; height: number }): [number, number] {
  const f = (v: number, start: number, size: number) => Math.round(Math.min(1, Math.max(0, (v - start) / Math.max(size, 1))) * 1000);
  return [f(p.x, rect.left, rect.width), f(p.y, rect.top, rect.height)];
}

/** A drag long enough to be a mark rather than a slip: 2 % of the photo either way. */
export const isDrawn = (a: [number, number], b: [number, number]): boolean => Math.hypot(b[0] - a[0], b[1] - a[1]) >= 20;

/** One piece of SVG a mark is drawn with, in the photo's own pixels. */
export type MarkPiece =
  | { tag: 'line'; x1: number; y1: number; x2: number; y2: number }
  | { tag: 'polyline'; points: string }
  | { tag: 'ellipse'; cx: number; cy: number; rx: number; ry: number }
  | { tag: 'text'; x: number; y: number; size: number; text: string };

/** How a mark is drawn over a width × height photo; a shape this version does not know draws nothing. */
export function markPieces(mark: Pick<Mark, 'shape' | 'from' | 'to' | 'text'>, width: number, height: number): MarkPiece[] {
  const px = (p: [number, number]): [number, number] => [(Math.min(p[0], 1000) * width) / 1000, (Math.min(p[1], 1000) * height) / 1000];
  const [[x1, y1], [x2, y2]] = [px(mark.from), px(mark.to)];
  const stroke = markStroke(width, height);
  switch (mark.shape) {
    case 'arrow': {
      const angle = Math.atan2(y2 - y1, x2 - x1);
      const spread = Math.PI / 7;
      const end = (a: number) => `${x2 - stroke * 5 * Math.cos(a)},${y2 - stroke * 5 * Math.sin(a)}`;
      return [{ tag: 'line', x1, y1, x2, y2 }, { tag: 'polyline', points: `${end(angle - spread)} ${x2},${y2} ${end(angle + spread)}` }];
    }
    case 'circle':
      return [{ tag: 'ellipse', cx: (x1 + x2) / 2, cy: (y1 + y2) / 2, rx: Math.abs(x2 - x1) / 2, ry: Math.abs(y2 - y1) / 2 }];
    case 'text':
      return [{ tag: 'text', x: x1, y: y1, size: stroke * 8, text: mark.text ?? '' }];
    default:
      return [];
  }
}
