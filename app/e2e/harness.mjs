// Real processes for the end-to-end tests: posfield-server on 127.0.0.1,
// tauri-driver with WebKitWebDriver, and the posfield-app binary it starts.
// Nothing here is mocked: the app talks to the server over loopback.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { remote } from 'webdriverio';
import { grab } from './xwd.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../..');
const target = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache/posfield/target');
export const appBin = process.env.POSFIELD_APP_BIN || path.join(target, 'debug/posfield-app');
export const serverBin = process.env.POSFIELD_SERVER_BIN || path.join(target, 'debug/posfield-server');
export const seedBin = process.env.POSFIELD_SEED_BIN || path.join(target, 'debug/examples/seed-visits');
// The test photos are in the repository: testdata/ at its root.
export const testdata = path.resolve(repo, process.env.POSFIELD_TESTDATA || 'testdata');
export const out = process.env.POSFIELD_E2E_OUT || fs.mkdtempSync(path.join(os.tmpdir(), 'posfield-e2e-out-'));
fs.mkdirSync(out, { recursive: true });
// Screenshots refresh the README's (APP_SCREENSHOTS=docs/screenshots) only
// when asked; otherwise they go beside the logs, so that a test run leaves
// the work tree as it found it and the screenshot path is still exercised.
export const screenshots = process.env.APP_SCREENSHOTS
  ? path.resolve(repo, process.env.APP_SCREENSHOTS)
  : path.join(out, 'screenshots');

export function tempDir(name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `posfield-e2e-${name}-`));
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitForPort(port, ms = 20000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
}

function logTo(child, file) {
  const stream = fs.createWriteStream(path.join(out, file), { flags: 'a' });
  child.stdout?.pipe(stream);
  child.stderr?.pipe(stream);
}

/** A real posfield-server with its own data folder. */
export class Server {
  constructor(name) {
    this.name = name;
    this.data = tempDir(`${name}-server`);
    this.child = null;
  }

  cli(args, env = {}) {
    return execFileSync(serverBin, [...args, '--data', this.data], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim();
  }

  async start(port) {
    this.port = port ?? this.port ?? (await freePort());
    this.child = spawn(serverBin, ['serve', '--data', this.data, '--listen', `127.0.0.1:${this.port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    logTo(this.child, `server-${this.name}.log`);
    await waitForPort(this.port);
    return `http://127.0.0.1:${this.port}`;
  }

  async stop() {
    if (!this.child) return;
    const child = this.child;
    this.child = null;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }

  /** The back office's JSON API, as a reviewer. */
  async office(pathname) {
    const auth = Buffer.from(`${this.user}:${this.password}`).toString('base64');
    const response = await fetch(`http://127.0.0.1:${this.port}${pathname}`, { headers: { authorization: `Basic ${auth}` } });
    if (!response.ok) throw new Error(`${pathname}: HTTP ${response.status} ${await response.text()}`);
    return response.json();
  }

  /** POST on the back office's JSON API as `user` (the administrator of `addAdmin` by default). */
  async officePost(pathname, body, user = this.admin) {
    const auth = Buffer.from(`${user}:${this.password}`).toString('base64');
    const response = await fetch(`http://127.0.0.1:${this.port}${pathname}`, {
      method: 'POST',
      headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${pathname}: HTTP ${response.status} ${await response.text()}`);
    return response.json();
  }

  /** Imports rows of the terminal register through the desk's page, signed in as the administrator. */
  async importRegister(csv) {
    const base = `http://127.0.0.1:${this.port}`;
    const login = await fetch(`${base}/office/login`, {
      method: 'POST', redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ user: this.admin, password: this.password }),
    });
    if (login.status !== 303) throw new Error(`sign-in: HTTP ${login.status}`);
    const cookie = login.headers.get('set-cookie').split(';')[0];
    const page = await (await fetch(`${base}/office/terminals/import`, { headers: { cookie } })).text();
    const csrf = page.match(/name="csrf" value="([0-9a-f]+)"/)[1];
    const response = await fetch(`${base}/office/terminals/import`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, csv }),
    });
    const report = await response.text();
    const imported = report.match(/id="imported-count">(\d+)</);
    if (!response.ok || !imported) throw new Error(`import: HTTP ${response.status} ${report.slice(0, 400)}`);
    return Number(imported[1]);
  }

  addAdmin() {
    this.admin = 'boss-zhou';
    this.password = 'a long e2e password';
    this.cli(['add-user', this.admin, '--role', 'admin'], { POSFIELD_PASSWORD: this.password });
  }

  addReviewer() {
    this.user = 'reviewer-chen';
    this.password = 'a long e2e password';
    this.cli(['add-user', this.user, '--role', 'reviewer'], { POSFIELD_PASSWORD: this.password });
  }
}

/** Signals every process of `child`'s group (it was spawned detached). */
function killGroup(child, signal) {
  try { process.kill(-child.pid, signal); } catch { /* the group is gone */ }
}

/** tauri-driver (over WebKitWebDriver) and one app session on `agentData`. */
export async function launchApp(agentData, name) {
  const port = await freePort();
  const nativePort = await freePort();
  const driver = spawn('tauri-driver', ['--port', String(port), '--native-port', String(nativePort)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: WebKitWebDriver and the app are its children
    // and inherit its output pipes; unless the whole group goes, they keep
    // the pipes, and so this test process, alive after the tests are over.
    detached: true,
    // The app inherits the driver's environment: its data folder comes from here.
    env: {
      ...process.env,
      POSFIELD_AGENT_DATA: agentData,
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
      // Xvfb has no GPU: WebKitGTK's DMA-BUF renderer cannot start there.
      WEBKIT_DISABLE_DMABUF_RENDERER: '1',
      WEBKIT_DISABLE_COMPOSITING_MODE: '1',
    },
  });
  logTo(driver, `driver-${name}.log`);
  await waitForPort(port);
  const started = Date.now();
  let browser;
  try {
    browser = await remote({
      hostname: '127.0.0.1',
      port,
      logLevel: 'warn',
      connectionRetryTimeout: 120000,
      capabilities: {
        browserName: 'wry',
        'wdio:enforceWebDriverClassic': true,
        'tauri:options': { application: appBin },
      },
    });
  } catch (error) {
    killGroup(driver, 'SIGKILL');
    driver.stdout?.destroy();
    driver.stderr?.destroy();
    throw error;
  }
  const sessionMs = Date.now() - started;
  const close = async () => {
    try { await browser.deleteSession(); } catch { /* the app may be gone already */ }
    const exited = new Promise((resolve) => driver.once('exit', resolve));
    killGroup(driver, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    killGroup(driver, 'SIGKILL');
    driver.stdout?.destroy();
    driver.stderr?.destroy();
  };
  return { browser, close, sessionMs, started };
}

export async function shot(browser, name) {
  fs.mkdirSync(screenshots, { recursive: true });
  await browser.pause(300);
  const rect = await browser.getWindowRect();
  fs.writeFileSync(path.join(screenshots, `app-${name}.png`), grab(rect));
}
