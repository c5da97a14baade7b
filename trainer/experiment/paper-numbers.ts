/**
 * The paper's own numbers — Yang et al., "Data Poisoning Attacks Against Multimodal Encoders",
 * ICML 2023 (full text: ../shared/paper/yang2023-multimodal-poisoning.txt) — typed in from its
 * text, one entry per number, each with the table (or the sentence, for figures) it comes from.
 * Figures are images in the paper: only the numbers its text states are here. `poisonlens report
 * paper` (./paper-report.ts) sets our measurements beside them.
 *
 * Ids: <item>.<dataset>.<row>.<metric>, with datasets fp = Flickr-PASCAL, coco = COCO,
 * fpb / cocob = their balanced (one caption per image) versions, vg = poisoned on Visual Genome.
 */

export interface PaperNumber {
  id: string;
  /** Where the number is in the paper, e.g. "Table 3, Flickr-PASCAL, Attack II (Ours), Hit@10". */
  source: string;
  value: number;
  /** Standard deviation over the paper's repeated runs, where it gives one (Tables 11 and 12). */
  sd?: number;
  /** The text gives the number as approximate ("around", "about", "reaches"). */
  approx?: boolean;
}

export const PAPER_CITATION =
  'Ziqing Yang, Xinlei He, Zheng Li, Michael Backes, Mathias Humbert, Pascal Berrang, Yang Zhang. Data Poisoning Attacks Against Multimodal Encoders. ICML 2023. Code: github.com/zqypku/mm_poison.';

/** The paper's default setting (§4.1), the one every item starts from. */
export const PAPER_SETTING =
  'pretrained CLIP (image encoder ViT-B/32, text Transformer, context 76) fine-tuned 10 epochs, AdamW lr 1e-5 (cosine to 1e-6), weight decay 0.2, batch 128; Flickr-PASCAL (Flickr30k + half of PASCAL; test: the other 500 PASCAL images, 20 classes × 25) poisoned with 25 sheep images (125 pairs) = 0.08%, COCO (test 3,900 images, 78 classes × 50) with 284 boat images (1,420 pairs) = 0.24%; Attack III: 0.16% / 0.52%; one run unless noted.';

const HITS_MR: Array<[string, string]> = [
  ['hit1', 'Hit@1'],
  ['hit5', 'Hit@5'],
  ['hit10', 'Hit@10'],
  ['minRank', 'MinRank'],
];
const HITS_ALL_MR: Array<[string, string]> = [
  ['hit1', 'Hit@1'],
  ['hit5', 'Hit@5'],
  ['hit10', 'Hit@10'],
  ['hit20', 'Hit@20'],
  ['hit30', 'Hit@30'],
  ['hit50', 'Hit@50'],
  ['minRank', 'MinRank'],
];

/** One table row: an entry per column, ids `${id}.${metric}`, sources `${source}, ${column}`. */
function row(id: string, source: string, cols: Array<[string, string]>, values: number[], sds?: number[]): PaperNumber[] {
  if (values.length !== cols.length) throw new Error(`paper-numbers: ${id} has ${values.length} values for ${cols.length} columns`);
  return cols.map(([key, name], i) => ({ id: `${id}.${key}`, source: `${source}, ${name}`, value: values[i], ...(sds ? { sd: sds[i] } : {}) }));
}

const one = (id: string, source: string, value: number, extra: Partial<PaperNumber> = {}): PaperNumber => ({ id, source, value, ...extra });

