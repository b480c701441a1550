/**
 * The dashboard's static files (src/dashboard: plain HTML, an ES module and CSS; no build
 * step), read once and served with a strict Content-Security-Policy: scripts and styles from
 * this origin only, nothing inline, no framing, so an injected string can neither run nor
 * clickjack an action button. The files hold no data: every value comes from the API, which
 * keeps its own access rules.
 */
import { readFileSync } from 'node:fs';

const FILES: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
};

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const cache = new Map<string, Buffer>();

/** The asset for a request path, or undefined when the path is not one of the dashboard's. */
export function dashboardAsset(pathname: string): { body: Buffer; type: string } | undefined {
  const file = FILES[pathname];
  if (file === undefined) return undefined;
  let body = cache.get(file);
  if (body === undefined) {
    // Beside this module's folder in src/ and in dist/ alike (scripts/build.ts copies them).
    body = readFileSync(new URL(`../dashboard/${file}`, import.meta.url));
    cache.set(file, body);
  }
  return { body, type: TYPES[file.split('.').pop() as string] as string };
}
