/**
 * Test support for the hosted pages: builds them (as `npm run build` does) when the build is missing or
 * older than their source, launches Debian's Chromium through playwright-core, and checks a page the way
 * SPEC §12 asks (axe-core, no horizontal scroll at 375 px, nothing from another host, no CSP refusal).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { UI_DIST } from '../../src/http/routes/ui.ts';

/** Debian's chromium; LATCHKEY_TEST_CHROMIUM names another build of it (README: chromium-headless-shell). */
export const CHROMIUM = process.env.LATCHKEY_TEST_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_MISSING = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (.ci/run installs Debian's chromium)`;

const repo = fileURLToPath(new URL('../../../../', import.meta.url));
const uiRoot = join(repo, 'packages/server/ui');
/**
 * Where {@link screenshot} writes: test-artifacts/ui/ (ignored by git), or docs/ui/ itself when
 * LATCHKEY_TEST_SCREENSHOTS=docs. The pages show the time and the sessions of the moment, so a plain
 * run that rewrote docs/ui/ would leave a changed checkout behind every time.
 */
export const SCREENSHOTS = join(repo, process.env.LATCHKEY_TEST_SCREENSHOTS === 'docs' ? 'docs/ui' : 'test-artifacts/ui');

function newestMtime(dir: string): number {
  return Math.max(0, ...readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => statSync(join(dir, f)).mtimeMs));
}

/** The pages as `npm run build` makes them; rebuilt only when a source file is newer than the build. */
export async function ensureUiBuilt(): Promise<void> {
  const index = join(UI_DIST, 'index.html');
  const sourceTime = Math.max(
    newestMtime(join(uiRoot, 'src')),
    statSync(join(uiRoot, 'index.html')).mtimeMs,
    newestMtime(join(repo, 'packages/client/src')),
  );
  if (existsSync(index) && statSync(index).mtimeMs >= sourceTime) return;
  const { build } = await import('vite');
  await build({ configFile: join(uiRoot, 'vite.config.ts'), logLevel: 'silent' });
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** What a page did that SPEC §12 forbids: requests to another origin, and CSP refusals the console reports. */
export interface PageWatch {
  readonly foreignRequests: string[];
  readonly cspViolations: string[];
}

export async function openPage(context: BrowserContext, origin: string): Promise<{ page: Page; watch: PageWatch }> {
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const watch: PageWatch = { foreignRequests: [], cspViolations: [] };
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(origin + '/') && !url.startsWith('data:') && !url.startsWith('blob:')) watch.foreignRequests.push(url);
  });
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to (load|execute|apply|frame)/i.test(message.text())) watch.cspViolations.push(message.text());
  });
  return { page, watch };
}

const axeSource = readFileSync(fileURLToPath(import.meta.resolve('axe-core/axe.min.js')), 'utf8');

interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly nodes: { target: unknown }[];
}

/**
 * axe-core over the page as it is now: no serious or critical violation. The script goes in through the
 * DevTools protocol (page.evaluate), which the page's CSP does not govern, so the CSP stays as strict in the test.
 */
export async function assertAccessible(page: Page, what: string): Promise<void> {
  // Once per document: a second check of the same page (another width) reuses what is loaded.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<{ violations: AxeViolation[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => JSON.stringify(n.target)),
    }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${what}: axe-core found serious or critical violations`);
}

/** At 375 px the page scrolls only down, never sideways. */
export async function assertNoHorizontalScroll(page: Page, what: string): Promise<void> {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
  assert.ok(scrollWidth <= clientWidth, `${what}: ${scrollWidth}px wide content in a ${clientWidth}px window`);
}

/** Screenshots for docs/ui.md, at desktop and phone widths, written by the test, never drawn by hand ({@link SCREENSHOTS}). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const original = page.viewportSize() ?? { width: 1280, height: 800 };
  for (const width of [1280, 375]) {
    await page.setViewportSize({ width, height: 800 });
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-${width}.png`), fullPage: true, animations: 'disabled', caret: 'hide' });
  }
  await page.setViewportSize(original);
}
