import { UserError } from '../../core/errors.js';

/**
 * A poisoning goal "A>B": captions about class A should retrieve images of class B.
 * `source` is `*` for the backdoor's "any class but B".
 */
export interface Goal {
  source: string;
  target: string;
}

export const ANY_CLASS = '*';

export function goalString(g: Goal): string {
  return `${g.source}>${g.target}`;
}

/**
 * Parses `A>B[,A2>B2…]`. Class names are trimmed and may contain spaces ("dining table").
 * A malformed goal, a class mapped onto itself or a source class repeated across goals is a
 * one-line UserError naming the bad part.
 */
export function parseGoals(text: string, opts: { allowAnySource?: boolean } = {}): Goal[] {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new UserError('missing goal: expected A>B[,A2>B2…], e.g. sheep>aeroplane', 'bad_goal');
  }
  const goals: Goal[] = [];
  for (const part of text.split(',')) {
    const sides = part.split('>');
    const source = sides[0]?.trim() ?? '';
    const target = sides[1]?.trim() ?? '';
    if (sides.length !== 2 || source === '' || target === '') {
      throw new UserError(`bad goal ${JSON.stringify(part.trim())}: expected A>B, e.g. sheep>aeroplane`, 'bad_goal');
    }
    if (target === ANY_CLASS || (source === ANY_CLASS && !opts.allowAnySource)) {
      throw new UserError(`bad goal ${JSON.stringify(part.trim())}: '*' is only allowed as the source class of a backdoor goal`, 'bad_goal');
    }
    if (source === target) throw new UserError(`bad goal ${JSON.stringify(part.trim())}: source and target class are the same`, 'bad_goal');
    if (goals.some((g) => g.source === source)) {
      throw new UserError(`bad goal list ${JSON.stringify(text)}: class ${JSON.stringify(source)} is the source of more than one goal`, 'bad_goal');
    }
    goals.push({ source, target });
  }
  return goals;
}

/** Throws a one-line UserError naming the first goal class that the dataset does not have. */
export function checkGoalClasses(goals: Goal[], classes: readonly string[], datasetName: string): void {
  const known = new Set(classes);
  for (const g of goals) {
    for (const c of [g.source, g.target]) {
      if (c !== ANY_CLASS && !known.has(c)) {
        throw new UserError(`unknown class ${JSON.stringify(c)} in goal ${goalString(g)}: dataset ${datasetName} has ${classes.length} classes (${classes.slice(0, 25).join(', ')}${classes.length > 25 ? ', …' : ''})`, 'unknown_class');
      }
    }
  }
}
