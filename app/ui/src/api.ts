// The app's commands and events, typed. Every function is one Tauri command
// (see app/src-tauri/src/commands.rs); no rule of the domain lives here.
import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type { Mark } from './logic';

export interface Term { code: string; zh: string; en: string }
export interface FaultInfo { fault: Term; category: string; remedies: Term[]; symptom_required: boolean }
export interface Vocabulary {
  kinds: Term[]; statuses: Term[]; document_kinds: Term[]; fault_categories: Term[];
  faults: FaultInfo[]; remedies: Term[]; warranty: Term[]; repair_plans: Term[];
  suspension_causes: Term[]; carriers: Term[]; sim_actions: Term[]; backup_items: Term[]; network_links: Term[];
  terminal_states: Term[]; brief_alerts: Term[];
}
export interface SyncView {
  enrolled_agent: string | null; server: string | null; last_success: number | null; last_success_words: string | null;
  last_attempt: number | null; failures: number; last_error_code: string | null;
  last_error_message: string | null; last_error_minimum_app_version: string | null; unsynced_visits: number; visit_count: number;
  /** "Photos on Wi-Fi only" is on. */
  photos_on_wifi_only: boolean;
  /** The network the syncs see (always `unknown` on a desktop and an iPhone: photos then go). */
  connection: 'wifi' | 'cellular' | 'unknown';
  photos_waiting_for_wifi: number; visits_waiting_for_photos: number;
  /** Bytes the syncs sent and received since the count began (bodies only). */
  data_sent: number; data_received: number;
  /** News from the back office the agent has not seen: the badge. */
  unseen_news: number;
}
export interface VisitUsageView { visit_id: string; merchant: string | null; kind: string | null; sent: number; received: number }
export interface DataUsageView {
  visits: VisitUsageView[]; more_visits: number; other_sent: number; other_received: number; total_sent: number; total_received: number;
}
export interface AppInfo { enrolled_agent: string | null; user: string | null; device_id: string; sync: SyncView; mobile: boolean; launched_at: number }
export interface VisitRow {
  id: string; kind: string; status: string; merchant: string; serial: string | null;
  assignee: string; updated_at: number; updated_words: string; unsynced: boolean; returned_note: string | null;
  /** The day of the follow-up check, `YYYY-MM-DD`, when one is set. */
  follow_up: string | null;
}
export interface VisitList { rows: VisitRow[]; more: boolean }
/** A job's card on the day's list or in a search. */
export interface JobCard {
  id: string; kind: string; status: string; merchant: string; merchant_number: string | null; phone: string | null;
  address: string | null; serial: string | null;
  /** The day the desk planned it for (`YYYY-MM-DD`) and its window (`HH:MM`), Beijing time. */
  planned_day: string | null; planned_from: string | null; planned_until: string | null;
  updated_at: number; unsynced: boolean; returned_note: string | null;
  /** How far the agent got on the way: `accepted`, `departed`, `arrived`. */
  trip: 'accepted' | 'departed' | 'arrived' | null;
  /** Where the merchant is (WGS-84, millionths of a degree): an arrival located there. */
  lat_e6: number | null; lon_e6: number | null;
}
/** What a sync brought from the back office. */
export interface NewsItem {
  id: number; visit_id: string;
  kind: 'new_job' | 'returned' | 'application_approved' | 'application_rejected' | 'replanned' | 'cancelled';
  merchant: string; detail: string | null; at: number; at_words: string; seen: boolean;
}
/** A day's jobs: planned ones in the agent's order; on today's list also the overdue and unplanned. */
export interface DayView { day: string; today: string; planned: JobCard[]; overdue: JobCard[]; unplanned: JobCard[] }
export type StepState = 'pending' | 'done' | 'skipped' | 'not_applicable';
export interface StepView {
  id: string; zh: string; en: string; state: StepState; reason: string | null; note: string | null;
  required: boolean; skippable: boolean; applies: boolean; requires: string[];
  /** The back-office decision this step waits for (zh-CN words), if any. */
  waits_for: string | null;
}
export interface MissingView { step: string; zh: string; en: string }
export interface FaultView {
  id: string; code: string; symptom: string | null; fixed: boolean | null;
  attempts: { remedy: string | null; description: string | null; fixed: boolean }[];
}
export interface DocumentView { sha256: string; kind: string; bytes: number; width: number; height: number; confirmed: boolean; only_on_server?: boolean; marks: Mark[] }
export type SignatureCheck = { state: 'unsigned' } | { state: 'valid' } | { state: 'mismatch'; fields: string[] };
export interface AcceptanceView {
  signer_name: string; signed_at: number; signed_words: string; signed_summary_zh: string; check: SignatureCheck;
  /** The fields changed since signing, in words (from the Rust side's one list). */
  changed: { zh: string; en: string };
  signature_sha256: string; signature_confirmed: boolean;
}
/** A terminal as identified, with what its label says (model, production date) and its age. */
export interface IdentificationView {
  serial: string; method: string; model: string | null; manufacturer: string | null;
  production_date: string | null; age_years: number | null;
}
export interface BackupWaiverView {
  signer_name: string; reason: string | null; signed_at: number; signed_words: string;
  signature_sha256: string; signature_confirmed: boolean;
}
/** A terminal taken back from the merchant, as handed over: its condition, seal or bag number and photo. */
export interface HandoverView {
  serial: string; condition: string; seal: string | null;
  /** The sha256 of the visit's photo of it, when one was chosen. */
  photo: string | null;
  /** The server confirmed it has that photo. */
  photo_confirmed: boolean;
  /** The photo is still one of the visit's current photos. */
  photo_current: boolean;
}
export interface Needs {
  replacement: boolean; sim: boolean; sim_action: boolean; backup: boolean; faults: boolean; repair: boolean;
  reactivation: boolean; signature: boolean; details: boolean; replacement_details: boolean; parameters: boolean;
  network_test: boolean; restore: boolean; deregistration: boolean; follow_up: boolean;
  /** The hand-over of the terminal taken back. */
  handover: boolean;
}
export interface VisitView {
  id: string; kind: string; status: string; editable: boolean; read_only_newer: boolean; merchant_name: string;
  merchant_number: string | null; terminal_number: string | null; phone: string | null; address: string | null;
  terminal: IdentificationView | null; replacement: IdentificationView | null;
  steps: StepView[]; missing: MissingView[]; faults: FaultView[]; documents: DocumentView[];
  /** Document kinds asked for, both kinds of an "either" requirement included. */
  wanted_documents: string[];
  /** One entry per photo requirement: a kind alone, or the kinds either of which will do. */
  wanted_photos: string[][];
  sim: { iccid: string; carrier: string; expiry: string; action: string | null; new_iccid: string | null } | null;
  backup: string[] | null; backup_waiver: BackupWaiverView | null;
  parameters: { terminal_number: string; parameters_downloaded: boolean; keys_downloaded: boolean } | null;
  network_test: { link: string; passed: boolean; note: string | null } | null;
  restore: { items: string[]; note: string | null } | null;
  unbind_reference: string | null; settled_balance_fen: number | null;
  follow_up: { on: string; note: string | null } | null;
  handovers: HandoverView[];
  /** The way to the merchant: each moment in Beijing time; the arrival's location or why there is none. */
  trip: {
    accepted: string | null; departed: string | null; arrived: string | null;
    location: string | null; accuracy_m: number | null; no_location: 'refused' | 'unavailable' | 'timeout' | null;
  } | null;
  /** Where the shop is as the desk gave it, `[lat_e6, lon_e6]` (WGS-84). */
  place: [number, number] | null;
  /** What the job's brief says of the identified terminal. */
  terminal_history: TerminalHistory | null;
  /** Today's date in Beijing, `YYYY-MM-DD`. */
  today: string;
  warranty: string | null; repair_plan: string | null; fee_fen: number | null;
  merchant_pays: boolean; suspension_cause: string | null; application: string | null;
  needs: Needs;
  summary_zh: string; consent_zh: string; acceptance: AcceptanceView | null; review_note: string | null; returned: boolean; unsynced: boolean;
}
/** The identified terminal's history, from the brief the server sent with the job, and the same-trip offer. */
export interface TerminalHistory {
  serial: string; model: string | null; state: string | null;
  sim_expiry: string | null; sim_days_left: number | null; warranty_end: string | null; warranty_days_left: number | null;
  visits: { day: string; kind: string; status: string }[]; repairs_last_year: number; alerts: string[]; made_at: number;
  renewal_offer: number | null; linked_renewal: string | null;
}
export interface Identified { serial: string; method: string; alternatives: string[] }
/** A label photo that did not say which code is the serial. */
export interface SerialCandidate { serial: string; format: string; maker: string | null; crop: string | null }
export interface SerialChoice {
  /** The stored photo's sha256, passed back with the choice. */
  photo: string;
  reason: 'not_expected' | 'several' | 'unknown_format' | 'incomplete';
  expected: string[];
  candidates: SerialCandidate[];
}
export interface IdentifyReply { identified: Identified | null; choice: SerialChoice | null; visit: VisitView }
export interface Progress { phase: 'blobs' | 'manifest' | 'documents' | 'done'; docs_done: number; docs_total: number; bytes_done: number; bytes_total: number }
export type SyncEvent =
  | { event: 'started'; resumed: boolean }
  | ({ event: 'progress' } & Progress)
  | { event: 'synced'; report: Record<string, unknown> }
  | { event: 'failed'; code: string; message: string; failures: number; retry_in_ms: number | null; minimum_app_version?: string };
