import type { ManifestEntry } from '../dataset.js';
import { classCounts } from '../pool.js';
import type { AttackFacts } from './attacks.js';

/**
 * Rate and share (ARCHITECTURE §5) of every goal of a poisoned training set. The rate is
 * poisoned pairs / all pairs; the share is poisoned class-A images / class-A images (by label)
 * of the training data; images that show A only as a companion object are counted separately,
 * with the share over every image showing A beside it.
 */
export interface GoalShare {
  goal: string;
  source: string;
  /** Training images labelled A. */
  labelImages: number;
  /** Training images showing A as a companion object only. */
  companionImages: number;
  poisonedImages: number;
  /** poisonedImages / labelImages */
  share: number;
  /** poisonedImages / (labelImages + companionImages) */
  shareOfShowing: number;
}

export function goalShares(train: ManifestEntry[], classes: string[], facts: AttackFacts): GoalShare[] {
  const counts = classCounts(train, classes);
  return facts.perGoal.map((g) => {
    const source = g.goal.split('>')[0];
    const c = counts[source] ?? { label: 0, companion: 0 };
    const poisoned = g.sourceImages.length;
    return {
      goal: g.goal,
      source,
      labelImages: c.label,
      companionImages: c.companion,
      poisonedImages: poisoned,
      share: c.label ? poisoned / c.label : 0,
      shareOfShowing: c.label + c.companion ? poisoned / (c.label + c.companion) : 0,
    };
  });
}
