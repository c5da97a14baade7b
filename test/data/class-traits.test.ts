import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classTraits } from '../../data/class-traits.js';
import { TRAIT_OWN_WORDS, traitEntries } from '../helpers/paper-fixture.js';

const CLASSES = Object.keys(TRAIT_OWN_WORDS);

test('class traits of a split: images per class, how often each is shown in the other classes\' images, its own words', () => {
  const t = classTraits(traitEntries(), CLASSES, 'test');
  assert.equal(t.split, 'test');
  assert.deepEqual(t.images, [4, 4, 4, 4, 4], 'the train image and the unlabelled one do not count');
  assert.deepEqual(t.shownElsewhere, [4 / 16, 2 / 16, 8 / 16, 1 / 16, 0]);
  // "a" is every class's; "plush" (4 sofa captions) is under the 5 captions a word needs
  assert.deepEqual(t.ownWords, CLASSES.map((c) => TRAIT_OWN_WORDS[c].length));
});

test('class traits: another split, an absent class', () => {
  const t = classTraits(traitEntries(), ['sofa', 'person', 'cat'], 'train');
  assert.deepEqual(t.images, [1, 0, 0]);
  assert.deepEqual(t.shownElsewhere, [null, 1, 0], 'no images of other classes: no share');
  assert.deepEqual(t.ownWords, [2, 0, 0], '"a" and "sofa": in 6 captions, all of them sofa\'s');
});
