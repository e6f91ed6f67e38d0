#!/usr/bin/env node
// Real-browser end-to-end test and accessibility scan of gancho's admin UI
// (/ui). Starts `gancho serve` on a fresh SQLite file and a free port, plus a
// tiny HTTP receiver for an outbound endpoint, then drives Debian's Chromium
// through the flow of the UI contract with playwright-core, takes a
// full-page screenshot of every page at 1280 and 360 px wide
// (target/ui-screenshots/) and runs axe-core on every page at 1280 px.
// Exits non-zero on any failure, any serious/critical axe violation, any
// page error or server error.
//
//   cd tests/ui && npm ci && node e2e.mjs
//
// Environment: GANCHO_BIN (default <repo>/target/debug/gancho),
// CHROMIUM (default /usr/bin/chromium), UI_SCREENSHOTS (default
// <repo>/target/ui-screenshots), HEADED=1 to watch, KEEP_TMP=1 to keep the
// temporary directory (database and server log) after a success.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
// GANCHO_BIN as given is relative to the current directory; the default, to the repo root.
const GANCHO_BIN = process.env.GANCHO_BIN ? path.resolve(process.env.GANCHO_BIN) : path.join(REPO, 'target/debug/gancho');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.UI_SCREENSHOTS ? path.resolve(process.env.UI_SCREENSHOTS) : path.join(REPO, 'target/ui-screenshots');
const AXE_PATH = require.resolve('axe-core/axe.min.js');
const ADMIN_TOKEN = 'e2e-admin-token-' + crypto.randomBytes(6).toString('hex');
const TIMEZONE = 'America/Sao_Paulo';

const FIXTURE_BODY = fs.readFileSync(path.join(HERE, 'fixtures/purchase_approved.json'), 'utf8');
const FIXTURE_META = JSON.parse(fs.readFileSync(path.join(HERE, 'fixtures/purchase_approved.meta.json'), 'utf8'));
const FIXTURE = JSON.parse(FIXTURE_BODY);
const HOTTOK = FIXTURE_META.secret;
const PRODUCT_EXTERNAL_ID = String(FIXTURE.data.product.id); // 3456789
const PRODUCT_NAME = FIXTURE.data.product.name; // Curso Completo de Excel
const OTHER_PRODUCT_NAME = 'Planilhas Avançadas';
const BUYER_EMAIL = FIXTURE.data.buyer.email;
const TRANSACTION = FIXTURE.data.purchase.transaction;

// The pages the brief requires a screenshot and an axe scan of.
const REQUIRED_PAGES = [
  'login', 'entrada', 'entrada-new', 'entrada-test', 'saida', 'saida-new', 'chaves',
  'logs', 'log-detail', 'produtos', 'produtos-new', 'categorias', 'alunos',
];

// ---------------------------------------------------------------- reporting

let stepNo = 0;
const warnings = [];
const axeFailures = []; // {page, id, impact, help, targets}
const pageProblems = []; // page errors, 5xx responses, CSP refusals
const visited = new Map(); // name -> url
const axeScans = []; // {page, passes, violations}

function log(msg) {
  console.log(msg);
}
function warn(msg) {
  warnings.push(msg);
  console.log(`    warning: ${msg}`);
}
class Failure extends Error {}
function fail(msg) {
  throw new Failure(msg);
}
function check(cond, msg) {
  if (!cond) fail(msg);
}
// A step later steps depend on stops the run when it fails; a `soft` one
// is recorded as failed (the run exits non-zero) and the flow goes on, so
// one broken page does not hide the state of the others.
const softFailures = [];
async function step(name, fn, { soft = false } = {}) {
  stepNo += 1;
  const t0 = Date.now();
  process.stdout.write(`[${String(stepNo).padStart(2)}] ${name} ... `);
  try {
    const r = await fn();
    console.log(`ok (${Date.now() - t0} ms)`);
    return r;
  } catch (e) {
    console.log('FAILED');
    e.message = `step ${stepNo} "${name}": ${e.message}`;
    if (!soft || !(e instanceof Failure)) throw e;
    console.log(`    ${e.message}`);
    softFailures.push(e.message);
    if (page && page.url() !== 'about:blank') {
      fs.mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SHOTS, `FAILURE-step${stepNo}.png`), fullPage: true }).catch(() => {});
    }
    return undefined;
  }
}

// ---------------------------------------------------------------- processes

const cleanups = [];
let tmpDir;
let serverLog;
let serverProc;

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startGancho() {
  if (!fs.existsSync(GANCHO_BIN)) {
    fail(`gancho binary not found at ${GANCHO_BIN} (build it with \`cargo build --bin gancho\` or set GANCHO_BIN)`);
  }
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gancho-ui-e2e-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GANCHO_')));
  Object.assign(env, {
    GANCHO_DATABASE_URL: `sqlite://${path.join(tmpDir, 'gancho.db')}`,
    GANCHO_LISTEN: `127.0.0.1:${port}`,
    GANCHO_PUBLIC_URL: base,
    GANCHO_ADMIN_TOKEN: ADMIN_TOKEN,
    GANCHO_ALLOW_PRIVATE_TARGETS: 'true', // the receiver listens on 127.0.0.1
    GANCHO_TIMEZONE: TIMEZONE,
    // Keys and endpoint secrets sealed at rest, as in production.
    GANCHO_ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex'),
    GANCHO_LOG: process.env.GANCHO_LOG || 'info',
  });
  serverLog = path.join(tmpDir, 'gancho.log');
  const out = fs.openSync(serverLog, 'a');
  // cwd: the temp dir, so no gancho.toml of the repo is read.
  serverProc = spawn(GANCHO_BIN, ['serve'], { cwd: tmpDir, env, stdio: ['ignore', out, out] });
  let exited = null;
  serverProc.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  cleanups.push(() => stopGancho());
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) fail(`gancho exited during start-up (${JSON.stringify(exited)}); log:\n${tail(serverLog)}`);
    try {
      const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) fail(`GET /healthz did not answer 200 within 60 s; log:\n${tail(serverLog)}`);
    await sleep(150);
  }
  return base;
}

async function stopGancho() {
  const p = serverProc;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}

