import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LruCache } from '../../indexer/lru.js';

test('LRU evicts the least recently used entry and counts hits and misses', () => {
  const c = new LruCache<string, number>(3);
  c.set('a', 1);
  c.set('b', 2);
  c.set('c', 3);
  assert.equal(c.get('a'), 1); // a is now most recent: b is the oldest
  c.set('d', 4);
  assert.equal(c.has('b'), false);
  assert.deepEqual(c.keys(), ['c', 'a', 'd']);
  assert.equal(c.get('b'), undefined);
  assert.equal(c.hits, 1);
  assert.equal(c.misses, 1);
  c.set('c', 30); // updating refreshes without growing
  assert.equal(c.size, 3);
  assert.deepEqual(c.keys(), ['a', 'd', 'c']);
  assert.equal(c.peek('a'), 1);
  assert.deepEqual(c.keys(), ['a', 'd', 'c'], 'peek does not refresh');
  assert.equal(c.delete('a'), true);
  assert.equal(c.size, 2);
  c.clear();
  assert.equal(c.size, 0);
});

test('LRU with capacity 0 stores nothing; bad capacities are refused', () => {
  const c = new LruCache<string, number>(0);
  c.set('a', 1);
  assert.equal(c.get('a'), undefined);
  assert.throws(() => new LruCache(-1), RangeError);
  assert.throws(() => new LruCache(1.5), RangeError);
});
