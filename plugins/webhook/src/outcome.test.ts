// The webhook's HTTP status table, as a pure function (webhook.test.ts drives it through a real sandbox and HTTP server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeliveryResultSchema } from '../../../sdk/verdict-schema.ts';
import * as v from 'valibot';
import { acksFor, printable, type RequestOutcome } from './outcome.ts';

const RCPTS = ['a@hooks.test', 'b@hooks.test'];

function answer(outcome: RequestOutcome): string {
  const result = acksFor(RCPTS, outcome);
  assert.ok(v.is(DeliveryResultSchema, result), `the runtime accepts ${JSON.stringify(result)}`);
  const [first, second] = result.recipients;
  assert.deepEqual({ ...second, address: first?.address }, first, 'one request: every recipient shares its fate');
  if (first?.status === 'failed') return `failed ${first.code} ${first.enhanced} ${first.reason}`;
  if (first?.status === 'deferred') return `deferred ${first.reason}`;
  return String(first?.status);
}

const response = (status: number, text = ''): RequestOutcome => ({ kind: 'response', status, text });

test('2xx delivers; 401, 408, 425, 429, 5xx, redirects and odd statuses defer; other 4xx fail with a code that fits', () => {
  for (const status of [200, 201, 202, 204, 299]) assert.equal(answer(response(status)), 'delivered', `HTTP ${status}`);
  for (const status of [401, 408, 425, 429, 500, 502, 503, 504, 599, 100, 600]) assert.match(answer(response(status)), new RegExp(`^deferred webhook answered HTTP ${status}`), `HTTP ${status}`);
  assert.equal(answer(response(302)), 'deferred webhook answered HTTP 302, a redirect, which is not followed: set config.url to the final URL');
  assert.equal(answer(response(404, 'no such hook')), 'failed 550 5.7.1 webhook refused the message (HTTP 404): no such hook');
  assert.equal(answer(response(403)), 'failed 550 5.7.1 webhook refused the message (HTTP 403)');
  assert.equal(answer(response(410)), 'failed 550 5.7.1 webhook refused the message (HTTP 410)');
  assert.equal(answer(response(413)), 'failed 552 5.3.4 webhook refused the message as too large (HTTP 413)');
  for (const status of [400, 415, 422]) assert.equal(answer(response(status)), `failed 554 5.6.0 webhook refused the content (HTTP ${status})`);
});

test('a response body in a reason is cut and stripped to printable ASCII, whatever the receiver sent', () => {
  const hostile = `line one\r\nline\ttwo \u0000\u00e9\u{1F600} ${'x'.repeat(5000)}`;
  const reason = answer(response(503, hostile));
  assert.match(reason, /^deferred webhook answered HTTP 503: line one line two x+\.\.\.$/);
  assert.ok(reason.length < 400);
  assert.equal(printable('\r\n\t', 10), '');
  assert.equal(printable('abcdefghijkl', 10), 'abcdefg...');
});

test('a request that did not complete, was too large, or could not be sent defers or fails with a reason that says why', () => {
  assert.equal(answer({ kind: 'error', message: 'fetch: request to http://127.0.0.1:9 failed (ECONNREFUSED)' }), 'deferred webhook not reached: fetch: request to http://127.0.0.1:9 failed (ECONNREFUSED)');
  assert.equal(answer({ kind: 'error', message: '\u0000' }), 'deferred webhook not reached: unknown error');
  assert.match(answer({ kind: 'error', message: 'e'.repeat(2000) }), /^deferred webhook not reached: e+\.\.\.$/);
  assert.equal(answer({ kind: 'too-large', bytes: 300_000, limit: 262_144 }), "failed 552 5.3.4 message too large for the webhook: 300000 bytes of JSON, over the 262144-byte limit of an agent's request");
  assert.match(answer({ kind: 'no-body' }), /^deferred sluice\/webhook was not given the message body/);
  assert.match(answer({ kind: 'no-fetch' }), /^deferred sluice\/webhook needs the fetch capability/);
});
