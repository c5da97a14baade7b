/**
 * Time of a full Attack II evaluation (goal queries, random-caption baseline, utility Recall@K;
 * no clean model, so no drift) through `evaluate()` with the indexer's backend, exact and ANN,
 * repetitions interleaved. The gallery index must exist (built by bench/run.ts beforehand), so
 * this times evaluation, not indexing.
 *
 *   node --import tsx bench/eval.ts --workspace WS --model M --dataset N [--goal sheep>aeroplane] [--reps 2]
 *
 * Prints one JSON document. A benchmark: it never fails on a number.
 */
import { parseArgs } from 'node:util';
import { resolveWorkspace } from '../core/workspace.js';
import { evaluate, type EvalMode } from '../indexer/evaluate.js';
import { log, spread } from './stats.js';

const { values } = parseArgs({
  options: {
    workspace: { type: 'string' },
    model: { type: 'string' },
    dataset: { type: 'string', default: 'scenes' },
    goal: { type: 'string', default: 'sheep>aeroplane' },
    reps: { type: 'string', default: '2' },
    modes: { type: 'string', default: 'exact,ann' },
  },
});
const ws = resolveWorkspace(values.workspace);
const times: Record<EvalMode, number[]> = { exact: [], ann: [] };
let info: Record<string, unknown> = {};
/**
 * Seconds of the last run by progress phase (first to last report; the last phase runs to the
 * end), and the unreported work after a phase ('after encoding…': the goal ranks).
 */
let phases: Record<string, number> = {};
for (let rep = 0; rep < Number(values.reps); rep++) {
  for (const mode of values.modes!.split(',') as EvalMode[]) {
    const t = performance.now();
    const seen: Array<{ phase: string; first: number; last: number }> = [{ phase: 'open model and index', first: t, last: t }];
    const r = await evaluate(ws, { model: values.model!, dataset: values.dataset!, attack: 'II', goal: values.goal, mode, cleanModel: null, perQuery: false }, {
      onProgress: (p) => {
        const now = performance.now();
        if (seen.at(-1)!.phase === p.phase) seen.at(-1)!.last = now;
        else seen.push({ phase: p.phase, first: now, last: now });
      },
    });
    const end = performance.now();
    phases = {};
    const secs = (a: number, b: number) => +((b - a) / 1000).toFixed(2);
    seen.forEach((x, i) => {
      const next = seen[i + 1];
      if (i === 0) phases[x.phase] = secs(t, next?.first ?? end);
      else {
        phases[x.phase] = secs(x.first, next ? x.last : end);
        if (next) phases[`after ${x.phase}`] = secs(x.last, next.first);
      }
    });
    times[mode].push((performance.now() - t) / 1000);
    info = { galleryImages: r.gallery.images, queries: r.goals[0]?.model.queries ?? null, utility: !!r.utility };
    log(`eval ${mode} rep ${rep + 1}: ${times[mode].at(-1)!.toFixed(2)} s`);
  }
}
console.log(JSON.stringify({ bench: 'eval', model: values.model, dataset: values.dataset, attack: 'II', goal: values.goal, ...info,
  exactSeconds: times.exact.length ? spread(times.exact) : null, annSeconds: times.ann.length ? spread(times.ann) : null, lastRunPhaseSeconds: phases }, null, 2));