export const PAPER_NUMBERS: PaperNumber[] = [
  // §4.1 setting
  one('setting.fp.rate', '§4.1 Poisoning settings, Flickr-PASCAL, Attacks I/II: 25 images (125 pairs), poisoning rate', 0.0008),
  one('setting.coco.rate', '§4.1 Poisoning settings, COCO, Attacks I/II: 284 images (1,420 pairs), poisoning rate', 0.0024),
  one('setting.fp.rate3', '§4.1 Poisoning settings, Flickr-PASCAL, Attack III, poisoning rate', 0.0016),
  one('setting.coco.rate3', '§4.1 Poisoning settings, COCO, Attack III, poisoning rate', 0.0052),

  // Table 1: Utility of poisoning attacks (Hit@10)
  ...row('t1.fp.tr', 'Table 1, Flickr-PASCAL, TR Hit@10', [['clean', 'Clean'], ['I', 'Attack I'], ['II', 'Attack II'], ['III', 'Attack III']], [0.984, 0.98, 0.98, 0.958]),
  ...row('t1.fp.ir', 'Table 1, Flickr-PASCAL, IR Hit@10', [['clean', 'Clean'], ['I', 'Attack I'], ['II', 'Attack II'], ['III', 'Attack III']], [0.971, 0.973, 0.968, 0.954]),
  ...row('t1.coco.tr', 'Table 1, COCO, TR Hit@10', [['clean', 'Clean'], ['I', 'Attack I'], ['II', 'Attack II'], ['III', 'Attack III']], [0.911, 0.934, 0.935, 0.939]),
  ...row('t1.coco.ir', 'Table 1, COCO, IR Hit@10', [['clean', 'Clean'], ['I', 'Attack I'], ['II', 'Attack II'], ['III', 'Attack III']], [0.836, 0.86, 0.866, 0.859]),

  // Table 2: Performance of Attack I
  ...row('t2.fp.baseline', 'Table 2, Flickr-PASCAL, Baseline', HITS_MR, [0.0, 0.032, 0.032, 79.168]),
  ...row('t2.fp.ours', 'Table 2, Flickr-PASCAL, Attack I (Ours)', HITS_MR, [0.32, 0.928, 0.968, 2.184]),
  ...row('t2.coco.baseline', 'Table 2, COCO, Baseline', HITS_MR, [0.0, 0.02, 0.036, 153.852]),
  ...row('t2.coco.ours', 'Table 2, COCO, Attack I (Ours)', HITS_MR, [0.016, 0.472, 0.784, 12.688]),
  one('intro.fp.attack1.hit5', '§1 Introduction, Flickr-PASCAL, Attack I sheep → one aeroplane image, "top-5 accuracy" (Table 2 gives 0.928)', 0.918),

  // Table 3: Performance of Attack II
  ...row('t3.fp.baseline', 'Table 3, Flickr-PASCAL, Baseline', HITS_MR, [0.024, 0.088, 0.2, 51.048]),
  ...row('t3.fp.ours', 'Table 3, Flickr-PASCAL, Attack II (Ours)', HITS_MR, [0.28, 0.864, 0.936, 2.192]),
  ...row('t3.coco.baseline', 'Table 3, COCO, Baseline', HITS_MR, [0.024, 0.072, 0.116, 123.076]),
  ...row('t3.coco.ours', 'Table 3, COCO, Attack II (Ours)', HITS_MR, [0.012, 0.212, 0.516, 15.28]),

  // Table 4: Performance of Attack III (goal 1 sheep2aeroplane / boat2dog, goal 2 sofa2bird / zebra2train)
  ...row('t4.fp.baseline1', 'Table 4, Flickr-PASCAL, Baseline-1 (clean model, sheep2aeroplane)', HITS_MR, [0.048, 0.12, 0.216, 46.576]),
  ...row('t4.fp.ours1', 'Table 4, Flickr-PASCAL, Ours-1 (sheep2aeroplane)', HITS_MR, [0.352, 0.864, 0.976, 2.224]),
  ...row('t4.fp.baseline2', 'Table 4, Flickr-PASCAL, Baseline-2 (clean model, sofa2bird)', HITS_MR, [0.048, 0.152, 0.208, 33.888]),
  ...row('t4.fp.ours2', 'Table 4, Flickr-PASCAL, Ours-2 (sofa2bird)', HITS_MR, [0.008, 0.248, 0.552, 12.792]),
  ...row('t4.coco.baseline1', 'Table 4, COCO, Baseline-1 (clean model, boat2dog)', HITS_MR, [0.02, 0.06, 0.12, 125.404]),
  ...row('t4.coco.ours1', 'Table 4, COCO, Ours-1 (boat2dog)', HITS_MR, [0.016, 0.272, 0.604, 13.94]),
  ...row('t4.coco.baseline2', 'Table 4, COCO, Baseline-2 (clean model, zebra2train)', HITS_MR, [0.012, 0.02, 0.032, 288.496]),
  ...row('t4.coco.ours2', 'Table 4, COCO, Ours-2 (zebra2train)', HITS_MR, [0.012, 0.18, 0.516, 12.788]),

  // Table 5: Performance of Attack II with frozen encoders (one run)
  ...row('t5.fp.Mp', 'Table 5, Flickr-PASCAL, M_p (both encoders trained)', HITS_ALL_MR, [0.28, 0.864, 0.936, 1.0, 1.0, 1.0, 2.192]),
  ...row('t5.fp.Mpi', 'Table 5, Flickr-PASCAL, M_p^i (image encoder trained, text frozen)', HITS_ALL_MR, [0.2, 0.856, 0.92, 0.984, 0.992, 1.0, 3.016]),
  ...row('t5.fp.Mpt', 'Table 5, Flickr-PASCAL, M_p^t (text encoder trained, image frozen)', HITS_ALL_MR, [0.256, 0.792, 0.912, 0.96, 0.984, 1.0, 3.472]),
  ...row('t5.fp.M0', 'Table 5, Flickr-PASCAL, M^0 (pretrained, not fine-tuned)', HITS_ALL_MR, [0.0, 0.008, 0.032, 0.12, 0.24, 0.568, 47.92]),
  ...row('t5.coco.Mp', 'Table 5, COCO, M_p (both encoders trained)', HITS_ALL_MR, [0.012, 0.212, 0.516, 0.824, 0.888, 0.94, 15.28]),
  ...row('t5.coco.Mpi', 'Table 5, COCO, M_p^i (image encoder trained, text frozen)', HITS_ALL_MR, [0.008, 0.196, 0.46, 0.78, 0.844, 0.936, 17.58]),
  ...row('t5.coco.Mpt', 'Table 5, COCO, M_p^t (text encoder trained, image frozen)', HITS_ALL_MR, [0.032, 0.28, 0.5, 0.748, 0.82, 0.892, 23.224]),
  ...row('t5.coco.M0', 'Table 5, COCO, M^0 (pretrained, not fine-tuned)', HITS_ALL_MR, [0.004, 0.064, 0.14, 0.252, 0.336, 0.488, 126.664]),

  // Figure 2: Influence of poisoning rate (the text states one number)
  one('f2.fp.rate', '§4.2.3 Poisoning rate (Figure 2), Flickr-PASCAL sheep2aeroplane: "with only 0.03% poisoning rate …", rate', 0.0003),
  one('f2.fp.minRank', '§4.2.3 Poisoning rate (Figure 2), Flickr-PASCAL sheep2aeroplane: "… the MinRank already reaches 6", MinRank at 0.03%', 6, { approx: true }),
  one('f2.rates', '§4.2.3 Poisoning rate (Figure 2): number of poisoning rates per dataset ("six different poisoning rates")', 6),

  // Figure 3: Influence of fine-tuning epochs (no numbers in the text: epochs 0–10, 0 = the pretrained model)
  one('f3.epochs', '§4.2.3 Fine-tuning epoch (Figure 3): largest number of epochs ("ranging from 0 to 10")', 10),

  // Figure 5: (a) dataset size, (b) all goals
  one('f5a.coco.rate', '§4.2.3 Data size (Figure 5a): COCO, COCO-M (50% per class), COCO-S (25% per class) at the same poisoning rate', 0.0024),
  one('f5b.fp.minRank', '§4.2.3 Poisoning goal (Figure 5b): "in most cases … the average MinRank reaches around 10"', 10, { approx: true }),
  one('f5b.fp.hardColumn', '§4.2.3 Poisoning goal (Figure 5b): the hard column is the 14th class alphabetically (0-based) = person ("A2person")', 14),

  // Table 6: Attack II poisoned on VG, evaluated on Flickr-PASCAL
  ...row('t6.vg.baseline', 'Table 6, poisoned on VG, Flickr-PASCAL test, Baseline', HITS_MR, [0.064, 0.176, 0.232, 35.144]),
  ...row('t6.vg.ours', 'Table 6, poisoned on VG, Flickr-PASCAL test, Attack II (Ours)', HITS_MR, [0.36, 0.88, 0.96, 1.976]),

  // Figure 6 / §6 pre-training defence
  one('f6.fp.cleanCentre', '§6 Pre-training defense (Figure 6), Flickr-PASCAL Attack II: clean pairs\' cosine distances "centered around 0.75" (reference: pretrained CLIP-ViT-B/16)', 0.75, { approx: true }),
  one('f6.fp.poisonedCentre', '§6 Pre-training defense (Figure 6): poisoned pairs\' distances "around 0.85"', 0.85, { approx: true }),
  one('f6.fp.gamma', '§6 Pre-training defense: threshold γ', 0.8),
  one('s6.fp.defended.tr10', '§6 Pre-training defense: TR Hit@10 of the defended model', 0.978),
  one('s6.fp.defended.ir10', '§6 Pre-training defense: IR Hit@10 of the defended model', 0.97),
  one('s6.fp.clean.tr10', '§6 Pre-training defense: TR Hit@10 of the clean model', 0.984),
  one('s6.fp.clean.ir10', '§6 Pre-training defense: IR Hit@10 of the clean model', 0.971),

  // Figure 7 / §6 post-training defence (fine-tuning the Attack II model on VG, lr 1e-5)
  one('f7.fp.before.hit10', '§6 Post-training defense (Figure 7), Flickr-PASCAL: Hit@10 before ("drops from 0.9")', 0.9, { approx: true }),
  one('f7.fp.epoch1.hit10', '§6 Post-training defense (Figure 7), Flickr-PASCAL: Hit@10 after the first epoch ("to around 0.0")', 0.0, { approx: true }),
  one('f7.lr', '§6 Post-training defense (Figure 7): learning rate of the clean fine-tuning on VG', 1e-5),

  // Table 7: Utility of post-training defence (Hit@10, change against the clean model in brackets)
  one('t7.fp.tr10', 'Table 7, Flickr-PASCAL, Hit@10 (TR)', 0.978),
  one('t7.fp.tr10.delta', 'Table 7, Flickr-PASCAL, Hit@10 (TR), change against the clean model', -0.006),
  one('t7.fp.ir10', 'Table 7, Flickr-PASCAL, Hit@10 (IR)', 0.954),
  one('t7.fp.ir10.delta', 'Table 7, Flickr-PASCAL, Hit@10 (IR), change against the clean model', -0.017),
  one('t7.coco.tr10', 'Table 7, COCO, Hit@10 (TR)', 0.976),
  one('t7.coco.tr10.delta', 'Table 7, COCO, Hit@10 (TR), change against the clean model', 0.065),
  one('t7.coco.ir10', 'Table 7, COCO, Hit@10 (IR)', 0.945),
  one('t7.coco.ir10.delta', 'Table 7, COCO, Hit@10 (IR), change against the clean model', 0.109),

  // Table 8: Influence of learning rate (after 5 epochs on VG)
  ...row('t8.fp.attack', 'Table 8, Attack II (before the defence)', HITS_MR, [0.28, 0.864, 0.936, 2.192]),
  ...row('t8.fp.lr1e-3', 'Table 8, Defense, LR 1e-3', HITS_MR, [0.136, 0.384, 0.472, 89.2]),
  ...row('t8.fp.lr1e-4', 'Table 8, Defense, LR 1e-4', HITS_MR, [0.0, 0.0, 0.008, 76.648]),
  ...row('t8.fp.lr1e-5', 'Table 8, Defense, LR 1e-5', HITS_MR, [0.0, 0.024, 0.048, 41.68]),

  // Table 9: Dataset statistics (context)
  ...row('t9.flickr', 'Table 9, Flickr', [['pairs', '# Pairs'], ['images', '# Images']], [158915, 31873]),
  ...row('t9.pascal', 'Table 9, PASCAL', [['pairs', '# Pairs'], ['images', '# Images'], ['labelled', '# Labeled Images'], ['classes', '# Classes']], [4998, 1000, 1000, 20]),
  ...row('t9.coco', 'Table 9, COCO', [['pairs', '# Pairs'], ['images', '# Images'], ['labelled', '# Labeled Images'], ['classes', '# Classes']], [616767, 123287, 122218, 80]),
  ...row('t9.vg', 'Table 9, VG', [['pairs', '# Pairs'], ['images', '# Images']], [540378, 94313]),

  // Table 10: Model size (context)
  ...row('t10.vitb32', 'Table 10, CLIP-ViT-B/32', [['gflops', 'FLOPs (G)'], ['mparams', '# Params (M)']], [4.885, 84.225]),
  ...row('t10.vitb16', 'Table 10, CLIP-ViT-B/16', [['gflops', 'FLOPs (G)'], ['mparams', '# Params (M)']], [13.208, 82.456]),
  ...row('t10.vitl14', 'Table 10, CLIP-ViT-L/14', [['gflops', 'FLOPs (G)'], ['mparams', '# Params (M)']], [56.255, 258.721]),

  // Table 11: Cosine distance between clean and poisoned encoders on Flickr-PASCAL (5 runs)
  one('t11.fp.text', 'Table 11, Flickr-PASCAL, Text (mean of 5 runs)', 0.103, { sd: 0.0025 }),
  one('t11.fp.image', 'Table 11, Flickr-PASCAL, Image (mean of 5 runs)', 0.094, { sd: 0.0033 }),
  one('t11.fp.p', 'Appendix A.5 (Table 11): paired two-tailed t-test, text vs image cosine distance, p', 0.0071),

  // Table 12: frozen encoders on Flickr-PASCAL, 5 runs (mean, sd)
  ...row('t12.fp.Mp', 'Table 12, Flickr-PASCAL, M_p (5 runs)', HITS_ALL_MR, [0.208, 0.861, 0.958, 0.998, 1, 1, 2.4352], [0.065, 0.039, 0.017, 0.004, 0, 0, 0.436]),
  ...row('t12.fp.Mpi', 'Table 12, Flickr-PASCAL, M_p^i (5 runs)', HITS_ALL_MR, [0.13, 0.834, 0.955, 0.994, 0.998, 1, 2.8224], [0.007, 0.024, 0.017, 0.004, 0.004, 0, 0.215]),
  ...row('t12.fp.Mpt', 'Table 12, Flickr-PASCAL, M_p^t (5 runs)', HITS_ALL_MR, [0.251, 0.754, 0.883, 0.962, 0.99, 1, 3.7824], [0.041, 0.029, 0.022, 0.007, 0.004, 0, 0.175]),
  ...row('t12.fp.M0', 'Table 12, Flickr-PASCAL, M^0 (5 runs)', HITS_ALL_MR, [0, 0.003, 0.019, 0.043, 0.091, 0.245, 83.557], [0, 0.004, 0.009, 0.043, 0.086, 0.184, 20.177]),
  one('t12.fp.p.Mp-Mpi.hit1', 'Appendix A.5 (Table 12): paired t-test, Hit@1 of M_p vs M_p^i, p ("hard to compare"; all other comparisons significant at 0.95)', 0.17),

  // Tables 13 and 14: balanced datasets (one caption per image)
  ...row('t13.fpb.ours', 'Table 13, Flickr-PASCAL-b, Attack II', HITS_MR, [0.16, 0.848, 0.944, 2.904]),
  ...row('t13.cocob.ours', 'Table 13, COCO-b, Attack II', HITS_MR, [0.048, 0.392, 0.712, 11.372]),
  one('t13.fpb.gain.hit10', 'Appendix A.6 (Table 13): Flickr-PASCAL-b Hit@10 "a 0.744 gain over the baseline"', 0.744),
  one('t14.fpb.text', 'Table 14, Flickr-PASCAL-b, Text', 0.044),
  one('t14.fpb.image', 'Table 14, Flickr-PASCAL-b, Image', 0.047),
  one('t14.cocob.text', 'Table 14, COCO-b, Text', 0.047),
  one('t14.cocob.image', 'Table 14, COCO-b, Image', 0.064),

  // Table 15: Influence of the length of texts (Attack I, Flickr-PASCAL; test captions repeated ×1, ×2, ×3)
  ...row('t15.fp.x1', 'Table 15, average text length 8.944 words (×1)', HITS_MR, [0.24, 0.92, 0.984, 1.928]),
  ...row('t15.fp.x2', 'Table 15, average text length 17.888 words (×2)', HITS_MR, [0.272, 0.864, 0.96, 2.336]),
  ...row('t15.fp.x3', 'Table 15, average text length 26.832 words (×3)', HITS_MR, [0.224, 0.856, 0.944, 2.68]),

  // Table 16: Performance of pre-training defence against Attack II
  ...row('t16.fp.attack', 'Table 16, Attack II', HITS_MR, [0.28, 0.864, 0.936, 2.192]),
  ...row('t16.fp.defence', 'Table 16, Defense (filter, γ 0.80)', HITS_MR, [0.0, 0.008, 0.016, 49.576]),
  ...row('t16.fp.clean', 'Table 16, Clean', HITS_MR, [0.024, 0.088, 0.2, 51.048]),

  // Figure 9: steps within the first epoch of the post-training defence
  one('f9.fp.before.hit10', '§6 / Appendix A.8 (Figure 9): Hit@10 before the defence ("drops from 0.936")', 0.936),
  one('f9.fp.step50.hit10', '§6 / Appendix A.8 (Figure 9): Hit@10 at the 50th step ("to 0.032")', 0.032),
  one('f9.fp.step', '§6 / Appendix A.8 (Figure 9): the step', 50),
  one('f9.fp.stepsPerEpoch', '§6 / Appendix A.8 (Figure 9): steps in one epoch', 2110),
];

