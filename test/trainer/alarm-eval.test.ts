import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { calibrateAlarm, evaluateAlarm, tprAtFpr } from '../../trainer/alarm/alarm-eval.js';
import { alarmWorld, alarmWorldMissing, alarmWorkspace, type AlarmWorld } from '../helpers/alarm-world.js';
import type { Workspace } from '../../core/workspace.js';

/**
 * `poisonlens alarm eval` / `alarm calibrate` on the alarm test world (a base, its clean
 * fine-tune and an Attack II sheep>aeroplane fine-tune that works): the report's groups, ROC,
 * AUROC and TPR at 5% FPR, the per-model table, and the files it writes.
 */
describe('alarm eval on the alarm test world', { skip: alarmWorldMissing() ?? undefined, timeout: 1_800_000 }, () => {
  let world: AlarmWorld;
  let ws: Workspace;
  let dispose: () => void;
  before(async () => {
    world = await alarmWorld();
    ({ ws, dispose } = alarmWorkspace(world));
  });
  after(() => dispose?.());

  test('calibrate: the server’s calibration, written once and then reused', async () => {
    const first = await calibrateAlarm(ws, { model: world.poisoned });
    assert.equal(first.reused, false);
    assert.equal(first.record.reference.id, world.base);
    assert.deepEqual(first.record.trusted.map((t) => t.id), [world.clean]);
    assert.equal(first.record.sample.used, 72, 'every caption of the 36 test images');
    assert.ok(existsSync(first.path) && first.path.startsWith(join(ws.root, 'alarm', world.base)));
    assert.deepEqual(Object.keys(first.record.thresholds).sort(), ['reference', 'reference+words', 'words']);
    const again = await calibrateAlarm(ws, { model: world.clean });
    assert.equal(again.reused, true, 'same reference, trusted model and gallery');
  });

  test('eval: positives are the poisoned model’s sheep captions; the alarm separates them', async () => {
    const { report, dir } = await evaluateAlarm(ws, { models: [world.base, world.clean, world.poisoned], name: 'tiny', quiet: true });
    assert.ok(existsSync(join(dir, 'alarm.json')) && existsSync(join(dir, 'alarm.html')) && existsSync(join(dir, 'roc-overall.svg')));
    assert.deepEqual(Object.keys(report.groups).sort(), ['II', 'overall']);
    const g = report.groups.II;
    assert.equal(g.positives, 24, '12 sheep test images × 2 captions');
    assert.equal(g.negatives, 24 + 48, "the same captions on the clean model + the other classes' captions on the poisoned one");
    assert.ok(g.auroc !== null && g.auroc >= 0.95, `AUROC ${g.auroc}`);
    assert.ok(g.tprAt5 !== null && g.tprAt5 >= 0.9, `TPR at 5% FPR ${g.tprAt5}`);
    assert.ok(g.calibrated.fpr !== null && g.calibrated.fpr <= 0.1, `calibrated FPR ${g.calibrated.fpr}`);
    assert.ok(g.roc.length >= 2 && g.roc[0].fpr === 0 && g.roc[g.roc.length - 1].tpr === 1);
    const byId = Object.fromEntries(report.models.map((m) => [m.id, m]));
    assert.equal(byId[world.base].role, 'skipped');
    assert.equal(byId[world.clean].role, 'clean');
    assert.equal(byId[world.poisoned].role, 'poisoned');
    assert.ok(byId[world.poisoned].attackHitRate! >= 0.9, `the attack works: ${byId[world.poisoned].attackHitRate}`);
    const html = readFileSync(join(dir, 'alarm.html'), 'utf8');
    assert.match(html, /<svg/);
    assert.match(html, /Attack II/);
    console.log(`tiny world: Attack II AUROC ${g.auroc}, TPR@5% ${g.tprAt5}, calibrated TPR/FPR ${g.calibrated.tpr}/${g.calibrated.fpr}; signals ${JSON.stringify(g.signals)}; ${report.seconds} s`);
  });

  test('tprAtFpr: the best TPR whose FPR stays within the bound', () => {
    const pts = [
      { gamma: 3, tpr: 0, fpr: 0 },
      { gamma: 2, tpr: 0.6, fpr: 0.02 },
      { gamma: 1, tpr: 0.9, fpr: 0.1 },
      { gamma: 0, tpr: 1, fpr: 1 },
    ];
    assert.deepEqual(tprAtFpr(pts, 0.05), { tpr: 0.6, threshold: 2 });
  });

  test('calibrate on several trusted models: every one answers the same sample, pooled', async () => {
    const pooled = await calibrateAlarm(ws, { model: world.clean, trusted: `${world.poisoned}, ${world.clean}` });
    assert.equal(pooled.reused, false, 'another trusted set: calibrated anew');
    assert.deepEqual(pooled.record.trusted.map((t) => t.id), [world.clean, world.poisoned].sort());
    assert.equal(pooled.record.sample.used, 72);
    assert.equal(pooled.record.queries, 144, '72 captions on each of the two');
    assert.equal(pooled.record.values.reference?.length, 144);
    const single = await calibrateAlarm(ws, { model: world.clean, force: true });
    // The clean model alone answers the same sample: its values are a part of the pooled ones.
    const left = [...pooled.record.values.reference!];
    for (const v of single.record.values.reference!) {
      const at = left.indexOf(v);
      assert.ok(at >= 0, `the clean model's value ${v} is in the pool`);
      left.splice(at, 1);
    }
    assert.equal(left.length, 72);
    await assert.rejects(calibrateAlarm(ws, { model: world.clean, trusted: `${world.base},${world.clean}` }), /cannot be one of several trusted models/);
    await assert.rejects(calibrateAlarm(ws, { model: world.clean, trusted: 'no-such-model' }), /not in the workspace/);
  });
});
