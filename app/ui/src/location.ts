// Where the phone is, for the arrival check-in. A phone asks Tauri's
// geolocation plugin; a desktop has no positioning and says so without
// asking anything: that is the implementation the desktop tests run.

/** A position fix in degrees (WGS-84) with its accuracy in metres. */
export interface Fix { lat: number; lon: number; accuracy: number | null }
/** Why there is no fix: the agent refused, the phone could not tell, or it took too long. */
export type NoFix = 'refused' | 'unavailable' | 'timeout';

/** How long the check-in waits for a fix before recording the arrival without one. */
export const FIX_TIMEOUT_MS = 15_000;

export async function locate(mobile: boolean): Promise<Fix | NoFix> {
  if (!mobile) return 'unavailable';
  try {
    const geo = await import('@tauri-apps/plugin-geolocation');
    let permission = await geo.checkPermissions();
    if (permission.location !== 'granted') permission = await geo.requestPermissions(['location']);
    if (permission.location !== 'granted') return 'refused';
    const position = await geo.getCurrentPosition({ enableHighAccuracy: true, timeout: FIX_TIMEOUT_MS, maximumAge: 60_000 });
    return { lat: position.coords.latitude, lon: position.coords.longitude, accuracy: position.coords.accuracy ?? null };
  } catch (error) {
    return /time/i.test(String(error)) ? 'timeout' : 'unavailable';
  }
}
