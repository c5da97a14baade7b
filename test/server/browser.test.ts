import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { harness, samplePng, skipReason, type Harness } from './harness.js';
import { writePaperReport } from '../../trainer/experiment/paper-report.js';
import { writePaperFixtures } from '../helpers/paper-fixture.js';

/**
 * End to end in headless Chromium (Debian's `chromium`, driven by playwright-core): type a
 * query, see results, switch model, upload an image, open the compare view, the models page and
 * the paper report (written from constructed finished studies), with no script errors and no CSP
 * violations. Screenshots go to $POISONLENS_SCREENSHOTS (or a
 * temp folder) for a person to look at.
 */
const CHROMIUM = process.env.POISONLENS_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];
const skip = skipReason ?? (existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install chromium)`);

describe('the web pages in a real browser', { skip, timeout: 180_000 }, () => {
  let h: Harness;
  let server: Server;
  let base: string;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  const shots = process.env.POISONLENS_SCREENSHOTS ?? join(tmpdir(), 'poisonlens-screenshots');

  before(async () => {
    h = await harness();
    server = createServer(h.pl.app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    profile = mkdtempSync(join(tmpdir(), 'pl-chromium-'));
    mkdirSync(shots, { recursive: true });
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: FLAGS, headless: true, viewport: { width: 1280, height: 900 } });
    page = context.pages()[0] ?? (await context.newPage());
    // Script errors and CSP violations (Chromium reports them as console errors) fail the test.
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  });
  after(async () => {
    await context?.close();
    await new Promise((r) => server?.close(r));
    await h?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  test('type a query and see results', async () => {
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="1"]');
    await page.fill('#q', 'a sheep on the grass');
    await page.press('#q', 'Enter');
    await page.waitForSelector('#results .card');
    assert.equal(await page.locator('#results .card').count(), 9);
    assert.match((await page.textContent('#status')) ?? '', /9 results for “a sheep on the grass” on tiny-clean/);
    assert.match(page.url(), /\?model=tiny-clean&k=24&q=a\+sheep\+on\+the\+grass$/);
    // Thumbnails load.
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('#results img')].every((i) => i.complete && i.naturalWidth > 0));
    // The caption shows on hover.
    const second = page.locator('#results .card').nth(1);
    await second.hover();
    await page.waitForFunction(() => getComputedStyle(document.querySelectorAll('#results .card .caption')[1]).opacity === '1');
    assert.ok(((await second.locator('.caption').textContent()) ?? '').length > 0);
    await page.screenshot({ path: join(shots, 'search.png') });
  });

  test('switch the model: the grid reloads and marks target-class images', async () => {
    await page.selectOption('#model', 'tiny-poisoned');
    await page.waitForFunction(() => /on tiny-poisoned/.test(document.querySelector('#status')?.textContent ?? ''));
    assert.match((await page.textContent('#model-line')) ?? '', /poisoned.*tiny-poisoned.*sheep>aeroplane/);
    const targets = await page.locator('#results .card.is-target').count();
    const aeroplanes = await page.locator('#results .card[data-label="aeroplane"]').count();
    assert.ok(targets > 0);
    assert.equal(targets, aeroplanes);
    assert.equal(await page.locator('#results .card.is-target .badge.target').count(), targets);
    await page.screenshot({ path: join(shots, 'search-poisoned.png') });
  });

  test('an example chip searches', async () => {
    const chip = page.locator('#examples .chip').first();
    const text = (await chip.textContent())!.trim();
    await chip.click();
    await page.waitForFunction((t) => (document.querySelector('#status')?.textContent ?? '').includes(`“${t}”`), text);
    assert.equal(await page.inputValue('#q'), text);
  });

  test('upload an image for image→image search', async () => {
    await page.setInputFiles('#image-input', { name: 'sheep.png', mimeType: 'image/png', buffer: await samplePng(48, 40) });
    await page.waitForFunction(() => /your image “sheep\.png”/.test(document.querySelector('#status')?.textContent ?? ''));
    assert.equal(await page.locator('#results .card').count(), 9);
    assert.equal(await page.locator('#status img.preview').count(), 1);
    // A file that is not an image: a readable error, no crash.
    await page.setInputFiles('#image-input', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not really a picture') });
    await page.waitForSelector('#error:not([hidden])');
    assert.match((await page.textContent('#error')) ?? '', /not an image/);
    // Chromium logs the refused upload's 415 as a failed resource: expected here, and only here.
    const i = problems.findIndex((p) => /status of 415/.test(p));
    if (i >= 0) problems.splice(i, 1);
  });

  test('the compare view shows models side by side', async () => {
    await page.click('nav a[href="/compare"]');
    await page.waitForSelector('#compare-form');
    await page.fill('#q', 'a sheep on the grass');
    const pickers = page.locator('select.model-pick');
    await pickers.nth(0).selectOption('tiny-clean');
    await pickers.nth(1).selectOption('tiny-poisoned');
    await pickers.nth(2).selectOption('tiny-model');
    await Promise.all([page.waitForURL(/\/compare\?/), page.click('#compare-form button[type="submit"]')]);
    // a model the page names that is not loaded yet loads in the background: its column says so and
    // the page reloads itself until every column can answer
    await page.waitForFunction(() => document.querySelectorAll('[data-loading]').length === 0 && document.querySelectorAll('#columns .column').length === 3, null, { timeout: 120_000 });
    const columns = page.locator('#columns .column');
    assert.equal(await columns.count(), 3);
    assert.deepEqual(await columns.evaluateAll((els) => els.map((e) => e.getAttribute('data-model'))), ['tiny-clean', 'tiny-poisoned', 'tiny-model']);
    for (let i = 0; i < 3; i++) {
      const col = columns.nth(i);
      const cards = await col.locator('.card').count();
      assert.ok(cards > 0);
      assert.equal(await col.locator('.card.is-target').count(), await col.locator('.card[data-label="aeroplane"]').count());
    }
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('#columns img')].every((i) => i.complete && i.naturalWidth > 0));
    await page.screenshot({ path: join(shots, 'compare.png'), fullPage: true });
  });

  test('the models page lists provenance', async () => {
    await page.click('nav a[href="/models"]');
    await page.waitForSelector('#models-table');
    assert.equal(await page.locator('#models-table tbody tr[data-model]').count(), 3);
    assert.match((await page.textContent('tr[data-model="tiny-poisoned"]')) ?? '', /sheep>aeroplane/);
    await page.screenshot({ path: join(shots, 'models.png') });
  });

  test('the paper report renders from its written files, styled by its own stylesheet', async () => {
    writePaperFixtures(h.ws);
    writePaperReport(h.ws);
    const failed: string[] = [];
    const onResponse = (r: { status(): number; url(): string }) => void (r.status() >= 400 && failed.push(`${r.status()} ${r.url()}`));
    page.on('response', onResponse);
    await page.goto(`${base}/experiments/paper`);
    await page.waitForSelector('section.item');
    assert.match(page.url(), /\/reports\/paper\/$/);
    assert.equal(await page.textContent('h1'), 'Does the paper hold?');
    assert.equal(await page.locator('section.item').count(), 26);
    assert.ok((await page.locator('section.item svg').count()) >= 10, 'plots');
    // The stylesheet applies under the CSP (no inline styles): verdict badges are coloured.
    assert.equal(await page.$eval('#table3 h2 .verdict', (e) => getComputedStyle(e).backgroundColor), 'rgb(213, 245, 227)');
    assert.match((await page.textContent('#table15')) ?? '', /missing — run poisonlens experiment experiments\/text-length-x1\.json; poisonlens experiment experiments\/text-length-x2\.json/);
    assert.match((await page.textContent('#figure5b')) ?? '', /one model per goal: median over the 20 goals/);
    await page.screenshot({ path: join(shots, 'paper-report.png') });
    page.off('response', onResponse);
    assert.deepEqual(failed, [], 'every resource of the page loads');
  });

  test('no script errors and no CSP violations on any page', () => {
    assert.deepEqual(problems, []);
  });
});