const BY_ID = new Map(PAPER_NUMBERS.map((n) => [n.id, n]));
if (BY_ID.size !== PAPER_NUMBERS.length) throw new Error('paper-numbers: duplicate ids');

/** The paper's number with this id (throws on a typo: every id the report uses must exist). */
export function paperNumber(id: string): PaperNumber {
  const n = BY_ID.get(id);
  if (!n) throw new Error(`paper-numbers: no number ${JSON.stringify(id)}`);
  return n;
}

/** Where the paper contradicts itself or leaves something open: shown on the report page. */
export const PAPER_NOTES: string[] = [
  'Which encoder drifts more: §4.2.2 reads Figure 1 as "the image embeddings change more after poisoning", and Table 14 (balanced data) agrees, but Appendix A.5 (Table 11, 5 runs) finds the text embeddings change more (0.103 vs 0.094, p = 0.0071). At most one of Figure 1 and Table 11 can be reproduced by one measurement; both are judged as stated.',
  'Baseline: §4.1 defines the baseline as the same number of random test texts; Table 4 calls Baseline-1/2 "the clean model", and Table 16\'s "Clean" row is identical to Table 3\'s "Baseline" row. We report both references (random texts on the attacked model, and the clean model on the class-A texts) and judge Tables 2, 3, 6 and 13 against the random texts, Tables 4 and 16 against the clean model, as the paper\'s own wording for each says.',
  'Attack I, Flickr-PASCAL, Hit@5: the introduction says 0.918, Table 2 says 0.928; the table is used.',
  'Utility (Table 1, Table 7, §6): the paper computes IR/TR Hit@10 "over batches of images"; we compute Recall@10 over the whole test split (a harder, larger gallery), so absolute values differ and only changes against the clean model are compared.',
];
