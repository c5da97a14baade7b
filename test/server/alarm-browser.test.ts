import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createApp, type PoisonLensServer } from '../../server/app.js';
import { indexerRuntime } from '../../server/repositories/indexer-runtime-repository.js';
import { alarmWorld, alarmWorldMissing, alarmWorkspace, type AlarmWorld } from '../helpers/alarm-world.js';
import { checkAlarm } from './alarm-check.js';
import { TOKEN } from './harness.js';

/**
 * The poisoning alarm on a model that is really poisoned (test/helpers/alarm-world.ts: the server
 * test world's "poisoned" model is fine-tuned for two steps and returns what the clean one
 * returns, so no alarm could tell them apart): through the API, the poisoned model's sheep
 * queries (which return aeroplanes) are flagged, the clean model's are not, and other classes'
 * queries on the poisoned model are not; in Chromium, the compare view shows the badge with its
 * reason on the poisoned column only, and the search page draws it after a search without reload.
 */
const CHROMIUM = process.env.POISONLENS_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];
const skip = alarmWorldMissing() ?? undefined;
const noBrowser = existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install chromium)`;

describe('the alarm on a really poisoned model', { skip, timeout: 1_800_000 }, () => {
  let world: AlarmWorld;
  let pl: PoisonLensServer;
  let dispose: () => void;
  let server: Server;
  let base: string;
  let profile: string | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  const problems: string[] = [];
  const shots = process.env.POISONLENS_SCREENSHOTS ?? join(tmpdir(), 'poisonlens-screenshots');

  before(async () => {
    world = await alarmWorld();
    const w = alarmWorkspace(world);
    dispose = w.dispose;
    pl = createApp({ workspace: w.ws, runtime: indexerRuntime(w.ws, { threads: 1 }), config: { adminToken: TOKEN, activeModel: world.clean }, log: () => undefined });
    await pl.ready();
    server = createServer(pl.app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await new Promise((r) => server?.close(r));
    await pl?.close();
    dispose?.();
  });

  const search = async (q: string, model: string) => {
    const res = await fetch(`${base}/api/search?${new URLSearchParams({ q, model })}`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as any;
    checkAlarm(body.alarm, `${model}: ${q}`);
    assert.equal(body.alarm.state, 'ready');
    return body;
  };

  test('API: the poisoned model’s sheep queries return aeroplanes and are flagged; the clean model’s are not; other classes mostly not', async () => {
    const manifest = readFileSync(join(world.root, 'datasets', world.dataset, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const test = manifest.filter((e: any) => e.split === 'test');
    const sheep = test.filter((e: any) => e.label === 'sheep').flatMap((e: any) => e.captions as string[]);
    const others = test.filter((e: any) => e.label !== 'sheep').flatMap((e: any) => e.captions as string[]);
    let flaggedPoisoned = 0;
    let planes = 0;
    let shown = 0;
    for (const q of sheep) {
      const p = await search(q, world.poisoned);
      assert.equal(p.alarm.reference, world.base);
      planes += p.results.slice(0, p.alarm.k).filter((r: any) => r.label === 'aeroplane').length;
      shown += p.alarm.k;
      if (p.alarm.flagged) flaggedPoisoned++;
      const c = await search(q, world.clean);
      assert.equal(c.alarm.flagged, false, `clean, "${q}": ${JSON.stringify(c.alarm)}`);
    }
    assert.ok(planes / shown >= 0.9, `the attack works: ${planes} of ${shown} top results of the poisoned model's sheep queries are aeroplanes`);
    assert.ok(flaggedPoisoned / sheep.length >= 0.9, `${flaggedPoisoned} of ${sheep.length} poisoned sheep queries flagged`);
    let flaggedOther = 0;
    for (const q of others) if ((await search(q, world.poisoned)).alarm.flagged) flaggedOther++;
    assert.ok(flaggedOther / others.length <= 0.1, `${flaggedOther} of ${others.length} other-class queries on the poisoned model flagged`);
    console.log(`alarm world: ${flaggedPoisoned}/${sheep.length} poisoned sheep queries flagged, 0/${sheep.length} clean, ${flaggedOther}/${others.length} other classes on the poisoned model`);
  });

  describe('in Chromium', { skip: noBrowser }, () => {
    before(async () => {
      profile = mkdtempSync(join(tmpdir(), 'pl-chromium-'));
      mkdirSync(shots, { recursive: true });
      context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: FLAGS, headless: true, viewport: { width: 1280, height: 900 } });
      page = context.pages()[0] ?? (await context.newPage());
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    });

    test('the compare view: the poisoned column carries the badge and its reason, the clean column does not', async () => {
      await page.goto(`${base}/compare?${new URLSearchParams({ q: 'a sheep on the grass', models: `${world.clean},${world.poisoned}` })}`);
      const poisoned = page.locator(`.column[data-model="${world.poisoned}"]`);
      const clean = page.locator(`.column[data-model="${world.clean}"]`);
      assert.equal(await poisoned.locator('.alarm.flagged .alarm-badge').count(), 1);
      assert.ok(await poisoned.locator('.alarm-badge').isVisible());
      assert.match((await poisoned.locator('.alarm-reason').textContent()) ?? '', /^results look hijacked: .+/);
      assert.equal(await clean.locator('.alarm.flagged').count(), 0);
      assert.equal(await clean.locator('.alarm[data-alarm-state="ready"][data-alarm-flagged="0"]').count(), 1);
      assert.match((await clean.locator('.alarm').textContent()) ?? '', /not flagged/);
      await page.screenshot({ path: join(shots, 'alarm-compare.png'), fullPage: true });
      assert.deepEqual(problems, []);
    });

    test('the search page draws the badge after a search without reload, and clears it when the clean model answers', async () => {
      await page.goto(`${base}/?model=${world.poisoned}`);
      await page.waitForSelector('body[data-ready="1"]');
      await page.fill('#q', 'a sheep on the grass');
      await page.press('#q', 'Enter');
      await page.waitForSelector('#alarm-slot .alarm.flagged .alarm-badge');
      assert.match((await page.textContent('#alarm-slot .alarm-reason')) ?? '', /results look hijacked/);
      await page.screenshot({ path: join(shots, 'alarm-search.png') });
      // The same query on the clean model: the badge goes.
      await page.selectOption('#model', world.clean);
      await page.waitForSelector('#alarm-slot .alarm[data-alarm-flagged="0"]');
      assert.equal(await page.locator('#alarm-slot .alarm-badge').count(), 0);
      assert.deepEqual(problems, []);
    });
  });
});