function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// The outbound endpoint's target: records every POST.
async function startReceiver() {
  const received = [];
  const waiters = [];
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json = null;
      try {
        json = JSON.parse(body);
      } catch {
        /* not JSON */
      }
      if (req.method === 'POST') {
        received.push({ url: req.url, headers: req.headers, body, json, at: new Date() });
        for (const w of waiters.splice(0)) w();
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => srv.close(() => r())));
  const url = `http://127.0.0.1:${srv.address().port}/hook`;
  async function waitFor(pred, what, ms = 20_000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = received.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) {
        fail(`the receiver got no ${what} within ${ms / 1000} s; it got: ${JSON.stringify(received.map((r) => r.json?.type ?? r.body.slice(0, 80)))}`);
      }
      await new Promise((r) => {
        waiters.push(r);
        setTimeout(r, 250);
      });
    }
  }
  return { url, received, waitFor };
}

// ---------------------------------------------------------------- browser helpers

let page;
let context;
let injectingAxe = false;

function watchPage(p) {
  p.on('pageerror', (e) => pageProblems.push(`JS error on ${p.url()}: ${e.message}`));
  p.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (/favicon/i.test(text) || /favicon/i.test(m.location()?.url || '')) return;
    // The injected axe-core (addScriptTag) is refused by a strict CSP; an
    // inline <script> of the page itself is caught by visit()'s DOM check.
    if ((injectingAxe || /Executing inline script/i.test(text)) && /Content Security Policy/i.test(text)) return;
    if (/Content Security Policy|Refused to/i.test(text)) pageProblems.push(`CSP refusal on ${p.url()}: ${text}`);
    else if (!/Failed to load resource/i.test(text)) pageProblems.push(`console error on ${p.url()}: ${text}`);
  });
  p.on('response', (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/favicon.ico') return;
    if (r.status() >= 500) pageProblems.push(`HTTP ${r.status()} for ${r.request().method()} ${u.pathname}${u.search}`);
    else if (r.status() === 404 && u.pathname.startsWith('/ui/static/')) pageProblems.push(`HTTP 404 for ${u.pathname}`);
  });
}

function pathOf(url = page.url()) {
  const u = new URL(url);
  return u.pathname;
}

// Click something that submits a form or follows a link, and wait for the
// new document.
async function clickAndWait(locator, what, { allowError = false } = {}) {
  const n = await locator.count();
  check(n > 0, `${what}: nothing matches ${locator}`);
  const [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load', timeout: 15_000 }),
    locator.first().click(),
  ]);
  if (!allowError && response && response.status() >= 400) {
    const flashText = await page.locator('.flash.error').allInnerTexts().catch(() => []);
    fail(`${what}: ${response.request().method()} ${pathOf(response.url())} answered ${response.status()}`
      + (flashText.length ? ` (${flashText.join(' | ')})` : ''));
  }
}

// Through the tab, as a person would; straight to the URL when the page
// has no tabs (an error page left by a failed step).
async function openTab(href) {
  const link = page.locator(`nav.tabs a[href="${href}"]`);
  if (await link.count()) await clickAndWait(link, `tab ${href}`);
  else await goto(href);
  check(pathOf() === href, `tab ${href} → ${pathOf()}`);
}

async function goto(pathname) {
  const r = await page.goto(pathname, { waitUntil: 'load' });
  check(r && r.status() < 400, `GET ${pathname} answered ${r?.status()}`);
  return r;
}

async function expectVisible(selector, what) {
  const loc = page.locator(selector);
  const n = await loc.count();
  check(n > 0, `${what}: no \`${selector}\` on ${pathOf()}`);
  return loc;
}

// A contract element the flow does not depend on: a mismatch is recorded,
// fails the run at the end, and the flow goes on.
const mismatches = [];
async function contract(selector, what, scope = page) {
  const n = await scope.locator(selector).count();
  if (n === 0) {
    const m = `${what}: no \`${selector}\` on ${pathOf()}`;
    mismatches.push(m);
    console.log(`\n    contract mismatch: ${m}`);
  }
  return n > 0;
}

// The page does it another way than the contract says, on purpose and
// usably (e.g. a confirmation page instead of a <dialog>): reported, not failed.
const deviations = [];
async function contractOr(selector, alternative, what, scope = page) {
  if (await scope.locator(selector).count()) return true;
  if (await scope.locator(alternative).count()) {
    const m = `${what}: \`${alternative}\` instead of the contract's \`${selector}\` on ${pathOf()}`;
    if (!deviations.includes(m)) deviations.push(m);
    return true;
  }
  return contract(selector, what, scope);
}

async function flash(kind) {
  const sel = kind ? `.flash.${kind}` : '.flash';
  const loc = page.locator(sel);
  if ((await loc.count()) === 0) {
    const other = await page.locator('.flash').allInnerTexts();
    fail(`expected a \`${sel}\` on ${pathOf()}, found ${other.length ? `.flash: ${JSON.stringify(other)}` : 'no .flash at all'}`);
  }
  return (await loc.first().innerText()).trim();
}

async function noErrorFlash(what) {
  const errs = await page.locator('.flash.error').allInnerTexts();
  check(errs.length === 0, `${what}: the page shows an error: ${JSON.stringify(errs)}`);
}

