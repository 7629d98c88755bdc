// A system notification for what a sync brought from the back office. A
// phone shows it through Tauri's notification plugin (after asking once);
// a desktop shows none: the bell's badge in the app is the notice there,
// and that is the implementation the desktop tests run.

/** Whether a notification was shown, and if not, why. */
export type Notified = 'shown' | 'not_on_desktop' | 'refused' | 'failed';

export async function notifyNews(mobile: boolean, title: string, body: string): Promise<Notified> {
  if (!mobile) return 'not_on_desktop';
  try {
    const plugin = await import('@tauri-apps/plugin-notification');
    let granted = await plugin.isPermissionGranted();
    if (!granted) granted = (await plugin.requestPermission()) === 'granted';
    if (!granted) return 'refused';
    plugin.sendNotification({ title, body });
    return 'shown';
  } catch {
    return 'failed';
  }
}
