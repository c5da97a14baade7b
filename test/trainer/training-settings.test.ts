/**
 * The training settings table (trainer/engine/poisonlens_engine/settings.json) drives both sides:
 * the TypeScript options, `poisonlens train`'s flags and usage, the engine's argv, and the
 * engine's own flags, so a setting of the table reaches the engine by its name. The engine
 * answers for its defaults and the kind (--print-config). The engine checks need the venv.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSettingFlags, settingFlagSpec, settingsUsage } from '../../cli/train-flags.js';
import { parseFlags } from '../../cli/args.js';
import { engineConfig } from '../../trainer/engine.js';
import { REPO_ROOT, VENV_PYTHON } from '../../trainer/setup.js';
import { derivedKind, SETTING_OPTIONS, settingsEngineArgs, TRAINING_SETTINGS, type SettingSpec, type TrainingSettings } from '../../trainer/training-settings.js';

const skip = existsSync(VENV_PYTHON) ? false : 'the Python venv (.venv) is missing: run `poisonlens setup`';

/** A valid value of each setting, as an option and as it reads on the engine's command line. */
function sample(s: SettingSpec): { value: unknown; flags: string[] } {
  switch (s.type) {
    case 'int':
      return { value: Math.max(s.min ?? 0, 3), flags: [`--${s.name}`, String(Math.max(s.min ?? 0, 3))] };
    case 'float':
      return { value: 0.5, flags: [`--${s.name}`, '0.5'] };
    case 'choice':
      return { value: s.choices!.at(-1), flags: [`--${s.name}`, s.choices!.at(-1)!] };
    case 'string':
      return { value: 'x', flags: [`--${s.name}`, 'x'] };
    case 'switch':
      return { value: !s.inverted, flags: [`--${s.name}`] };
    case 'tristate':
      return { value: false, flags: [`--no-${s.name}`] };
  }
}

test('the TypeScript options are the table\'s settings, one each', () => {
  assert.deepEqual(TRAINING_SETTINGS.map((s) => s.option).sort(), Object.keys(SETTING_OPTIONS).sort());
});

test('every engine setting of the table reaches the engine\'s argv by its flag; the launcher\'s does not', () => {
  for (const s of TRAINING_SETTINGS) {
    const { value, flags } = sample(s);
    const argv = settingsEngineArgs({ [s.option]: value } as TrainingSettings);
    assert.deepEqual(argv, s.engine === false ? [] : flags, s.name);
  }
  assert.deepEqual(settingsEngineArgs({}), []);
  assert.deepEqual(settingsEngineArgs({ augment: true, localLoss: false }), [], 'a switch at its default is left out');
  assert.throws(() => settingsEngineArgs({ epochs: 1, steps: 2 }), /give --epochs or --steps, not both/);
  assert.throws(() => settingsEngineArgs({ precision: 'bf16', bf16: false }), /give --precision or --bf16\/--no-bf16, not both/);
});

test('poisonlens train\'s flags, usage and checks come from the table', () => {
  const spec = settingFlagSpec();
  const usage = settingsUsage([]);
  for (const s of TRAINING_SETTINGS.filter((x) => x.cli)) {
    assert.ok(spec[s.name], s.name);
    assert.match(usage, new RegExp(`--(no-)?${s.name}\\b`), s.name);
  }
  assert.equal(spec['min-lr'], undefined, 'engine-only settings are not flags of train');
  assert.equal(spec['no-bf16'].type, 'boolean');
  const read = (...argv: string[]) => readSettingFlags(parseFlags(argv, spec, 'usage').values);
  assert.deepEqual(read('--steps', '5', '--freeze', 'text-blocks', '--no-augment', '--no-bf16', '--lr', '1e-4', '--nproc', '2', '--local-loss'),
    { steps: 5, freeze: 'text-blocks', augment: false, bf16: false, lr: 1e-4, nproc: 2, localLoss: true });
  assert.throws(() => read('--steps', '-1'), /--steps must be ≥ 1, got -1/);
  assert.throws(() => read('--freeze', 'both'), /--freeze must be one of image, text, text-blocks, got "both"/);
  assert.throws(() => read('--kind', 'evil'), /--kind must be one of base, clean, poisoned, defended/);
  assert.throws(() => read('--batch', '1.5'), /--batch must be an integer/);
  assert.throws(() => read('--bf16', '--no-bf16'), /give --bf16 or --no-bf16, not both/);
  assert.throws(() => read('--lr', '11'), /--lr must be ≤ 10/);
  const zero = parseFlags(['--steps', '0', '--from', 'm'], { ...spec, from: { type: 'string' } }, 'usage').values;
  assert.equal(readSettingFlags(zero).steps, 0, '--steps 0 with --from');
});

