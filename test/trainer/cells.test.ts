import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cellText, tableMarkdown } from '../../trainer/experiment/cells.js';
import { interval } from '../../eval/statistics.js';

test('cells: fractions, ranks, rates, p-values and intervals as the report page writes them', () => {
  assert.equal(cellText({ value: 0.99333 }), '0.993');
  assert.equal(cellText({ value: 2.0833, format: 'rank' }), '2.08');
  assert.equal(cellText({ value: 123.4, format: 'rank' }), '123');
  assert.equal(cellText({ value: 0.0024, format: 'rate' }), '0.00240');
  assert.equal(cellText({ value: 0.00001, format: 'p' }), '1.0e-5');
  assert.equal(cellText({ value: null }), '–');
  assert.equal(cellText({ value: 'sheep>aeroplane', format: 'text' }), 'sheep>aeroplane');
  const iv = interval([0.9, 1, 0.95]);
  assert.match(cellText({ value: iv }), /^0\.950 \[0\.\d{3}, 1\.\d{3}\]$/);
  assert.equal(cellText({ value: interval([0.5]) }), '0.500', 'one seed: no interval');
});

test('tableMarkdown: a header, a separator and one line per row; pipes escaped', () => {
  const md = tableMarkdown({ id: 't', title: 'T | x', caption: '', columns: ['Hit@10', 'MinRank'], rows: [{ label: 'a|b', cells: [{ value: 1 }, { value: 0.48, format: 'rank' }] }] });
  assert.equal(md, '**T \\| x**\n\n| model | Hit@10 | MinRank |\n|---|---|---|\n| a\\|b | 1.000 | 0.48 |');
});
