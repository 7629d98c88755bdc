// The app's shared state: locale, who is enrolled, the vocabulary, the
// current route and the background sync's last event.
import { api, onSync, onVisitChanged, type AppInfo, type Progress, type SyncEvent, type Term, type Vocabulary } from './api';
import { errorText, termLabel, translate, type Locale, type MessageKey } from './i18n';
import { notifyNews } from './notify';
import { isSyncing, parseRoute, putBackWords, routeHash, webConnectionType, type Route, type VisitSection } from './logic';

/** A screen sending the agent to the photos for one kind of photo, and the way back to it. */
export interface PhotoRequest { visit: string; kind: string; back: VisitSection; backLabel: MessageKey }

/** How the screens look: the phone's light or dark setting, or the agent's choice. */
export type Theme = 'auto' | 'light' | 'dark' | 'contrast';
export const THEMES: readonly Theme[] = ['auto', 'light', 'dark', 'contrast'];

function storedTheme(): Theme {
  const stored = localStorage.getItem('posfield.theme');
  return (THEMES as readonly string[]).includes(stored ?? '') ? (stored as Theme) : 'auto';
}

/** Puts `theme` on the page: no attribute follows the phone's own setting. */
function applyTheme(theme: Theme) {
  if (theme === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
}

class AppState {
  locale = $state<Locale>(localStorage.getItem('posfield.locale') === 'en' ? 'en' : 'zh');
  theme = $state<Theme>(storedTheme());
  info = $state<AppInfo | null>(null);
  vocab = $state<Vocabulary | null>(null);
  route = $state<Route>(parseRoute(location.hash));
  syncEvent = $state<SyncEvent | null>(null);
  /** When `syncEvent` arrived (ms), for the retry's countdown. */
  syncEventAt = $state(0);
  /** The running sync resumes one a kill cut (said until it ends). */
  resumedSync = $state(false);
  progress = $state<Progress | null>(null);
  /** Bumped whenever a visit changed, so open screens reload. */
  changes = $state(0);
  changedVisit = $state<string | null>(null);
  toast = $state<{ text: string; error: boolean } | null>(null);
  private toastTimer: ReturnType<typeof setTimeout> | undefined;
  /** Read once by the photos screen it is for (not reactive state). */
  private photoRequest: PhotoRequest | null = null;

  get syncing(): boolean {
    return isSyncing(this.syncEvent);
  }

  t = (key: MessageKey, params: Record<string, string | number> = {}): string => translate(this.locale, key, params);
  term = (list: keyof Vocabulary, code: string | null | undefined): string =>
    termLabel(this.locale, this.vocab?.[list] as Term[] | undefined, code);
  faultLabel = (code: string): string =>
    termLabel(this.locale, this.vocab?.faults.map((f) => f.fault), code);

  setLocale(locale: Locale) {
    this.locale = locale;
    localStorage.setItem('posfield.locale', locale);
    document.documentElement.lang = locale === 'zh' ? 'zh-CN' : 'en';
  }

  setTheme(theme: Theme) {
    this.theme = theme;
    localStorage.setItem('posfield.theme', theme);
    applyTheme(theme);
  }

  go(route: Route) {
    location.hash = routeHash(route);
  }

  /** Opens the visit's photos on one kind of photo, with a way back to the asking screen. */
  askPhoto(request: PhotoRequest) {
    this.photoRequest = request;
    this.go({ name: 'visit', id: request.visit, section: 'photos' });
  }

  /** The photo request for this visit's photos screen, if any; it is taken, so asked once. */
  takePhotoRequest(visitId: string): PhotoRequest | null {
    const request = this.photoRequest;
    this.photoRequest = null;
    return request?.visit === visitId ? request : null;
  }

  say(text: string, error = false) {
    this.toast = { text, error };
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => (this.toast = null), error ? 6000 : 2500);
  }

  fail(error: unknown) {
    this.say(errorText(this.locale, error), true);
  }

  async refreshInfo() {
    const before = this.info?.sync.unseen_news ?? 0;
    this.info = await api.appInfo();
    // News a sync just brought: a system notification on a phone.
    const unseen = this.info.sync.unseen_news ?? 0;
    if (unseen > before) void notifyNews(this.info.mobile, this.t('appName'), this.t('newsUnseen', { n: unseen }));
  }

  async start() {
    window.addEventListener('hashchange', () => (this.route = parseRoute(location.hash)));
    document.documentElement.lang = this.locale === 'zh' ? 'zh-CN' : 'en';
    applyTheme(this.theme);
    const [info, vocab] = await Promise.all([api.appInfo(), api.vocabulary()]);
    this.info = info;
    this.vocab = vocab;
    document.body.dataset.launchedAt = String(info.launched_at);
    if (!info.enrolled_agent && this.route.name !== 'enrol') this.go({ name: 'enrol' });
    void onSync((event) => {
      this.syncEvent = event;
      this.syncEventAt = Date.now();
      if (event.event === 'progress') this.progress = event;
      if (event.event === 'started') {
        this.progress = null;
        this.resumedSync = event.resumed;
      }
      if (event.event === 'synced' || event.event === 'failed') this.resumedSync = false;
      if (event.event === 'synced' || event.event === 'failed') void this.refreshInfo();
      // The back office had moved on (an approval, a cancellation): the
      // agent reads what of its work was put back.
      const putBack = event.event === 'synced' ? putBackWords(event.report) : null;
      if (putBack) this.say(putBack, true);
    });
    void onVisitChanged((id) => {
      this.changedVisit = id;
      this.changes += 1;
    });
    // The network, for "photos on Wi-Fi only": now and at every change
    // (Android's WebView reports it; elsewhere there is nothing to read).
    const nav = navigator as Navigator & { connection?: EventTarget & { type?: unknown } };
    const report = () => void api.reportConnection(webConnectionType(nav)).catch(() => {});
    report();
    nav.connection?.addEventListener?.('change', report);
    // Not awaited: the first screen never waits for the sync's status.
    void api.syncView().then((screen) => {
      if (screen.last_event && !this.syncEvent) {
        this.syncEvent = screen.last_event;
        this.syncEventAt = Date.now();
      }
    });
  }
}

export const app = new AppState();

/** Starts loading the thumbnail of each photo of `visitId` not yet in
 * `thumbs` (which the caller keeps in `$state`): a photo's entry is empty
 * until its image arrives, and stays empty when it cannot be read. */
export function loadThumbnails(visitId: string, shas: string[], thumbs: Record<string, string>): void {
  for (const sha of shas) {
    if (!(sha in thumbs)) {
      thumbs[sha] = '';
      api.blobDataUrl(visitId, sha).then((url) => (thumbs[sha] = url), () => {});
    }
  }
}
