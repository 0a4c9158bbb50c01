import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseTimestamp } from './tracking-time.ts';

test('timestamps: epoch ms, ISO dates (UTC midnight), date-times with Z or an offset', () => {
  assert.equal(parseTimestamp('1714564800000'), 1714564800000);
  assert.equal(parseTimestamp('0'), 0);
  assert.equal(parseTimestamp('2024-05-01'), Date.UTC(2024, 4, 1));
  assert.equal(parseTimestamp('2024-05-01T12:00:00Z'), Date.UTC(2024, 4, 1, 12));
  assert.equal(parseTimestamp('2024-05-01T12:00Z'), Date.UTC(2024, 4, 1, 12));
  assert.equal(parseTimestamp('2024-05-01T12:00:00.250Z'), Date.UTC(2024, 4, 1, 12, 0, 0, 250));
  assert.equal(parseTimestamp('2024-05-01T14:00:00+02:00'), Date.UTC(2024, 4, 1, 12));
  assert.equal(parseTimestamp('2024-05-01T07:30:00-0430'), Date.UTC(2024, 4, 1, 12));
  assert.equal(parseTimestamp('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29));
});

test('timestamps refused: impossible dates, a time without a zone, words', () => {
  for (const text of ['2024-02-30', '2023-02-29', '2024-13-01', '2024-05-01T24:00:00Z', '2024-05-01T12:00:00', '2024-05-01T12:60Z', 'yesterday', '', '-5', '1e12', '2024-5-1']) {
    assert.equal(parseTimestamp(text), null, text);
  }
});

test('durations: s, m, h, d, w and combinations; anything else is null', () => {
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration('3d'), 3 * 86_400_000);
  assert.equal(parseDuration('1w'), 7 * 86_400_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  for (const text of ['', '2', 'h', '2x', '2h ', ' 2h', '2h-', '1.5h', '2H']) assert.equal(parseDuration(text), null, text);
});
