import type { Command } from './command.js';
import { numberFlag, parseFlags, requireFlag } from './args.js';
import { UserError } from '../core/errors.js';
import { resolveWorkspace } from '../core/workspace.js';
import { insertMetric, openCatalog } from '../core/catalog.js';
import { writeJsonAtomic } from '../core/fsutil.js';
import { formatSeconds } from '../core/progress.js';
import { EVAL_ATTACKS, evaluate, type EvalAttack, type EvalResult, type RankBlock } from '../eval/evaluate.js';
import { indexerEvalBackend } from '../eval/indexer-backend.js';
import type { Split } from '../data/dataset.js';

const USAGE =
  'poisonlens eval --model M --dataset N --attack I|II|III|backdoor [--goal A>B[,A2>B2…]] [--target-image ID] [--exact|--ann] [--clean-model C|--no-clean] [--k 1,5,10,20,30,50] [--seed S] [--ann-k K] [--split test] [--no-utility] [--no-drift] [--query-repeat N] [--json] [--out FILE]';

/** The result without per-query lists (what stdout and the catalog get when the file has them). */
export function withoutPerQuery(r: EvalResult): EvalResult {
  const strip = (b: RankBlock | undefined) => (b ? { ...b, perQuery: undefined } : b);
  return {
    ...r,
    goals: r.goals.map((g) => ({ ...g, model: strip(g.model)!, baseline: { ...strip(g.baseline)!, seed: g.baseline.seed }, clean: strip(g.clean) })),
  };
}

const fmt = (x: number | null | undefined, digits = 3) => (x === null || x === undefined ? '–' : Number.isInteger(x) ? String(x) : x.toFixed(digits));

