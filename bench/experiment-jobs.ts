/**
 * `node --import tsx bench/experiment-jobs.ts [--workspace DIR] [--rounds 2] [--goals 4]`: a study
 * of many small fine-tunes (all-goals-single's recipe: one Attack II goal per model, 1,000-image
 * pool, 10 poisoned images, one epoch) built one step at a time (`--jobs 1`, engines with 2
 * threads) against two at once (`--jobs 2`, 1 thread each), in alternating rounds of fresh goals
 * (every round builds new models: nothing is reused between conditions). Prints seconds per model
 * and the ratio, and writes bench/results/<date>-experiment-jobs.json. Needs the workspace's
 * scenes dataset and its default base; its models use pool seed 100, apart from the real study's.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveWorkspace } from '../core/workspace.js';
import { runExperiment } from '../trainer/experiment/experiment.js';
import { median } from './stats.js';

const ROOT = new URL('../', import.meta.url).pathname;
const { values } = parseArgs({ options: { workspace: { type: 'string' }, rounds: { type: 'string' }, goals: { type: 'string' } } });
const ws = resolveWorkspace(values.workspace);
const rounds = Number(values.rounds ?? 2);
const perRound = Number(values.goals ?? 4);
const spec = JSON.parse(readFileSync(join(ROOT, 'experiments', 'all-goals-single.json'), 'utf8'));
const classes = ['aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow'];
const goals = classes.flatMap((a) => classes.filter((b) => b !== a).map((b) => `${a}>${b}`));
const dir = mkdtempSync(join(tmpdir(), 'pl-jobs-bench-'));
let next = 0;

function studyFile(name: string, n: number): string {
  const variants = Array.from({ length: n }, () => goals[next++]).map((g, i) => ({ name: `g${i}`, kind: 'attack', label: g, attack: 'II', goal: g, poisonImages: 10 }));
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ ...spec, id: `bench-jobs-${name}`, finetune: { ...spec.finetune, subsetSeed: 100 }, variants, report: {} }));
  return file;
}

async function timed(file: string, jobs: number): Promise<number> {
  const t = performance.now();
  const r = await runExperiment(ws, file, { jobs, quiet: true });
  const built = r.steps.filter((s) => s.kind === 'model' && s.state === 'built').length;
  if (built !== perRound) throw new Error(`${file}: ${built} models built, expected ${perRound}`);
  return (performance.now() - t) / 1000 / built;
}

// Warm-up (not timed): the pool's training set and the base's evaluation caches.
await runExperiment(ws, studyFile('warm', 1), { quiet: true });
const perModel: Record<string, number[]> = { 'jobs 1': [], 'jobs 2': [] };
const load = [loadavg()[0]];
for (let k = 0; k < rounds; k++) {
  for (const jobs of k % 2 ? [2, 1] : [1, 2]) {
    const s = await timed(studyFile(`r${k}-j${jobs}`, perRound), jobs);
    perModel[`jobs ${jobs}`].push(s);
    console.log(`round ${k + 1}, --jobs ${jobs}: ${s.toFixed(1)} s per model`);
  }
  load.push(loadavg()[0]);
}
const ratio = median(perModel['jobs 1']) / median(perModel['jobs 2']);
console.log(`median s/model: jobs 1 ${median(perModel['jobs 1']).toFixed(1)}, jobs 2 ${median(perModel['jobs 2']).toFixed(1)}: ${ratio.toFixed(2)}x the models per hour`);
const out = join(ROOT, 'bench', 'results', `${new Date().toISOString().slice(0, 10)}-experiment-jobs.json`);
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), rounds, modelsPerRound: perRound, secondsPerModel: perModel, ratio, loadAverage1m: load }, null, 2) + '\n');
console.log(out);
