import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isValidName, type Workspace } from '../../core/workspace.js';
import { readTrainsetCard, type TrainPair, type TrainsetCard } from '../../data/trainset.js';

/**
 * What the server needs from a model's training set: which dataset it came from (the default
 * gallery of the model) and which images carried poison (marked in results). Read lazily, cached.
 */
export class TrainsetRepository {
  private readonly cards = new Map<string, TrainsetCard | null>();
  private readonly poisoned = new Map<string, Set<string>>();

  constructor(private readonly ws: Workspace) {}

  card(name: string | undefined | null): TrainsetCard | null {
    if (!name || !isValidName(name)) return null;
    if (this.cards.has(name)) return this.cards.get(name)!;
    const card = readTrainsetCard(this.ws, name);
    this.cards.set(name, card);
    return card;
  }

  /** Image ids of the poisoned pairs of a training set (empty when it has none or is gone). */
  poisonedImageIds(name: string | undefined | null): Set<string> {
    const card = this.card(name);
    if (!card || !name) return new Set();
    const cached = this.poisoned.get(name);
    if (cached) return cached;
    const ids = new Set<string>();
    if ((card.counts?.poisonedPairs ?? 0) > 0) {
      try {
        const text = readFileSync(join(this.ws.trainsets, name, 'pairs.jsonl'), 'utf8');
        for (const line of text.split('\n')) {
          if (!line.includes('"poisoned":true') && !line.includes('"poisoned": true')) continue;
          const pair = JSON.parse(line) as TrainPair;
          if (pair.poisoned && pair.imageId) ids.add(pair.imageId);
        }
      } catch {
        // pairs.jsonl unreadable: results simply carry no poisoned marks
      }
    }
    this.poisoned.set(name, ids);
    return ids;
  }
}