// Screenshot at 1280 and 360, axe at 1280, contract-wide checks.
async function visit(name) {
  visited.set(name, page.url());
  await page.waitForLoadState('load');
  // Contract: no inline script, all JS in /ui/static/app.js.
  const inline = await page.evaluate(() => {
    const scripts = [...document.querySelectorAll('script:not([src])')].length;
    const handlers = [...document.querySelectorAll('*')].filter((el) =>
      [...el.attributes].some((a) => /^on/i.test(a.name))).map((el) => el.tagName.toLowerCase());
    const js = [...document.querySelectorAll('a[href^="javascript:"]')].length;
    return { scripts, handlers, js };
  });
  if (inline.scripts || inline.handlers.length || inline.js) {
    pageProblems.push(`inline script on ${name} (${pathOf()}): ${inline.scripts} <script> without src, `
      + `on* handlers on [${inline.handlers.join(', ')}], ${inline.js} javascript: links`);
  }
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}-1280.png`), fullPage: true });
  await page.setViewportSize({ width: 360, height: 780 });
  await page.waitForTimeout(100);
  const overflow = await page.evaluate(() => {
    const width = document.documentElement.scrollWidth;
    if (width <= window.innerWidth) return null;
    // The innermost elements sticking out, not counting those inside a
    // container that scrolls sideways on its own (a table wrapper, the tabs).
    const scrolls = (el) => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        if (/(auto|scroll|hidden)/.test(getComputedStyle(p).overflowX)) return true;
      }
      return false;
    };
    // Its box, or its content (a long word overflows a box that fits).
    const sticksOut = (el) => {
      const r = el.getBoundingClientRect();
      const clips = getComputedStyle(el).overflowX !== 'visible';
      const right = Math.max(r.right, r.left + (el.clientWidth && !clips ? el.scrollWidth : 0));
      return right > window.innerWidth + 1 && !scrolls(el);
    };
    const out = [...document.body.querySelectorAll('*')].filter((el) =>
      sticksOut(el) && ![...el.children].some(sticksOut));
    const describe = (el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${[...el.classList].map((c) => `.${c}`).join('')}`
      + ` (${JSON.stringify(el.textContent.trim().replace(/\s+/g, ' ').slice(0, 40))})`;
    return { width, culprits: out.slice(0, 4).map(describe) };
  });
  if (overflow) warn(`${name}: at 360 px the page is ${overflow.width} px wide (scrolls sideways): ${overflow.culprits.join('; ')}`);
  await page.screenshot({ path: path.join(SHOTS, `${name}-360.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.waitForTimeout(50);
  await runAxe(name);
}

async function runAxe(name) {
  injectingAxe = true;
  try {
    await page.addScriptTag({ path: AXE_PATH }).catch(() => {});
    if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) {
      // A strict CSP refuses the injected inline script: evaluate the source
      // through DevTools instead (not subject to the page's CSP).
      await page.evaluate(fs.readFileSync(AXE_PATH, 'utf8'));
    }
  } finally {
    injectingAxe = false;
  }
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  let minor = 0;
  for (const v of result.violations) {
    if (v.impact === 'serious' || v.impact === 'critical') {
      axeFailures.push({
        page: name,
        url: pathOf(),
        id: v.id,
        impact: v.impact,
        help: v.help,
        targets: v.nodes.map((n) => n.target.join(' ')),
      });
    } else {
      minor += 1;
    }
  }
  const bad = result.violations.length - minor;
  axeScans.push({ page: name, passes: result.passes.length, violations: result.violations.length });
  if (bad) console.log(`\n    axe: ${bad} serious/critical rule(s) on ${name}`);
  if (minor) warnings.push(`axe ${name}: ${minor} moderate/minor rule(s): ${result.violations.filter((v) => v.impact !== 'serious' && v.impact !== 'critical').map((v) => v.id).join(', ')}`);
}

// ---------------------------------------------------------------- API helpers (cross-checks)

let BASE;
async function api(pathname, init = {}) {
  const r = await fetch(`${BASE}/api/v1${pathname}`, {
    ...init,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...(init.headers || {}) },
  });
  const text = await r.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: r.status, body };
}

function todayIn(tz) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(new Date()).map((p) => [p.type, p.value]));
  return { iso: `${parts.year}-${parts.month}-${parts.day}`, br: `${parts.day}/${parts.month}/${parts.year}`, brShort: `${parts.day}/${parts.month}` };
}

// Standard Webhooks: v1,base64(HMAC-SHA256(secret, `${id}.${ts}.${body}`)).
function verifyStandardWebhook(secret, req) {
  const id = req.headers['webhook-id'];
  const ts = req.headers['webhook-timestamp'];
  const sigs = String(req.headers['webhook-signature'] || '').split(' ');
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = crypto.createHmac('sha256', key).update(`${id}.${ts}.${req.body}`).digest('base64');
  return sigs.some((s) => s === `v1,${expected}`);
}

// ---------------------------------------------------------------- the flow

async function main() {
  log(`gancho UI e2e: binary ${GANCHO_BIN}`);
  log(`chromium ${CHROMIUM}, playwright-core ${require('playwright-core/package.json').version}, axe-core ${require('axe-core/package.json').version}`);

  // This run's screenshots only (no stale FAILURE*.png from an earlier one).
  if (fs.existsSync(SHOTS)) {
    for (const f of fs.readdirSync(SHOTS)) if (f.endsWith('.png')) fs.rmSync(path.join(SHOTS, f));
  }

  BASE = await step('start gancho serve (fresh SQLite, free port) and wait for /healthz 200', startGancho);
  log(`    ${BASE} (temp dir ${tmpDir})`);
  const receiver = await step('start the outbound receiver', startReceiver);

  const browser = await step('launch Chromium (headless)', async () => {
    check(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install -y chromium)`);
    const b = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: !process.env.HEADED });
    cleanups.unshift(() => b.close().catch(() => {}));
    log(`\n    Chromium ${b.version()}`);
    return b;
  });
  context = await browser.newContext({ baseURL: BASE, viewport: { width: 1280, height: 900 }, locale: 'pt-BR', timezoneId: TIMEZONE });
  context.setDefaultTimeout(15_000);
  page = await context.newPage();
  watchPage(page);

  let sessionCookie;
  let failedLoginCookies = [];

  await step('redirects: / → /ui, /ui → login while logged out', async () => {
    const r1 = await fetch(`${BASE}/`, { redirect: 'manual' });
    check([301, 302, 303, 307, 308].includes(r1.status), `GET / answered ${r1.status}, expected a redirect`);
    check(/\/ui\/?$/.test(new URL(r1.headers.get('location'), BASE).pathname), `GET / redirects to ${r1.headers.get('location')}, expected /ui`);
    await goto('/ui');
    check(pathOf() === '/ui/login', `/ui while logged out landed on ${pathOf()}, expected /ui/login`);
  });

  await step('login page: form#login, labelled password input', async () => {
    await expectVisible('form#login', 'login');
    const input = await expectVisible('form#login input[name=token]', 'login');
    check((await input.getAttribute('type')) === 'password', 'input[name=token] is not type=password');
    const labelled = await input.evaluate((el) => el.labels && el.labels.length > 0);
    check(labelled, 'input[name=token] has no <label>');
    await expectVisible('form#login button[type=submit]', 'login');
    await visit('login');
  });

  await step('login with a wrong token: .flash.error and no cookie', async () => {
    await page.fill('form#login input[name=token]', 'not-the-token');
    await clickAndWait(page.locator('form#login button[type=submit]'), 'login', { allowError: true });
    const msg = await flash('error');
    check(msg.length > 0, '.flash.error is empty');
    await expectVisible('form#login', 'after a failed login');
    // A login-CSRF cookie may exist; no session cookie may (checked again
    // after the right login, when its name is known).
    failedLoginCookies = await context.cookies();
    const sessionLike = failedLoginCookies.filter((c) => /sess/i.test(c.name));
    check(sessionLike.length === 0, `a failed login set cookie(s): ${sessionLike.map((c) => c.name).join(', ')}`);
    await goto('/ui/entrada');
    check(pathOf() === '/ui/login', `after a failed login /ui/entrada shows ${pathOf()}`);
  });

  await step('login with the right token → /ui/entrada with nav.tabs', async () => {
    await page.fill('form#login input[name=token]', ADMIN_TOKEN);
    await clickAndWait(page.locator('form#login button[type=submit]'), 'login');
    check(pathOf() === '/ui/entrada', `after login the browser is on ${pathOf()}, expected /ui/entrada`);
    const cookies = await context.cookies();
    const fresh = cookies.filter((c) => !failedLoginCookies.some((f) => f.name === c.name && f.value === c.value)
      && !/lang|flash/i.test(c.name));
    check(fresh.length > 0, `no new cookie after a successful login (cookies: ${cookies.map((c) => c.name).join(', ')})`);
    sessionCookie = fresh.find((c) => /sess/i.test(c.name)) || fresh[0];
    check(!failedLoginCookies.some((f) => f.name === sessionCookie.name),
      `the failed login had already set the session cookie ${sessionCookie.name}`);
    if (!sessionCookie.httpOnly) warn(`session cookie ${sessionCookie.name} is not HttpOnly`);
    if (sessionCookie.sameSite === 'None') warn(`session cookie ${sessionCookie.name} has SameSite=None`);
    for (const c of cookies) {
      if (c.value.includes(ADMIN_TOKEN)) fail(`cookie ${c.name} holds the admin token in clear`);
    }
    for (const href of ['/ui/entrada', '/ui/saida', '/ui/chaves', '/ui/logs', '/ui/produtos', '/ui/categorias', '/ui/alunos']) {
      await expectVisible(`nav.tabs a[href="${href}"]`, 'nav.tabs');
    }
    await expectVisible('a.lang-en', 'language switch');
    await contract('a.lang-pt', 'language switch');
    await expectVisible('form.logout button[type=submit]', 'logout');
    await visit('entrada');
  });
  log(`    session cookie: ${sessionCookie.name}`);

  // ---- products
  await step('produtos: list and the new-product form', async () => {
    await openTab('/ui/produtos');
    check(pathOf() === '/ui/produtos', `tab produtos → ${pathOf()}`);
    await contract('table.list, .empty-state', 'produtos list (a table, or the empty state before any product)');
    await visit('produtos');
    await clickAndWait(page.locator('a.new'), 'produtos a.new');
    check(pathOf() === '/ui/produtos/new', `a.new → ${pathOf()}, expected /ui/produtos/new`);
    await expectVisible('form.entity input[name=name]', 'product form');
    await expectVisible('form.entity select[name=gateway]', 'product form');
    await expectVisible('form.entity input[name=external_id]', 'product form');
    await visit('produtos-new');
  });

  async function createProduct(name, externalId) {
    if (pathOf() !== '/ui/produtos/new') await goto('/ui/produtos/new');
    await page.fill('form.entity input[name=name]', name);
    await page.locator('form.entity select[name=gateway]').first().selectOption('hotmart');
    await page.locator('form.entity input[name=external_id]').first().fill(externalId);
    await clickAndWait(page.locator('form.entity button[type=submit]'), 'product submit');
    check(pathOf() === '/ui/produtos', `after creating a product the browser is on ${pathOf()}`);
    await flash('ok');
    const rows = await page.locator('table.list tbody tr').allInnerTexts();
    check(rows.some((r) => r.includes(name)), `product "${name}" not in table.list: ${JSON.stringify(rows)}`);
  }

  await step(`create product "${PRODUCT_NAME}" (hotmart ${PRODUCT_EXTERNAL_ID}) and a second one`, async () => {
    await createProduct(PRODUCT_NAME, PRODUCT_EXTERNAL_ID);
    await createProduct(OTHER_PRODUCT_NAME, '1111111');
    // Five more through the API, so pickers have enough options to show
    // their filter box.
    for (let i = 1; i <= 5; i++) {
      const r = await api('/products', { method: 'POST', body: JSON.stringify({ name: `Extra ${i}` }) });
      check(r.status === 201 || r.status === 200, `POST /api/v1/products answered ${r.status}: ${JSON.stringify(r.body)}`);
    }
    const r = await api('/products');
    const items = r.body.items || r.body;
    const p = items.find((x) => x.name === PRODUCT_NAME);
    check(p, `the API does not list product ${PRODUCT_NAME}`);
    const ext = p.external_ids || [];
    check(ext.some((e) => e.gateway === 'hotmart' && String(e.id) === PRODUCT_EXTERNAL_ID),
      `product saved with external_ids ${JSON.stringify(ext)}, expected hotmart ${PRODUCT_EXTERNAL_ID}`);
  });

  // ---- categories
  await step('categorias: list, create a category with the product', async () => {
    await openTab('/ui/categorias');
    await visit('categorias');
    if ((await page.locator('a.new').count()) === 0) {
      warn('categorias has no a.new; no category created');
      return;
    }
    await clickAndWait(page.locator('a.new'), 'categorias a.new');
    await expectVisible('form.entity input[name=name]', 'category form');
    await expectVisible('form.entity input[name=product_ids]', 'category form');
    await visit('categorias-new');
    await page.fill('form.entity input[name=name]', 'Planilhas');
    await page.getByLabel(PRODUCT_NAME, { exact: true }).check();
    await clickAndWait(page.locator('form.entity button[type=submit]'), 'category submit');
    check(pathOf() === '/ui/categorias', `after creating a category the browser is on ${pathOf()}`);
    await flash('ok');
    const rows = await page.locator('table.list tbody tr').allInnerTexts();
    check(rows.some((r) => r.includes('Planilhas')), `category not listed: ${JSON.stringify(rows)}`);
  }, { soft: true });

  // ---- keys
  await step('chaves: global URL, create the Hotmart key (hottok)', async () => {
    await openTab('/ui/chaves');
    const globalUrl = await expectVisible('code.url', 'chaves global URL');
    const urlText = (await globalUrl.first().innerText()).trim();
    check(urlText.startsWith(BASE), `global URL ${JSON.stringify(urlText)} does not start with ${BASE}`);
    const copy = await page.locator('button[data-copy]').first().getAttribute('data-copy');
    check(copy === urlText, `chaves copy button holds ${JSON.stringify(copy)}, code.url shows ${JSON.stringify(urlText)}`);
    await visit('chaves');
    await clickAndWait(page.locator('a.new'), 'chaves a.new');
    await expectVisible('select[name=gateway]', 'key form');
    await expectVisible('input[name=name]', 'key form');
    await expectVisible('input[name=secret]', 'key form');
    await visit('chaves-new');
    const gen = page.locator('button.generate');
    check((await gen.count()) > 0, 'no button.generate on the key form');
    await gen.first().click();
    const generated = await page.inputValue('input[name=secret]');
    check(generated.length >= 16, `button.generate filled ${JSON.stringify(generated)}, expected a random secret`);
    await page.locator('select[name=gateway]').selectOption('hotmart');
    await page.fill('input[name=name]', 'Conta Hotmart');
    await page.fill('input[name=secret]', HOTTOK);
    await clickAndWait(page.locator('form:has(input[name=secret]) button[type=submit]'), 'key submit');
    check(pathOf() === '/ui/chaves', `after creating a key the browser is on ${pathOf()}`);
    await flash('ok');
    const secret = await expectVisible('span.secret[data-secret]', 'masked key secret');
    const shown = await secret.first().innerText();
    check(!shown.includes(HOTTOK), 'the key secret is shown in clear before button.reveal');
    if (!(await contract('button.reveal', 'key row'))) return;
    await page.locator('button.reveal').first().click();
    await page.waitForTimeout(200);
    const revealed = await secret.first().innerText();
    if (!revealed.includes(HOTTOK)) warn(`button.reveal did not show the secret (span.secret reads ${JSON.stringify(revealed)})`);
  });

  // ---- inbound URL
  let inboundUrl;
  let inboundId;
  await step('entrada/new: create an inbound URL (hotmart) granting the product', async () => {
    await openTab('/ui/entrada');
    await clickAndWait(page.locator('a.new'), 'entrada a.new');
    check(pathOf() === '/ui/entrada/new', `a.new → ${pathOf()}, expected /ui/entrada/new`);
    for (const sel of ['input[name=name]', 'select[name=gateway]', 'input[type=checkbox][name=product_ids]']) {
      await expectVisible(`form.entity ${sel}`, 'inbound form');
    }
    for (const sel of ['input[name=slug]', 'input[name=access_days]', 'input.filter']) await contract(`form.entity ${sel}`, 'inbound form');
    await contract('form.entity input[name=category_ids]', 'inbound form (with a category created)');
    const gateways = await page.locator('form.entity select[name=gateway] option').evaluateAll((os) => os.map((o) => o.value));
    check(gateways.includes('hotmart') && gateways.includes('kiwify'), `select[name=gateway] values: ${gateways.join(', ')}`);
    await visit('entrada-new');
    await page.fill('form.entity input[name=name]', 'Vendas Hotmart');
    await page.locator('form.entity select[name=gateway]').selectOption('hotmart');
    // The filter box narrows the product checkboxes (app.js).
    // The products' filter box (the categories' list may have one too).
    const filter = page.locator('form.entity fieldset:has(input[name=product_ids]) input.filter');
    if (await filter.count()) {
      await filter.first().fill('Excel');
      await page.waitForTimeout(200);
      const other = page.getByLabel(OTHER_PRODUCT_NAME, { exact: true });
      if ((await other.count()) && (await other.isVisible())) warn(`input.filter "Excel" left "${OTHER_PRODUCT_NAME}" visible`);
    }
    await page.getByLabel(PRODUCT_NAME, { exact: true }).check();
    await clickAndWait(page.locator('form.entity button[type=submit]'), 'inbound submit');
    check(pathOf() === '/ui/entrada', `after creating an inbound URL the browser is on ${pathOf()}`);
    await flash('ok');
    const row = page.locator('table.list tbody tr[data-id]').filter({ hasText: 'Vendas Hotmart' });
    check((await row.count()) === 1, `expected one row "Vendas Hotmart" in table.list tbody tr[data-id], found ${await row.count()}`);
    inboundId = await row.getAttribute('data-id');
    inboundUrl = await row.locator('button[data-copy]').first().getAttribute('data-copy');
    const code = (await row.locator('code.url').first().innerText()).trim();
    check(inboundUrl && inboundUrl.startsWith(`${BASE}/in/`), `data-copy holds ${JSON.stringify(inboundUrl)}, expected ${BASE}/in/…`);
    check(code === inboundUrl, `code.url shows ${JSON.stringify(code)}, data-copy holds ${JSON.stringify(inboundUrl)}`);
    for (const sel of ['a.edit', 'form.toggle button']) await contract(sel, 'inbound row', row);
    await contractOr('form.delete button', 'a.delete', 'inbound row delete', row);
    check((await row.locator('a.test').count()) > 0, 'inbound row has no a.test');
  });
  log(`    inbound URL ${inboundUrl} (id ${inboundId})`);

  // ---- outbound endpoint
  let endpointSecret = null;
  await step('saida: create an endpoint pointing at the receiver, send a test', async () => {
    await openTab('/ui/saida');
    await visit('saida');
    await clickAndWait(page.locator('a.new'), 'saida a.new');
    for (const sel of ['input[name=name]', 'input[name=url]']) await expectVisible(sel, 'endpoint form');
    for (const sel of ['input[name=events]', 'input[name=header_name]', 'input[name=header_value]']) await contract(sel, 'endpoint form');
    await visit('saida-new');
    await page.fill('input[name=name]', 'Receptor e2e');
    await page.fill('input[name=url]', receiver.url);
    const events = await page.locator('input[name=events]').evaluateAll((els) => els.map((e) => e.value));
    for (const ev of ['access.granted', 'purchase.approved']) {
      if (events.includes(ev)) await page.locator(`input[name=events][value="${ev}"]`).check();
      else warn(`endpoint form has no event checkbox ${ev} (values: ${events.join(', ')})`);
    }
    const withHeader = (await page.locator('input[name=header_name]').count()) > 0;
    if (withHeader) {
      await page.locator('input[name=header_name]').first().fill('X-E2E');
      await page.locator('input[name=header_value]').first().fill('yes');
    }
    await clickAndWait(page.locator('form:has(input[name=url]) button[type=submit]'), 'endpoint submit');
    await noErrorFlash('endpoint creation');
    const text = await page.locator('body').innerText();
    endpointSecret = (text.match(/whsec_[A-Za-z0-9+/=]+/) || [])[0] || null;
    if (!/^\/ui\/saida\/[^/]+$/.test(pathOf())) {
      // The list: open the endpoint's detail.
      const link = page.locator('table.list tbody tr').filter({ hasText: 'Receptor e2e' }).locator('a[href^="/ui/saida/"]');
      await clickAndWait(link, 'endpoint detail link');
    }
    check(/^\/ui\/saida\/[^/]+$/.test(pathOf()), `endpoint detail is at ${pathOf()}, expected /ui/saida/{id}`);
    if (!endpointSecret) {
      const masked = await page.locator('span.secret[data-secret^="whsec_"]').first().getAttribute('data-secret').catch(() => null);
      if (masked) endpointSecret = masked;
    }
    if (!endpointSecret) warn('no whsec_ secret on the endpoint pages; signatures not verified');
    await expectVisible('form.send-test', 'endpoint detail');
    await contract('form.rotate', 'endpoint detail');
    await visit('saida-detail');
    await clickAndWait(page.locator('form.send-test button'), 'send test');
    await noErrorFlash('send test');
    const hit = await receiver.waitFor((r) => r.json?.type === 'webhook.test', 'webhook.test');
    if (withHeader) check(hit.headers['x-e2e'] === 'yes', `the endpoint's custom header X-E2E was not sent (headers: ${Object.keys(hit.headers).join(', ')})`);
    if (endpointSecret) check(verifyStandardWebhook(endpointSecret, hit), 'webhook.test signature does not verify with the secret shown');
  }, { soft: true });

  // ---- the real webhook
  await step('POST the Hotmart v2 fixture to the inbound URL (fetch)', async () => {
    const r = await fetch(inboundUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'X-Hotmart-Hottok': HOTTOK },
      body: FIXTURE_BODY,
    });
    const body = await r.text();
    check(r.status === 200, `inbound answered ${r.status}: ${body}`);
    check(/"processed"/.test(body), `inbound answered ${body}, expected status processed`);
    const s = await api(`/students?email=${encodeURIComponent(BUYER_EMAIL)}`);
    const st = (s.body.items || [])[0];
    check(st && (st.access || []).length > 0, `the buyer has no access after the webhook: ${JSON.stringify(s.body)}`);
  });

  await step('the receiver gets the access.granted delivery', async () => {
    const hit = await receiver.waitFor((r) => r.json?.type === 'access.granted', 'access.granted');
    if (endpointSecret) check(verifyStandardWebhook(endpointSecret, hit), 'access.granted signature does not verify');
  }, { soft: true });

  // ---- logs
  await step('logs: queue, KPIs, chart with today’s success, the table', async () => {
    await openTab('/ui/logs');
    await contract('section.queue', 'logs');
    await contract('section.kpis', 'logs');
    await expectVisible('svg.chart polyline.success', 'logs chart');
    await contract('svg.chart polyline.failure', 'logs chart');
    await contract('a.period', 'logs period links');
    await expectVisible('form.filters', 'logs filters');
    await contract('a.csv', 'logs CSV link');
    const rows = page.locator('table.list tbody tr[data-id]');
    check((await rows.count()) >= 1, 'no row in the logs table');
    const today = todayIn(TIMEZONE);
    const points = await page.locator('svg.chart').evaluate((svg) => {
      const out = [];
      for (const el of svg.querySelectorAll('*')) {
        const data = {};
        for (const a of el.attributes) if (a.name.startsWith('data-')) data[a.name] = a.value;
        const title = el.tagName.toLowerCase() === 'title' ? null : el.querySelector(':scope > title')?.textContent ?? null;
        if (Object.keys(data).length || title) out.push({ tag: el.tagName, data, title });
      }
      return out;
    });
    let success = null;
    let how = '';
    for (const p of points) {
      const d = p.data;
      const date = d['data-date'] || d['data-day'];
      if (date && date.startsWith(today.iso) && (d['data-success'] ?? d['data-ok']) !== undefined) {
        success = Math.max(success ?? 0, Number(d['data-success'] ?? d['data-ok']));
        how = `${p.tag} ${JSON.stringify(d)}`;
      }
    }
    if (success === null) {
      for (const p of points) {
        const t = p.title || '';
        if (!(t.includes(today.iso) || t.includes(today.br) || t.includes(today.brShort))) continue;
        const m = t.match(/(?:sucesso|success|sucessos|ok)\D{0,5}(\d+)/i) || t.match(/(\d+)\s*(?:sucesso|success|ok)/i);
        if (m) {
          success = Math.max(success ?? 0, Number(m[1]));
          how = `<title> ${JSON.stringify(t)}`;
        }
      }
    }
    check(success !== null, `no chart point for today (${today.iso}) with a success count; points: ${JSON.stringify(points.slice(-6))}`);
    check(success >= 1, `today's chart point has success ${success} (${how})`);
    log(`\n    chart: today's success = ${success} (${how})`);
    await visit('logs');
  }, { soft: true });

  let logsBefore;
  await step('logs filter direction=in, open the inbound entry’s detail', async () => {
    await page.locator('form.filters select[name=direction]').selectOption('in');
    await clickAndWait(page.locator('form.filters button[type=submit], form.filters input[type=submit]'), 'filter submit');
    const rows = page.locator('table.list tbody tr[data-id]');
    check((await rows.count()) === 1, `direction=in shows ${await rows.count()} rows, expected 1`);
    const href = await rows.first().locator('a.detail').getAttribute('href');
    check(/^\/ui\/logs\/[^/]+$/.test(href || ''), `a.detail href ${href}`);
    await clickAndWait(rows.first().locator('a.detail'), 'a.detail');
    const payload = (await (await expectVisible('pre.payload', 'log detail')).first().innerText());
    check(payload.includes(TRANSACTION), `pre.payload does not show the transaction ${TRANSACTION}`);
    check(!payload.includes(HOTTOK), 'pre.payload shows the hottok in clear (not redacted)');
    const body = await page.locator('body').innerText();
    check(!body.includes(HOTTOK), 'the log detail page shows the hottok in clear');
    await contract('form.reprocess button', 'inbound log detail');
    await visit('log-detail');
  }, { soft: true });

  await step('log detail: the “what if reprocessed now” dry run', async () => {
    check(/^\/ui\/logs\/[^/]+$/.test(pathOf()), 'not on a log detail page');
    logsBefore = (await api('/logs?limit=500')).body.items?.length;
    await clickAndWait(page.locator('a.dry-run'), 'a.dry-run');
    const result = (await (await expectVisible('section#dry-run-result', 'log dry run')).innerText());
    check(result.trim().length > 0, 'section#dry-run-result is empty');
    await visit('log-dry-run');
  }, { soft: true });

  await step('logs: an outbound delivery’s detail (attempts, resend)', async () => {
    await goto('/ui/logs?direction=out');
    const rows = page.locator('table.list tbody tr[data-id]');
    check((await rows.count()) >= 1, 'direction=out shows no row');
    await clickAndWait(rows.first().locator('a.detail'), 'a.detail (out)');
    await contract('section.attempts', 'outbound log detail');
    await contract('form.resend button', 'outbound log detail');
    await visit('log-detail-out');
  }, { soft: true });

  // ---- inbound URL test page
  await step('entrada test page: dry run of the fixture', async () => {
    await goto('/ui/entrada');
    const row = page.locator(`table.list tbody tr[data-id="${inboundId}"]`);
    await clickAndWait(row.locator('a.test'), 'a.test');
    check(pathOf() === `/ui/entrada/${inboundId}/testar`, `a.test → ${pathOf()}, expected /ui/entrada/${inboundId}/testar`);
    await expectVisible('textarea[name=payload]', 'test page');
    await expectVisible('button[type=submit]', 'test page');
    if ((await page.locator('textarea[name=headers]').count()) === 0) warn('test page has no textarea[name=headers]');
    const samples = await page.locator('select[name=sample] option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
    if (samples.length === 0) warn('test page: select[name=sample] has no samples');
    await visit('entrada-test');
    await page.fill('textarea[name=payload]', FIXTURE_BODY);
    if (await page.locator('textarea[name=headers]').count()) {
      await page.fill('textarea[name=headers]', `X-Hotmart-Hottok: ${HOTTOK}`);
    }
    await clickAndWait(page.locator('form:has(textarea[name=payload]) button[type=submit]'), 'dry-run submit');
    const section = await expectVisible('section#dry-run-result', 'test page result');
    // textContent: the normalized event's JSON sits in a closed <details>.
    const result = await section.textContent();
    const short = JSON.stringify((await section.innerText()).slice(0, 400));
    check(/hotmart/i.test(result), `dry-run result does not name the gateway: ${short}`);
    // The event by its canonical name or its label (pt-BR or English).
    check(/purchase\.approved|compra aprovada|purchase approved/i.test(result), `dry-run result does not show the event purchase.approved: ${short}`);
    check(result.includes(TRANSACTION) && result.includes(BUYER_EMAIL),
      `dry-run result does not show the transaction ${TRANSACTION} and the buyer ${BUYER_EMAIL}: ${short}`);
    if (await contract('section#dry-run-result .proof', 'dry-run result (proof)')) {
      check((await section.locator('.proof .badge.on').count()) > 0, `the proof did not pass with the hottok header: ${short}`);
    }
    const outcome = await section.getAttribute('data-outcome');
    log(`\n    dry run: outcome ${outcome} (the fixture was processed before, so a duplicate is right)`);
    await visit('entrada-test-result');
    // A sample of the URL's gateway, nothing pasted: the server fills the form with it.
    const sampleOptions = await page.locator('select[name=sample] option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
    if (sampleOptions.length) {
      await page.locator('select[name=sample]').selectOption(sampleOptions[0]);
      await page.fill('textarea[name=payload]', '');
      if (await page.locator('textarea[name=headers]').count()) await page.fill('textarea[name=headers]', '');
      await clickAndWait(page.locator('form:has(textarea[name=payload]) button[type=submit]'), 'dry-run of a sample');
      await expectVisible('section#dry-run-result', 'sample dry-run result');
      const filled = await page.inputValue('textarea[name=payload]');
      check(filled.trim().length > 0, 'a sample dry run left textarea[name=payload] empty');
      check(/hotmart/i.test(await page.locator('section#dry-run-result').textContent()), 'the sample dry run does not name the gateway');
    }
    const after = (await api('/logs?limit=500')).body.items?.length;
    if (logsBefore !== undefined) check(after === logsBefore, `the dry runs wrote log entries (${logsBefore} → ${after})`);
  }, { soft: true });

  // ---- students
  await step('alunos: search the buyer, open the detail', async () => {
    await openTab('/ui/alunos');
    await expectVisible('form.search input[name=email]', 'alunos');
    await visit('alunos');
    await page.fill('form.search input[name=email]', BUYER_EMAIL);
    await clickAndWait(page.locator('form.search button, form.search input[type=submit]'), 'search submit');
    const link = page.locator('a[href^="/ui/alunos/"]').filter({ hasText: BUYER_EMAIL });
    const n = await link.count();
    const any = n ? link : page.locator('table.list a[href^="/ui/alunos/"]');
    check((await any.count()) > 0, `no link to /ui/alunos/{id} for ${BUYER_EMAIL}`);
    await clickAndWait(any, 'student link');
    const text = await page.locator('body').innerText();
    check(text.includes(PRODUCT_NAME), `the student detail does not list ${PRODUCT_NAME}`);
    await contract('form.grant', 'student detail');
    await contract('form.revoke', 'student detail');
    await visit('aluno-detail');
  }, { soft: true });

  // ---- language
  await step('switch to English and back', async () => {
    await goto('/ui/logs');
    await clickAndWait(page.locator('a.lang-en'), 'a.lang-en');
    const nav = await page.locator('nav.tabs').innerText();
    for (const word of ['Inbound', 'Outbound', 'Logs']) check(nav.includes(word), `in English nav.tabs lacks "${word}": ${JSON.stringify(nav)}`);
    const lang = await page.getAttribute('html', 'lang');
    check(/^en/i.test(lang || ''), `<html lang> is ${JSON.stringify(lang)} in English`);
    await goto('/ui/entrada');
    check((await page.locator('nav.tabs').innerText()).includes('Inbound'), 'English is not kept on the next page');
    await visit('entrada-en');
    await clickAndWait(page.locator('a.lang-pt'), 'a.lang-pt');
    const navPt = await page.locator('nav.tabs').innerText();
    check(navPt.includes('Entrada'), `back in pt-BR nav.tabs lacks "Entrada": ${JSON.stringify(navPt)}`);
    check(/^pt/i.test((await page.getAttribute('html', 'lang')) || ''), '<html lang> is not pt-BR after a.lang-pt');
  }, { soft: true });

  // ---- logout
  await step('log out; /ui/entrada then shows the login', async () => {
    await clickAndWait(page.locator('form.logout button[type=submit]'), 'logout');
    check(pathOf() === '/ui/login', `after logout the browser is on ${pathOf()}`);
    await goto('/ui/entrada');
    check(pathOf() === '/ui/login', `after logout /ui/entrada shows ${pathOf()}`);
    // The old session cookie must be dead on the server, not only deleted in the browser.
    const r = await fetch(`${BASE}/ui/entrada`, { redirect: 'manual', headers: { cookie: `${sessionCookie.name}=${sessionCookie.value}` } });
    check(r.status !== 200, `the session cookie still opens /ui/entrada after logout (HTTP ${r.status})`);
  });

  await step('every required page was visited, screenshotted and scanned', async () => {
    const missing = REQUIRED_PAGES.filter((p) => !visited.has(p));
    check(missing.length === 0, `pages not visited: ${missing.join(', ')}`);
    for (const p of visited.keys()) {
      for (const w of [1280, 360]) check(fs.existsSync(path.join(SHOTS, `${p}-${w}.png`)), `missing screenshot ${p}-${w}.png`);
    }
  });
}

// ---------------------------------------------------------------- run

// Once, whoever asks first (the end of the run or a signal); both wait for it.
let cleaning = null;
function cleanup() {
  cleaning ??= (async () => {
    for (const c of cleanups.splice(0)) {
      try {
        await c();
      } catch {
        /* best effort */
      }
    }
  })();
  return cleaning;
}

let exitCode = 0;
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    interrupted = true;
    console.error(`\n${sig}: stopping`);
    await cleanup();
    if (tmpDir && !process.env.KEEP_TMP) fs.rmSync(tmpDir, { recursive: true, force: true });
    process.exit(130);
  });
}
// Whatever happens, never leave the server running.
process.on('exit', () => {
  if (serverProc && serverProc.exitCode === null && serverProc.signalCode === null) serverProc.kill('SIGKILL');
});