export interface UiError { code: string; message: string; details: { missing?: string[] } | null }
export interface Point { x: number; y: number; t: number; p?: number }
/** The merchant's verification page of an acceptance: its address and a QR code of it (SVG). */
export interface Verification { url: string; qr_svg: string }
export interface Strokes { width: number; height: number; strokes: Point[][] }
export interface MerchantFields { merchant: string; merchant_number?: string; terminal_number?: string; phone?: string; address?: string }
export interface NewVisit extends MerchantFields { kind: string }

export const api = {
  appInfo: () => invoke<AppInfo>('app_info'),
  vocabulary: () => invoke<Vocabulary>('vocabulary'),
  enroll: (server: string, code: string, deviceName: string) => invoke<string>('enroll', { server, code, deviceName }),
  /** `followUpOn` (`YYYY-MM-DD`): only the visits whose follow-up is that day. */
  tripStep: (visitId: string, step: 'accept' | 'depart' | 'arrive', fix: { lat: number; lon: number; accuracy: number | null } | null = null, noFix: string | null = null) =>
    invoke<VisitView>('trip_step', { visitId, step, fix, noFix }),
  newsList: (limit: number) => invoke<NewsItem[]>('news_list', { limit }),
  markNewsSeen: (through: number) => invoke<void>('mark_news_seen', { through }),
  dayView: (day: string | null) => invoke<DayView>('day_view', { day }),
  searchVisits: (query: string, limit: number) => invoke<JobCard[]>('search_visits', { query, limit }),
  setDayOrder: (day: string, ids: string[]) => invoke<void>('set_day_order', { day, ids }),
  listVisits: (status: string | null, unsyncedOnly: boolean, limit: number, followUpOn: string | null = null) =>
    invoke<VisitList>('list_visits', { status, unsyncedOnly, limit, followUpOn }),
  createVisit: (visit: NewVisit) => invoke<string>('create_visit', { visit }),
  correctMerchant: (visitId: string, merchant: MerchantFields) =>
    invoke<VisitView>('correct_merchant', { visitId, merchant }),
  visit: (visitId: string) => invoke<VisitView>('visit_view', { visitId }),
  // Photos go to Rust as the request's own bytes, never as base64 text.
  identifyPhoto: (visitId: string, bytes: Uint8Array, replacement: boolean) =>
    invoke<IdentifyReply>('identify_photo', bytes, { headers: { 'x-visit-id': visitId, 'x-replacement': replacement ? '1' : '0' } }),
  identifyPhotoChoice: (visitId: string, photo: string, serial: string, replacement: boolean) =>
    invoke<IdentifyReply>('identify_photo_choice', { visitId, photo, serial, replacement }),
  identifyTyped: (visitId: string, serial: string, replacement: boolean) =>
    invoke<IdentifyReply>('identify_typed', { visitId, serial, replacement }),
  identifyScanned: (visitId: string, serial: string, replacement: boolean) =>
    invoke<IdentifyReply>('identify_typed', { visitId, serial, replacement, scanned: true }),
  identifyNfc: (visitId: string, tag: unknown, replacement: boolean) =>
    invoke<IdentifyReply>('identify_nfc', { visitId, tag, replacement }),
  addFault: (visitId: string, code: string, symptom: string | null) => invoke<VisitView>('add_fault', { visitId, code, symptom }),
  addAttempt: (visitId: string, faultId: string, remedy: string | null, description: string | null, fixed: boolean) =>
    invoke<VisitView>('add_attempt', { visitId, faultId, remedy, description, fixed }),
  resolveFault: (visitId: string, faultId: string, fixed: boolean, note: string | null) =>
    invoke<VisitView>('resolve_fault', { visitId, faultId, fixed, note }),
  addPhoto: (visitId: string, kind: string, bytes: Uint8Array, turns = 0, crop: { x: number; y: number; width: number; height: number } | null = null, stamp = false) =>
    invoke<VisitView>('add_photo', bytes, {
      headers: {
        'x-visit-id': visitId, 'x-kind': kind, 'x-turns': String(turns),
        ...(crop ? { 'x-crop': `${crop.x},${crop.y},${crop.width},${crop.height}` } : {}),
        ...(stamp ? { 'x-stamp': '1' } : {}),
      },
    }),
  removePhoto: (visitId: string, sha256: string) => invoke<VisitView>('remove_photo', { visitId, sha256 }),
  annotatePhoto: (visitId: string, sha256: string, shape: string, from: [number, number], to: [number, number], text: string | null) =>
    invoke<VisitView>('annotate_photo', { visitId, sha256, shape, from, to, text }),
  rubOutMark: (visitId: string, markId: string) => invoke<VisitView>('rub_out_mark', { visitId, markId }),
  renewOnSameTrip: (visitId: string) => invoke<string>('renew_on_same_trip', { visitId }),
  blobDataUrl: (visitId: string, sha256: string) => invoke<string>('blob_data_url', { visitId, sha256 }),
  setStep: (visitId: string, step: string, state: StepState, reason: string | null = null, note: string | null = null) =>
    invoke<VisitView>('set_step', { visitId, step, state, reason, note }),
  setSim: (visitId: string, iccid: string, carrier: string, expiry: string) => invoke<VisitView>('set_sim', { visitId, iccid, carrier, expiry }),
  setSimAction: (visitId: string, action: string, newIccid: string | null, newExpiry: string | null) =>
    invoke<VisitView>('set_sim_action', { visitId, action, newIccid, newExpiry }),
  confirmBackup: (visitId: string, items: string[], note: string | null) => invoke<VisitView>('confirm_backup', { visitId, items, note }),
  waiveBackup: (visitId: string, signerName: string, reason: string | null, strokes: Strokes) =>
    invoke<VisitView>('waive_backup', { visitId, signerName, reason, strokes }),
  setTerminalDetails: (visitId: string, model: string, manufacturer: string | null, productionDate: string, replacement: boolean) =>
    invoke<VisitView>('set_terminal_details', { visitId, model, manufacturer, productionDate, replacement }),
  recordParameters: (visitId: string, terminalNumber: string, parametersDownloaded: boolean, keysDownloaded: boolean) =>
    invoke<VisitView>('record_parameters', { visitId, terminalNumber, parametersDownloaded, keysDownloaded }),
  recordNetworkTest: (visitId: string, link: string, passed: boolean, note: string | null) =>
    invoke<VisitView>('record_network_test', { visitId, link, passed, note }),
  recordRestore: (visitId: string, items: string[], note: string | null) => invoke<VisitView>('record_restore', { visitId, items, note }),
  setUnbindReference: (visitId: string, reference: string) => invoke<VisitView>('set_unbind_reference', { visitId, reference }),
  setSettledBalance: (visitId: string, balanceFen: number) => invoke<VisitView>('set_settled_balance', { visitId, balanceFen }),
  setFollowUp: (visitId: string, on: string, note: string | null) => invoke<VisitView>('set_follow_up', { visitId, on, note }),
  /** `photo`: the sha256 of one of the visit's current photos, or null. */
  recordHandover: (visitId: string, serial: string, condition: string, seal: string | null, photo: string | null) =>
    invoke<VisitView>('record_handover', { visitId, serial, condition, seal, photo }),
  setWarranty: (visitId: string, status: string) => invoke<VisitView>('set_warranty', { visitId, status }),
  setRepairPlan: (visitId: string, plan: string) => invoke<VisitView>('set_repair_plan', { visitId, plan }),
  setRepairFee: (visitId: string, feeFen: number) => invoke<VisitView>('set_repair_fee', { visitId, feeFen }),
  setSuspensionCause: (visitId: string, cause: string) => invoke<VisitView>('set_suspension_cause', { visitId, cause }),
  submitApplication: (visitId: string) => invoke<VisitView>('submit_application', { visitId }),
  sign: (visitId: string, signerName: string, strokes: Strokes) => invoke<VisitView>('sign', { visitId, signerName, strokes }),
  verification: (visitId: string) => invoke<Verification | null>('verification', { visitId }),
  complete: (visitId: string) => invoke<VisitView>('complete', { visitId }),
  syncNow: () => invoke<void>('sync_now'),
  syncView: () => invoke<{ status: SyncView; data_usage: DataUsageView; waiting_for_photos: string[]; last_event: SyncEvent | null }>('sync_view'),
  setPhotosOnWifiOnly: (on: boolean) => invoke<SyncView>('set_photos_on_wifi_only', { on }),
  /** The WebView's `navigator.connection.type` (null where there is none); the network the syncs see. */
  reportConnection: (webType: string | null) => invoke<SyncView['connection']>('report_connection', { webType }),
};

export function onSync(handler: (event: SyncEvent) => void): Promise<UnlistenFn> {
  return listen<SyncEvent>('sync', (e) => handler(e.payload));
}

export function onVisitChanged(handler: (visitId: string | null) => void): Promise<UnlistenFn> {
  return listen<string | null>('visit-changed', (e) => handler(e.payload));
}

/** A chosen or captured file's bytes, as the photo commands take them. */
export async function fileBytes(file: Blob): Promise<Uint8Array> {
  return new Uint8Array(await file.arrayBuffer());
}