function printHuman(r: EvalResult): void {
  console.log(`${r.model} on ${r.dataset}/${r.split} — attack ${r.attack} ${r.goal} (${r.mode}; gallery ${r.gallery.images} images${r.gallery.added.length ? `, incl. ${r.gallery.added.join(', ')}` : ''})`);
  console.log(r.cleanModel ? `clean model: ${r.cleanModel.id} (${r.cleanModel.why ?? r.cleanModel.how})` : 'clean model: none');
  for (const g of r.goals) {
    console.log(`\ngoal ${g.goal}: ${g.model.queries} queries, targets ${g.targets.kind === 'image' ? `image ${g.targets.ids?.[0]}` : `${g.targets.count} ${g.targets.kind === 'label' ? `images of ${g.target}` : `captions of ${g.target}`}`}`);
    const ks = Object.keys(g.model.hit);
    console.log(`  ${''.padEnd(10)} ${ks.map((k) => `Hit@${k}`.padStart(8)).join('')}   MinRank mean / median / min / max`);
    const rows: Array<[string, RankBlock | undefined]> = [
      [r.attack === 'backdoor' ? 'triggered' : 'model', g.model],
      [r.attack === 'backdoor' ? 'no trigger' : 'baseline', g.baseline],
      [`clean`, g.clean],
    ];
    for (const [name, b] of rows) {
      if (!b) continue;
      console.log(`  ${name.padEnd(10)} ${ks.map((k) => fmt(b.hit[k]).padStart(8)).join('')}   ${fmt(b.minRank.mean, 2)} / ${fmt(b.minRank.median, 1)} / ${fmt(b.minRank.min)} / ${fmt(b.minRank.max)}`);
    }
    if (g.ann) console.log(`  ann (${g.ann.index ?? 'index'}, k=${g.ann.k}): ${g.ann.fallbacks} queries fell back to the exact rank; ${fmt(g.ann.exactAgreement)} of ranks agree with exact`);
  }
  if (r.utility) {
    const u = r.utility;
    const line = (name: string, x: { ir: Record<string, number | null>; tr: Record<string, number | null> }) =>
      console.log(`  ${name.padEnd(8)} IR R@1/5/10 ${['1', '5', '10'].map((k) => fmt(x.ir[k])).join(' / ')}   TR R@1/5/10 ${['1', '5', '10'].map((k) => fmt(x.tr[k])).join(' / ')}`);
    console.log(`\nutility (${u.model.captions} captions, ${u.model.images} images):`);
    line('model', u.model);
    if (u.clean) line('clean', u.clean);
    console.log(`  ceiling  IR R@1/5/10 ${['1', '5', '10'].map((k) => fmt(u.ceiling.ir[k])).join(' / ')} (identical captions on several images)`);
    if (u.outside) {
      console.log(`utility on the images without ${u.outside.classes.join(' or ')} (${u.outside.model.captions} captions, ${u.outside.model.images} images):`);
      line('model', u.outside.model);
      if (u.outside.clean) line('clean', u.outside.clean);
    }
  }
  if (r.drift) {
    const t = r.drift.textVsImage;
    console.log(`\nencoder drift vs ${r.cleanModel?.id}: image ${fmt(r.drift.image.mean, 4)}, text ${fmt(r.drift.text.mean, 4)}` + (t ? `; text − image paired t(${t.df}) = ${fmt(t.t, 2)}, p = ${t.p.toPrecision(3)} over the test images (descriptive, one run; a study's report tests across seeds)` : ''));
  }
  for (const n of r.notes) console.log(`note: ${n}`);
  console.log(`took ${formatSeconds(r.tookMs / 1000)}`);
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'evaluate an attack on a model (Hit@K, MinRank, baselines, utility, drift) through its index',
  usage: USAGE,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(
      argv,
      {
        model: { type: 'string' },
        dataset: { type: 'string' },
        attack: { type: 'string' },
        goal: { type: 'string' },
        'target-image': { type: 'string' },
        exact: { type: 'boolean' },
        ann: { type: 'boolean' },
        'clean-model': { type: 'string' },
        'no-clean': { type: 'boolean' },
        k: { type: 'string' },
        seed: { type: 'string' },
        'ann-k': { type: 'string' },
        split: { type: 'string' },
        'no-utility': { type: 'boolean' },
        'no-drift': { type: 'boolean' },
        'query-repeat': { type: 'string' },
        json: { type: 'boolean' },
        out: { type: 'string' },
      },
      USAGE,
    );
    if (positionals.length) throw new UserError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`, 'bad_flags');
    const attack = requireFlag(values, 'attack', USAGE) as EvalAttack;
    if (!EVAL_ATTACKS.includes(attack)) throw new UserError(`unknown attack ${JSON.stringify(attack)}; one of: ${EVAL_ATTACKS.join(', ')}`, 'unknown_attack');
    if (values.exact && values.ann) throw new UserError('give at most one of --exact and --ann', 'bad_flags');
    if (values['clean-model'] && values['no-clean']) throw new UserError('give at most one of --clean-model and --no-clean', 'bad_flags');
    const split = (values.split ?? 'test') as Split;
    if (!['train', 'val', 'test'].includes(split)) throw new UserError(`--split must be train, val or test, got ${JSON.stringify(split)}`, 'bad_flags');
    let ks: number[] | undefined;
    if (values.k !== undefined) {
      ks = String(values.k).split(',').map((s) => Number(s.trim()));
      if (ks.some((k) => !Number.isInteger(k) || k < 1)) throw new UserError(`--k must be a comma-separated list of whole numbers ≥ 1, got ${JSON.stringify(values.k)}`, 'bad_flags');
    }
    const ws = resolveWorkspace(ctx.workspaceDir);
    const quiet = Boolean(values.json) && !values.out;
    const result = await evaluate(
      ws,
      {
        model: requireFlag(values, 'model', USAGE),
        dataset: requireFlag(values, 'dataset', USAGE),
        attack,
        goal: values.goal as string | undefined,
        targetImage: values['target-image'] as string | undefined,
        mode: values.ann ? 'ann' : 'exact',
        cleanModel: values['no-clean'] ? null : (values['clean-model'] as string | undefined),
        // Drift and the clean row measure the poison: the clean fine-tune of the same pool first.
        cleanDefault: 'same-pool',
        ks,
        seed: numberFlag(values, 'seed', { min: 0, max: 0xffffffff, integer: true }),
        annK: numberFlag(values, 'ann-k', { min: 1, integer: true }),
        split,
        utility: !values['no-utility'],
        drift: !values['no-drift'],
        queryRepeat: numberFlag(values, 'query-repeat', { integer: true, min: 1, max: 10 }),
      },
      {
        backend: ctx.evalBackend?.(ws) ?? indexerEvalBackend(ws),
        onProgress: (p) => {
          if (!quiet && (p.done === p.total || p.done === 0)) process.stderr.write(`${p.phase}: ${p.done}/${p.total}\n`);
        },
      },
    );
    if (values.out) writeJsonAtomic(String(values.out), result);
    const summary = withoutPerQuery(result);
    const db = openCatalog(ws.catalogPath);
    try {
      insertMetric(db, {
        experiment: null,
        model: result.model,
        dataset: result.dataset,
        kind: 'attack-eval',
        params: { attack: result.attack, goal: result.goal, mode: result.mode, seed: result.seed, split: result.split, cleanModel: result.cleanModel?.id ?? null },
        value: summary,
      });
    } finally {
      db.close();
    }
    if (values.json) console.log(JSON.stringify(values.out ? summary : result, null, 2));
    else {
      printHuman(result);
      if (values.out) console.log(`per-query ranks and every number: ${values.out}`);
    }
    return 0;
  },
};