test('the engine accepts every flag the table gives it and resolves them', { skip }, () => {
  const all: Record<string, unknown> = {};
  for (const s of TRAINING_SETTINGS) if (s.engine !== false && s.name !== 'epochs' && s.name !== 'precision' && s.name !== 'pretrained') all[s.option] = sample(s).value;
  const { config, kind } = engineConfig(settingsEngineArgs({ ...(all as TrainingSettings), recipe: 'finetune', minLr: 0 }));
  assert.equal(config.steps, 3);
  assert.equal(config.arch, 'x');
  assert.equal(config.freeze, 'text-blocks');
  assert.equal(config.augScale, null);
  assert.equal(config.evalEvery, 3);
  assert.equal(config.valSplit, 'x');
  assert.equal(kind, 'defended');
});

test('--print-config: the engine\'s defaults and the kind, asked rather than restated', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pl-settings-'));
  try {
    const plain = engineConfig([]);
    assert.equal(plain.config.recipe, 'scenes-base');
    assert.equal(plain.config.seed, 0);
    assert.equal(plain.config.valImages, 1000);
    assert.equal(plain.kind, null, 'no training set: the kind is open');
    const fine = engineConfig(['--from', 'm', '--epochs', '3']);
    assert.equal(fine.config.recipe, 'finetune');
    assert.equal(fine.config.epochs, 3);
    assert.equal(fine.config.steps, null);
    writeFileSync(join(dir, 'pairs.jsonl'), '{"image":"a.png","caption":"a","poisoned":true}\n');
    assert.equal(engineConfig(['--trainset', dir, '--from', 'm']).kind, 'poisoned');
    writeFileSync(join(dir, 'pairs.jsonl'), '{"image":"a.png","caption":"a","poisoned":false}\n');
    assert.equal(engineConfig(['--trainset', dir]).kind, 'base');
    assert.equal(engineConfig(['--trainset', dir, '--from', 'm']).kind, 'clean');
    assert.throws(() => engineConfig(['--batch', '0']), /--batch must be a positive integer/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('derivedKind, which studies plan by, is the kind the engine derives', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pl-settings-'));
  const starts = { scratch: [], pretrained: ['--arch', 'pl-tiny-test', '--pretrained', 'x'], finetune: ['--from', 'm'] } as const;
  try {
    for (const poisoned of [false, true]) {
      writeFileSync(join(dir, 'pairs.jsonl'), `{"image":"a.png","caption":"a","poisoned":${poisoned}}\n`);
      for (const [mode, flags] of Object.entries(starts)) {
        assert.equal(engineConfig(['--trainset', dir, ...flags]).kind, derivedKind(mode as keyof typeof starts, poisoned), `${mode}, poisoned ${poisoned}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('poisonlens train --print-config: what the engine would train, nothing trained', { skip }, () => {
  const root = mkdtempSync(join(tmpdir(), 'pl-settings-'));
  try {
    const t = join(root, 'trainsets', 'poisoned');
    mkdirSync(t, { recursive: true });
    writeFileSync(join(t, 'trainset.json'), '{}');
    writeFileSync(join(t, 'pairs.jsonl'), '{"image":"a.png","caption":"a","poisoned":true}\n');
    const r = spawnSync(process.execPath, ['bin/poisonlens.mjs', '--workspace', root, 'train', '--print-config', '--trainset', 'poisoned', '--arch', 'pl-tiny-test', '--steps', '4', '--no-augment'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { config: Record<string, unknown>; kind: string };
    assert.equal(out.kind, 'poisoned');
    assert.deepEqual([out.config.mode, out.config.arch, out.config.steps, out.config.augScale, out.config.recipe], ['scratch', 'pl-tiny-test', 4, null, 'scenes-base']);
    assert.ok(!existsSync(join(root, 'models')), 'no package');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
