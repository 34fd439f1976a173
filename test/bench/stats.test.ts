import assert from 'node:assert/strict';
import { test } from 'node:test';
import { median, quantile } from '../../bench/stats.js';

test('median: the middle value, or the mean of the two middle ones', () => {
  assert.equal(median([3, 1, 2]), 2);
  // Six rounds: the mean of the 3rd and 4th, not whichever of them nearest rank picks.
  assert.equal(median([249, 250, 252, 364, 400, 423]), 308);
  assert.ok(Number.isNaN(median([])));
  const values = [5, 4, 3];
  median(values);
  assert.deepEqual(values, [5, 4, 3], 'the caller\'s array is not sorted in place');
});

test('quantile: nearest rank', () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(quantile(values, 0.99), 99);
  assert.equal(quantile(values, 0.5), 50);
  assert.equal(quantile([7], 0.99), 7);
});