try {
  await main();
} catch (e) {
  exitCode = 1;
  if (interrupted) await new Promise(() => {}); // the signal handler exits
  console.error(`\nFAIL: ${e instanceof Failure ? e.message : e.stack || e}`);
  if (page && page.url() !== 'about:blank') {
    try {
      fs.mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SHOTS, 'FAILURE.png'), fullPage: true });
      console.error(`  at ${page.url()} — screenshot ${path.join(SHOTS, 'FAILURE.png')}`);
    } catch {
      /* the page may be gone */
    }
  }
  if (serverLog) console.error(`  server log (last lines, full log ${serverLog}):\n${tail(serverLog, 25).replace(/^/gm, '    ')}`);
}

await cleanup();

if (pageProblems.length) {
  exitCode = 1;
  console.error(`\nFAIL: ${pageProblems.length} page problem(s):`);
  for (const p of [...new Set(pageProblems)]) console.error(`  - ${p}`);
}
if (softFailures.length) {
  exitCode = 1;
  console.error(`\nFAIL: ${softFailures.length} step(s) failed (the flow went on):`);
  for (const f of softFailures) console.error(`  - ${f}`);
}
if (deviations.length) {
  console.log(`\n${deviations.length} deviation(s) from the contract (accepted):`);
  for (const d of deviations) console.log(`  - ${d}`);
}
if (mismatches.length) {
  exitCode = 1;
  console.error(`\nFAIL: ${mismatches.length} contract mismatch(es) (/work/ui-contract.md):`);
  for (const m of mismatches) console.error(`  - ${m}`);
}
if (axeFailures.length) {
  exitCode = 1;
  console.error(`\nFAIL: ${axeFailures.length} serious/critical axe violation(s):`);
  for (const v of axeFailures) {
    console.error(`  - [${v.page} ${v.url}] ${v.impact} ${v.id}: ${v.help}`);
    for (const t of v.targets) console.error(`      ${t}`);
  }
}
if (warnings.length) {
  console.log(`\n${warnings.length} warning(s):`);
  for (const w of warnings) console.log(`  - ${w}`);
}
console.log(`\naxe-core: ${axeScans.length} page(s) scanned at 1280 px, ${axeScans.reduce((n, a) => n + a.passes, 0)} rule checks passed, `
  + `${axeFailures.length} serious/critical violation(s)`);
console.log(`screenshots: ${SHOTS} (${visited.size} pages × 2 widths)`);
if (exitCode === 0) {
  console.log('PASS: gancho UI e2e');
  if (tmpDir && !process.env.KEEP_TMP) fs.rmSync(tmpDir, { recursive: true, force: true });
} else if (tmpDir) {
  console.error(`temp dir kept: ${tmpDir}`);
}
process.exit(exitCode);
