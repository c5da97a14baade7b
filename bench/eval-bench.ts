/**
 * Time of a full Attack II evaluation (goal queries, random-caption baseline, utility Recall@K;
 * no clean model, so no drift) through `evaluate()` with the indexer's backend, exact and ANN,
 * repetitions interleaved. The gallery index must exist (built by bench/run.ts beforehand), so
 * this times evaluation, not indexing. Each repetition times a first evaluation (the model's
 * cached caption embeddings removed first: it encodes every test caption) and then the same
 * evaluation repeated (issue 23: captions from the on-disk cache, image vectors from the index,
 * package digests remembered: what `eval` run again, `POST /api/eval` and studies get).
 *
 *   node --import tsx bench/eval-bench.ts --workspace WS --model M --dataset N [--goal sheep>aeroplane] [--reps 2] [--repeated-only]
 *
 * Prints one JSON document. A benchmark: it never fails on a number.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveWorkspace } from '../core/workspace.js';
import type { EvalMode } from '../eval/backend.js';
import { evaluate } from '../eval/evaluate.js';
import { indexerEvalBackend } from '../eval/indexer-backend.js';
import { textEncoderKey } from '../indexer/text-cache.js';
import { log, spread } from './stats.js';

const { values } = parseArgs({
  options: {
    workspace: { type: 'string' },
    model: { type: 'string' },
    dataset: { type: 'string', default: 'scenes' },
    goal: { type: 'string', default: 'sheep>aeroplane' },
    reps: { type: 'string', default: '2' },
    modes: { type: 'string', default: 'exact,ann' },
    'repeated-only': { type: 'boolean', default: false },
  },
});
const ws = resolveWorkspace(values.workspace);
const times: Record<EvalMode, number[]> = { exact: [], ann: [] };
const repeated: Record<EvalMode, number[]> = { exact: [], ann: [] };
let repeatedPhases: Record<string, number> = {};

/** Removes the model's cached caption embeddings (workspace/cache/text-embeds): the next evaluation encodes them. */
async function dropTextCache(): Promise<number> {
  const key = await textEncoderKey(ws, values.model!);
  const dir = join(ws.cache, 'text-embeds');
  if (!key || !existsSync(dir)) return 0;
  const mine = readdirSync(dir).filter((f) => f.startsWith(`${key.slice(0, 24)}-`));
  for (const f of mine) rmSync(join(dir, f), { force: true });
  return mine.length;
}
let info: Record<string, unknown> = {};
/**
 * Seconds of the last run by progress phase (first to last report; the last phase runs to the
 * end), and the unreported work after a phase ('after encoding…': the goal ranks).
 */
let phases: Record<string, number> = {};
for (let rep = 0; rep < Number(values.reps); rep++) {
  for (const mode of values.modes!.split(',') as EvalMode[]) {
    const once = async () => {
      const t = performance.now();
      const seen: Array<{ phase: string; first: number; last: number }> = [{ phase: 'open model and index', first: t, last: t }];
      const r = await evaluate(ws, { model: values.model!, dataset: values.dataset!, attack: 'II', goal: values.goal, mode, cleanModel: null, perQuery: false }, {
        backend: indexerEvalBackend(ws),
        onProgress: (p) => {
          const now = performance.now();
          if (seen.at(-1)!.phase === p.phase) seen.at(-1)!.last = now;
          else seen.push({ phase: p.phase, first: now, last: now });
        },
      });
      const end = performance.now();
      const ph: Record<string, number> = {};
      const secs = (a: number, b: number) => +((b - a) / 1000).toFixed(2);
      seen.forEach((x, i) => {
        const next = seen[i + 1];
        if (i === 0) ph[x.phase] = secs(t, next?.first ?? end);
        else {
          ph[x.phase] = secs(x.first, next ? x.last : end);
          if (next) ph[`after ${x.phase}`] = secs(x.last, next.first);
        }
      });
      info = { galleryImages: r.gallery.images, queries: r.goals[0]?.model.queries ?? null, utility: !!r.utility };
      return { seconds: (end - t) / 1000, phases: ph };
    };
    if (!values['repeated-only'] || (rep === 0 && times[mode].length === 0)) {
      const dropped = values['repeated-only'] ? 0 : await dropTextCache();
      const first = await once();
      if (!values['repeated-only']) {
        times[mode].push(first.seconds);
        phases = first.phases;
        log(`eval ${mode} rep ${rep + 1}: ${first.seconds.toFixed(2)} s (first: ${dropped} cached caption files removed)`);
      }
    }
    const again = await once();
    repeated[mode].push(again.seconds);
    repeatedPhases = again.phases;
    log(`eval ${mode} rep ${rep + 1} repeated: ${again.seconds.toFixed(2)} s`);
  }
}
console.log(JSON.stringify({ bench: 'eval', model: values.model, dataset: values.dataset, attack: 'II', goal: values.goal, ...info,
  exactSeconds: times.exact.length ? spread(times.exact) : null, annSeconds: times.ann.length ? spread(times.ann) : null, lastRunPhaseSeconds: phases,
  repeatedExactSeconds: repeated.exact.length ? spread(repeated.exact) : null, repeatedAnnSeconds: repeated.ann.length ? spread(repeated.ann) : null, repeatedPhaseSeconds: repeatedPhases }, null, 2));
