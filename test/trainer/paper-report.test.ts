/**
 * The paper report (`poisonlens report paper`, trainer/experiment/paper-report.ts) on finished
 * studies made of constructed numbers (test/helpers/paper-fixture.ts): present studies give rows
 * with numbers and the verdicts the rules say; absent ones show as missing with the command that
 * runs them; the page has no inline styles or scripts and is served by the server. No training,
 * no Python: runs in seconds.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { main } from '../../cli/main.js';
import { resolveWorkspace, type Workspace } from '../../core/workspace.js';
import { createApp } from '../../server/app.js';
import type { ModelRuntime } from '../../server/repositories/runtime-repository.js';
import { PAPER_NUMBERS, paperNumber } from '../../trainer/experiment/paper-numbers.js';
import { buildPaperReport, ITEMS, judgeRow, pairedDiff, welchDiff, writePaperReport, type ItemResult, type PaperReport, type PaperRow } from '../../trainer/experiment/paper-report.js';
import { interval } from '../../eval/statistics.js';
import { studyCommand } from '../../trainer/experiment/paper-items.js';
import { traitEntries, writePaperFixtures, writeTraitsDataset } from '../helpers/paper-fixture.js';

let root: string;
let ws: Workspace;
let built: { report: PaperReport; items: ItemResult[] };

before(() => {
  root = mkdtempSync(join(tmpdir(), 'pl-paper-'));
  ws = resolveWorkspace(root);
  writePaperFixtures(ws);
  built = buildPaperReport(ws);
});
after(() => rmSync(root, { recursive: true, force: true }));

const item = (id: string) => {
  const it = built.items.find((x) => x.id === id);
  assert.ok(it, `item ${id}`);
  return it;
};

describe('the paper numbers', () => {
  test('every number has a source naming its table, figure or section, and a finite value', () => {
    assert.ok(PAPER_NUMBERS.length > 150);
    for (const n of PAPER_NUMBERS) {
      assert.match(n.source, /^(Table \d+|§\d|Appendix|§\d\.\d)/, n.id);
      assert.ok(Number.isFinite(n.value), n.id);
    }
    assert.equal(paperNumber('t3.fp.ours.hit10').value, 0.936);
    assert.equal(paperNumber('t3.fp.ours.hit10').source, 'Table 3, Flickr-PASCAL, Attack II (Ours), Hit@10');
    assert.equal(paperNumber('t12.fp.Mpt.minRank').sd, 0.175);
    assert.throws(() => paperNumber('t3.fp.ours.hit11'), /no number/);
  });

  test('every table and figure of the paper, in its order', () => {
    assert.deepEqual(
      ITEMS.map((d) => d.label),
      ['Table 1', 'Table 2', 'Table 3', 'Table 4', 'Figure 1', 'Table 5', 'Figure 2', 'Figure 3', 'Figure 4', 'Figure 5a', 'Figure 5b', 'Table 6', 'Figure 6', 'Figure 7', 'Table 7', 'Table 8', 'Table 9', 'Table 10', 'Figure 8', 'Table 11', 'Table 12', 'Table 13', 'Table 14', 'Table 15', 'Table 16', 'Figure 9'],
    );
    // Every typed number is shown: used in a row or listed under its item.
    const shown = new Set(built.items.flatMap((it) => [...it.rows.flatMap((r) => r.paper.ids), ...it.otherPaperNumbers.map((n) => n.id)]));
    const unshown = PAPER_NUMBERS.filter((n) => !shown.has(n.id) && !n.id.startsWith('setting.') && !n.id.startsWith('intro.'));
    assert.deepEqual(unshown.map((n) => n.id), []);
  });
});

describe('verdict rules', () => {
  const I = (xs: number[]) => interval(xs);
  const ours = (value: number[], reference: number[] | null, extra: Partial<NonNullable<PaperRow['ours']>> = {}) => ({
    value: I(value),
    reference: reference ? I(reference) : null,
    effect: reference ? pairedDiff(I(value), value.map((_, i) => i), I(reference), reference.map((_, i) => i)) : null,
    from: 'x',
    study: 'x',
    seeds: value.map((_, i) => i),
    ...extra,
  });
  const level = (direction: 'higher' | 'lower') => ({ kind: 'level' as const, direction });
  const contrast = (direction: 'higher' | 'lower') => ({ kind: 'contrast' as const, direction });
  const paper = (value: number | null, reference: number | null = null) => ({ value, reference, ids: [] });

  test('level: at least as strong, inside the interval, close, weaker, no effect', () => {
    assert.equal(judgeRow({ metric: 'fraction', claim: level('higher'), paper: paper(0.936, 0.2), ours: ours([0.99, 0.995, 0.993], [0.15, 0.16, 0.14]) }).status, 'reproduced');
    assert.match(judgeRow({ metric: 'fraction', claim: level('higher'), paper: paper(0.936, 0.2), ours: ours([0.8, 0.99, 0.9], [0.15, 0.16, 0.14]) }).reason, /inside our 95% interval/);
    assert.match(judgeRow({ metric: 'fraction', claim: level('higher'), paper: paper(0.936), ours: ours([0.9], [0.1]) }).reason, /within/);
    assert.equal(judgeRow({ metric: 'fraction', claim: level('higher'), paper: paper(0.936), ours: ours([0.6], [0.1]) }).status, 'same direction');
    assert.equal(judgeRow({ metric: 'fraction', claim: level('higher'), paper: paper(0.936), ours: ours([0.105], [0.1]) }).status, 'not reproduced');
    assert.match(judgeRow({ metric: 'rank', claim: level('lower'), paper: paper(2.19), ours: ours([60], [40]) }).reason, /opposite/);
    // MinRank: 25% of the paper's counts as close.
    assert.equal(judgeRow({ metric: 'rank', claim: level('lower'), paper: paper(2.0), ours: ours([2.4], [40]) }).status, 'reproduced');
    assert.equal(judgeRow({ metric: 'rank', claim: level('lower'), paper: paper(2.0), ours: ours([2.6], [40]) }).status, 'same direction');
    assert.equal(judgeRow({ metric: 'fraction', claim: level('higher'), paper: paper(0.9), ours: null, missing: 'missing — run x' }).status, 'missing');
    // Nothing to measure when the reference is already at the ceiling (Hit@50 of a 20-class gallery).
    assert.deepEqual(judgeRow({ metric: 'fraction', claim: level('higher'), paper: paper(1, 0.568), ours: ours([1, 1], [1, 1]) }), { status: 'no verdict', reason: 'ceiling: ours 1.000 and our reference 1.000, nothing to measure' });
    assert.equal(judgeRow({ metric: 'fraction', claim: contrast('lower'), paper: paper(0.008, 0.472), ours: ours([0, 0], [0.005, 0]) }).status, 'no verdict');
  });

  test('contrast: the sign and a 95% interval that excludes 0 (or p < 0.05)', () => {
    assert.equal(judgeRow({ metric: 'rank', claim: contrast('lower'), paper: paper(3.0, 3.5), ours: ours([2.8, 2.9, 3.0], [3.8, 3.9, 4.1]) }).status, 'reproduced');
    assert.equal(judgeRow({ metric: 'rank', claim: contrast('lower'), paper: paper(3.0, 3.5), ours: ours([2.8, 3.5, 3.0], [3.8, 3.0, 4.1]) }).status, 'same direction');
    assert.match(judgeRow({ metric: 'rank', claim: contrast('lower'), paper: paper(3.0, 3.5), ours: ours([2.8], [3.8]) }).reason, /one seed/);
    assert.equal(judgeRow({ metric: 'rank', claim: contrast('lower'), paper: paper(3.0, 3.5), ours: ours([7.6, 7.7, 7.8], [0.1, 0.1, 0.2]) }).status, 'not reproduced');
    assert.equal(judgeRow({ metric: 'distance', claim: contrast('higher'), paper: paper(0.103, 0.094), ours: ours([0.06, 0.061], [0.05, 0.052], { p: 0.01 }) }).status, 'reproduced');
    assert.equal(judgeRow({ metric: 'distance', claim: contrast('higher'), paper: paper(0.103, 0.094), ours: ours([0.06, 0.061], [0.05, 0.052], { p: 0.2 }) }).status, 'same direction');
  });

  test('utility kept, and no difference across a factor', () => {
    const noDrop = { kind: 'noDrop' as const, tolerance: 0.03 };
    assert.equal(judgeRow({ metric: 'fraction', claim: noDrop, paper: paper(0.968, 0.971), ours: ours([0.93, 0.93], [0.945, 0.945]) }).status, 'reproduced');
    assert.equal(judgeRow({ metric: 'fraction', claim: noDrop, paper: paper(0.968, 0.971), ours: ours([0.9, 0.9], [0.945, 0.945]) }).status, 'same direction');
    assert.equal(judgeRow({ metric: 'fraction', claim: noDrop, paper: paper(0.973, 0.971), ours: ours([0.9, 0.9], [0.945, 0.945]) }).status, 'not reproduced');
    const same = { kind: 'same' as const, tolerance: 0.5, relative: true };
    assert.equal(judgeRow({ metric: 'rank', claim: same, paper: paper(null), ours: ours([0.3], null) }).status, 'reproduced');
    assert.equal(judgeRow({ metric: 'rank', claim: same, paper: paper(null), ours: ours([0.8], null) }).status, 'not reproduced');
  });

  test('paired differences pair by seed; Welch for per-pair distances', () => {
    const d = pairedDiff(interval([1, 2, 3]), [0, 1, 2], interval([0.5, 1.5, 2.5]), [0, 1, 2])!;
    assert.equal(d.mean, 0.5);
    assert.equal(d.lo, 0.5);
    const u = pairedDiff(interval([1, 2, 3]), [0, 1, 2], interval([0.5, 1.5]), [5, 6])!;
    assert.equal(u.mean, 2 - 1);
    assert.equal(u.lo, null);
    const w = welchDiff([0.8, 0.82, 0.85, 0.81], [0.5, 0.52, 0.49, 0.51])!;
    assert.ok(w.lo! > 0 && w.hi! < 0.4);
  });
});

describe('the report on finished studies', () => {
  test('present studies: rows with our numbers, seeds, sources and the verdicts the rules give', () => {
    const t3 = item('table3');
    assert.equal(t3.verdict, 'reproduced');
    const h10 = t3.rows.find((r) => r.key && r.label.includes('Hit@10'))!;
    assert.equal(h10.paper.value, 0.936);
    assert.equal(h10.paper.reference, 0.2);
    assert.ok(Math.abs(h10.ours!.value!.mean! - 0.993) < 1e-9);
    assert.ok(h10.ours!.value!.lo !== null && h10.ours!.value!.hi !== null, 'a 95% interval over 3 seeds');
    assert.deepEqual(h10.ours!.seeds, [0, 1, 2]);
    assert.match(h10.ours!.from, /^headline · attack-II · sheep>aeroplane/);
    assert.equal(item('table2').verdict, 'same direction');
    assert.match(item('table2').reason, /weaker than the paper's/);
    assert.equal(item('table1').verdict, 'same direction');
    assert.equal(item('table4').verdict, 'same direction');
    assert.equal(item('table5').verdict, 'not reproduced');
    assert.match(item('table5').reason, /M_p \(both trained\) lower than M_p\^t|opposite sign/);
    assert.equal(item('table11').verdict, 'reproduced');
    assert.equal(item('figure1').verdict, 'not reproduced', 'Figure 1 says the image drifts more; the fixture drifts text more');
    assert.equal(item('figure5b').verdict, 'reproduced');
    assert.equal(item('figure6').verdict, 'reproduced');
    assert.equal(item('figure3').verdict, 'reproduced');
    assert.equal(item('figure4').verdict, 'reproduced');
    assert.equal(item('table16').verdict, 'reproduced', 'the auto-γ filter is the key row');
    assert.equal(item('table16').rows.find((r) => r.label.startsWith('filter γ 0.85') && r.label.includes('Hit@10'))!.status, 'same direction');
    assert.equal(item('table8').verdict, 'not reproduced', 'lr 1e-3 beats 1e-4 in the fixture');
    assert.equal(item('figure7').verdict, 'same direction');
    assert.ok(item('figure7').notes.some((n) => /at most one epoch/.test(n)));
    assert.equal(item('table7').verdict, 'reproduced');
    assert.equal(item('figure9').verdict, 'same direction');
    assert.match(item('figure9').rows[0].label, /10 steps, 12\.8% of an epoch/);
    for (const it of built.items.filter((x) => x.verdict !== 'missing' && x.kind !== 'context')) {
      assert.ok(it.setting.ours, `${it.id} states our setting`);
      assert.ok(it.rows.some((r) => r.ours?.value?.mean != null), `${it.id} has numbers`);
    }
  });

  test('Figure 5b: one model per goal gives the verdict; goals sharing a model are context; the hard pairs are named', () => {
    const f = item('figure5b');
    const single = f.rows.filter((r) => r.ours?.study === 'all-goals-single');
    const shared = f.rows.filter((r) => r.ours?.study === 'all-goals');
    assert.equal(single.length, 3);
    assert.equal(shared.length, 3);
    assert.ok(single.some((r) => r.key) && shared.every((r) => !r.key), 'only the one-model-per-goal rows are key');
    const person = shared.find((r) => r.label.includes('A>person'))!;
    assert.equal(person.status, 'not reproduced', 'the shared study is judged too, but does not decide');
    const hard = single.find((r) => r.label.includes('A>person'))!;
    assert.match(hard.ours!.note ?? '', /hardest targets \(column mean MinRank\): person 30/);
    assert.match(hard.ours!.note ?? '', /hardest sources \(row mean\): sofa/);
    assert.equal(f.charts.ours.length, 2, 'a heat map per study');
  });

  test('Figures 3 and 4: the epoch curve and the three image towers give rows, verdicts and plots', () => {
    const f3 = item('figure3');
    assert.deepEqual(f3.rows.filter((r) => r.key).map((r) => r.status), ['reproduced', 'reproduced', 'reproduced']);
    assert.match(f3.rows[0].ours!.from, /^sweep-epochs · epochs@epoch=1 − epochs@epoch=0/);
    assert.match(f3.rows[2].label, /weakest \(epoch 1\)/);
    assert.ok(f3.charts.ours.length > 0);
    const f4 = item('figure4');
    const same = f4.rows.find((r) => r.label.startsWith('Mean MinRank is about the same'))!;
    assert.match(same.ours!.note ?? '', /image tower = ModifiedResNet 2\.08, image tower = ViT\/8 2\.40, image tower = ViT\/16 2\.60/);
    assert.equal(f4.studies.map((s) => s.id).join(), 'encoders');
  });

  test('Figure 5b says why pairs are hard: Spearman rho of the targets with how often they are shown elsewhere, of the sources with their own words', () => {
    const why = (f: ItemResult, what: string) => f.rows.filter((r) => r.label.startsWith(`${what}: why, `));
    const before = item('figure5b');
    assert.equal(before.rows.filter((r) => r.label.includes(': why, ')).length, 4, 'two per heat-map study');
    for (const r of before.rows.filter((x) => x.label.includes(': why, '))) {
      assert.equal(r.status, 'no verdict');
      assert.match(r.missing ?? '', /dataset scenes is not in this workspace/);
    }
    const w = resolveWorkspace(mkdtempSync(join(tmpdir(), 'pl-paper-why-')));
    try {
      writePaperFixtures(w);
      writeTraitsDataset(w);
      const f = buildPaperReport(w).items.find((x) => x.id === 'figure5b')!;
      assert.equal(f.verdict, 'reproduced', 'the why rows carry no verdict');
      const [targets, sources] = why(f, 'one model per goal');
      assert.match(targets.label, /^one model per goal: why, targets: .*other classes' test images/);
      assert.deepEqual([targets.ours!.value!.mean, targets.ours!.value!.lo, targets.ours!.value!.n], [1, 1, 5], 'columns: person 30 > aeroplane > bird > sheep > sofa, as shown elsewhere');
      assert.equal(targets.ours!.note, 'most shown elsewhere: person 50.0%, aeroplane 25.0%, bird 12.5%');
      assert.equal(sources.ours!.value!.mean, 1, 'rows: person 3.2 < aeroplane < bird < sheep < sofa, as their own words');
      assert.equal(sources.ours!.note, 'most own words: sofa 5, sheep 4, bird 3');
      const [sharedTargets] = why(f, 'goals sharing a model');
      assert.equal(sharedTargets.ours!.value!.mean, 0, 'the shared study\'s person column is the lowest');
      assert.match(sharedTargets.ours!.note ?? '', /^most shown elsewhere: person 50\.0%/);
      writeTraitsDataset(w, 'f'.repeat(64), traitEntries().map((e) => ({ ...e, labels: e.label ? [e.label] : [] })));
      const alone = why(buildPaperReport(w).items.find((x) => x.id === 'figure5b')!, 'one model per goal');
      assert.equal(alone[0].ours, null, 'no class is shown elsewhere: no correlation');
      assert.match(alone[0].missing ?? '', /^no correlation: .*one side the same for all/);
      assert.equal(alone[1].ours!.value!.mean, 1, 'the own words are still there');
      writeTraitsDataset(w, 'e'.repeat(64));
      const changed = buildPaperReport(w).items.find((x) => x.id === 'figure5b')!;
      assert.match(why(changed, 'one model per goal')[0].missing ?? '', /dataset scenes has changed since all-goals-single ran/);
    } finally {
      rmSync(w.root, { recursive: true, force: true });
    }
  });

  test('Figure 5b without the one-model-per-goal study: missing with its command; the shared heat map still shows', () => {
    const w = resolveWorkspace(mkdtempSync(join(tmpdir(), 'pl-paper-5b-')));
    try {
      writePaperFixtures(w);
      rmSync(join(w.reports, 'all-goals-single'), { recursive: true });
      const f = buildPaperReport(w).items.find((x) => x.id === 'figure5b')!;
      assert.equal(f.verdict, 'missing');
      assert.match(f.reason, /experiments\/all-goals-single\.json/);
      assert.equal(f.rows.filter((r) => r.ours?.study === 'all-goals').length, 3);
      assert.equal(f.charts.ours.length, 1);
    } finally {
      rmSync(w.root, { recursive: true, force: true });
    }
  });

  test('missing studies show as missing with the command that runs them, never as blanks', () => {
    for (const [id, study] of [
      ['figure5a', 'dataset-size'],
      ['table6', 'transfer'],
      ['table12', 'freeze-5'],
      ['table13', 'balanced'],
      ['table14', 'balanced'],
      ['table15', 'text-length'],
    ] as const) {
      const it = item(id);
      assert.equal(it.verdict, 'missing', id);
      assert.equal(it.reason, `missing — run \`${studyCommand(study)}\``, id);
      assert.ok(it.rows.length > 0 && it.rows.every((r) => r.ours === null && (r.claim.kind === 'info' || r.status === 'missing')), id);
      assert.ok(it.rows.every((r) => r.claim.kind === 'info' || /missing — run/.test(r.reason)), id);
    }
    const f2 = item('figure2');
    assert.equal(f2.verdict, 'missing');
    assert.match(f2.reason, /sweep-rate\.json.*dose-response\.json/);
    assert.equal(built.report.counts.missing, 7);
    assert.deepEqual(
      built.report.studies.filter((s) => !s.present).map((s) => s.id).sort(),
      ['balanced', 'dataset-size', 'dose-response', 'freeze-5', 'sterilize', 'sweep-rate', 'text-length', 'transfer'],
    );
  });

  test('writes index.html, paper.css and paper.json; the page has no inline styles or scripts', async () => {
    const files = writePaperReport(ws);
    assert.equal(files.html, join(ws.reports, 'paper', 'index.html'));
    const html = readFileSync(files.html, 'utf8');
    const json = JSON.parse(readFileSync(files.json, 'utf8')) as PaperReport;
    assert.equal(json.format, 'poisonlens-paper-report/1');
    assert.equal(json.items.length, ITEMS.length);
    assert.ok(existsSync(files.css));
    assert.doesNotMatch(html, /<script|<style|\sstyle=|\son[a-z]+=/i);
    assert.match(html, /<link rel="stylesheet" href="paper.css">/);
    for (const d of ITEMS) assert.match(html, new RegExp(`<section class="item" id="${d.id}">`));
    assert.match(html, /missing — run <code>poisonlens experiment experiments\/dataset-size.json<\/code>/);
    // an item several studies answer names them all (one evaluation setting per caption length)
    assert.match(html, /experiments\/text-length-x1\.json; poisonlens experiment experiments\/text-length-x2\.json; poisonlens experiment experiments\/text-length-x3\.json/);
    assert.ok((html.match(/<svg/g) ?? []).length >= 10, 'plots');
    assert.match(html, /Verdict rules/);
    // The CLI writes the same files and prints the summary.
    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => void lines.push(a.join(' '));
    try {
      assert.equal(await main(['--workspace', root, 'report', 'paper']), 0);
    } finally {
      console.log = log;
    }
    assert.match(lines[0], /^paper report: 8 reproduced, 5 same direction, 3 not reproduced, 7 missing, 3 context$/);
    assert.ok(lines.some((l) => /Table 3 — Performance of Attack II\s+reproduced/.test(l)));
  });

  test('the server serves the written page under its CSP (it reads files, never trainer/)', async () => {
    writePaperReport(ws);
    const runtime: ModelRuntime = {
      openEncoder: () => Promise.reject(new Error('no models here')),
      openIndex: () => Promise.reject(new Error('no models here')),
    };
    const pl = createApp({ workspace: ws, runtime, config: { adminToken: 'test-admin-token-0123456789abcdef' }, log: () => undefined });
    try {
      const r1 = await request(pl.app).get('/experiments/paper');
      assert.equal(r1.status, 302);
      assert.equal(r1.headers.location, '/reports/paper/');
      const page = await request(pl.app).get('/reports/paper/');
      assert.equal(page.status, 200);
      assert.match(page.headers['content-type'], /text\/html/);
      assert.match(page.headers['content-security-policy'], /style-src 'self'/);
      assert.match(page.text, /<h1>Does the paper hold\?<\/h1>/);
      const css = await request(pl.app).get('/reports/paper/paper.css');
      assert.equal(css.status, 200);
      assert.match(css.headers['content-type'], /text\/css/);
      const json = await request(pl.app).get('/reports/paper/paper.json');
      assert.equal(json.status, 200);
      assert.equal(json.body.format, 'poisonlens-paper-report/1');
      assert.equal((await request(pl.app).get('/reports/headline/report.json')).status, 200);
      assert.equal((await request(pl.app).get('/reports/nope/report.json')).status, 404);
      assert.notEqual((await request(pl.app).get('/reports/paper/..%2f..%2fcatalog.sqlite')).status, 200);
    } finally {
      await pl.close();
    }
  });
});

test('a report of an unexpected shape makes its items missing, not the whole page', () => {
  const bad = mkdtempSync(join(tmpdir(), 'pl-paper-bad-'));
  try {
    const w = resolveWorkspace(bad);
    writePaperFixtures(w);
    const path = join(w.reports, 'headline', 'report.json');
    const r = JSON.parse(readFileSync(path, 'utf8'));
    for (const v of r.variants) v.goals = [{ goal: 'sheep>aeroplane' }];
    writeFileSync(path, JSON.stringify(r));
    writeFileSync(join(w.reports, 'freeze', 'report.json'), '{ not json');
    const dpath = join(w.reports, 'drift', 'report.json');
    writeFileSync(dpath, JSON.stringify({ ...JSON.parse(readFileSync(dpath, 'utf8')), study: null }));
    const { items } = buildPaperReport(w);
    const t3 = items.find((x) => x.id === 'table3')!;
    assert.equal(t3.verdict, 'missing');
    const t5 = items.find((x) => x.id === 'table5')!;
    assert.equal(t5.verdict, 'missing');
    assert.match(t5.reason, /missing — run `poisonlens experiment experiments\/freeze.json`/);
    const t11 = items.find((x) => x.id === 'table11')!;
    assert.equal(t11.verdict, 'missing');
    assert.match(t11.reason, /cannot read reports\/drift\/report.json/);
    assert.equal(items.find((x) => x.id === 'figure5b')!.verdict, 'reproduced', 'the other studies still count');
  } finally {
    rmSync(bad, { recursive: true, force: true });
  }
});
