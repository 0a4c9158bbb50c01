import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TrackingEntry } from '../tracking/tracking-entry.ts';
import { withTrackingApi } from '../tracking/tracking-api-test-kit.ts';
import { call } from './api-test-kit.ts';

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);

const ENTRIES: TrackingEntry[] = [
  { at: T0, event: 'RECEIVE', queueId: 'Q1', messageId: 'one@example.com', sender: 'alice@example.net', recipients: ['bob@example.com', 'carol@example.com'] },
  { at: T0 + 10, event: 'AGENT', queueId: 'Q1', agent: 'acme/greylist', agentEvent: 'onRoutedMessage', verdict: 'continue', ms: 1.5 },
  { at: T0 + 20, event: 'DELIVER', queueId: 'Q1', recipients: ['bob@example.com'], nextHop: 'smtp:example.com', reply: '250 2.0.0 OK' },
  { at: T0 + 30, event: 'RECEIVE', queueId: 'Q2', messageId: 'two@example.com', sender: '', recipients: ['alice@example.net'] },
  { at: T0 + 40, event: 'DSN', queueId: 'Q2', detail: { action: 'failed', status: '5.1.1' } },
];

const ids = (res: { json: { entries: TrackingEntry[] } }): string[] => res.json.entries.map((e) => `${e.queueId}:${e.event}`);

test('GET /v1/tracking finds entries by each key with a read-only token, oldest first', async () => {
  await withTrackingApi(async (api, tracking) => {
    for (const e of ENTRIES) tracking.append(e);
    const created = await call(api, 'POST', '/v1/tokens', { json: { name: 'viewer' } });
    assert.equal(created.status, 201);
    const token = created.json.token as string;
    const get = (query: string) => call(api, 'GET', `/v1/tracking${query}`, { token });

    const all = await get('');
    assert.equal(all.status, 200);
    assert.deepEqual(all.json, { entries: ENTRIES, truncated: false });
    assert.deepEqual(ids(await get(`?messageId=${encodeURIComponent('<one@example.com>')}`)), ['Q1:RECEIVE']);
    assert.deepEqual(ids(await get('?messageId=two@example.com')), ['Q2:RECEIVE']);
    assert.deepEqual(ids(await get('?sender=alice@EXAMPLE.net')), ['Q1:RECEIVE']);
    assert.deepEqual(ids(await get(`?sender=${encodeURIComponent('<>')}`)), ['Q2:RECEIVE'], 'the null sender');
    assert.deepEqual(ids(await get('?recipient=bob@example.com')), ['Q1:RECEIVE', 'Q1:DELIVER']);
    assert.deepEqual(ids(await get('?queueId=Q1&event=AGENT')), ['Q1:AGENT']);
    assert.deepEqual(ids(await get(`?from=${T0 + 10}&to=${T0 + 30}`)), ['Q1:AGENT', 'Q1:DELIVER', 'Q2:RECEIVE']);
    assert.deepEqual(ids(await get(`?from=${encodeURIComponent('2024-05-01T14:00:00.030+02:00')}`)), ['Q2:RECEIVE', 'Q2:DSN']);
    assert.deepEqual(ids(await get('?to=2024-05-01')), [], 'a date is its midnight, UTC');

    const two = await get('?limit=2');
    assert.deepEqual(two.json.truncated, true);
    assert.deepEqual(ids(two), ['Q2:RECEIVE', 'Q2:DSN'], 'the newest two');
    assert.equal((await get('?queueId=Q1&limit=3')).json.truncated, false);
  });
});

test('invalid parameters are 400 problems that name the field', async () => {
  await withTrackingApi(async (api) => {
    const cases: [string, string, RegExp][] = [
      ['?limit=0', 'limit', /from 1 to 1000/],
      ['?limit=1001', 'limit', /from 1 to 1000/],
      ['?limit=ten', 'limit', /whole number/],
      ['?from=yesterday', 'from', /ISO 8601/],
      ['?to=2024-05-01T10:00:00', 'to', /with a zone/],
      ['?from=2024-02-30', 'from', /ISO 8601/],
      ['?event=SHIPPED', 'event', /RECEIVE, AGENT/],
      ['?sender=', 'sender', /<> for the null sender/],
      ['?recipient=%3C%3E', 'recipient', /expected an address/],
      ['?messageId=%3C%3E', 'messageId', /Message-ID/],
      ['?queueId=a%20b', 'queueId', /queue id/],
      ['?msgid=x', 'msgid', /unknown field/],
      [`?from=${T0 + 1}&to=${T0}`, 'to', /is before from/],
    ];
    for (const [query, field, message] of cases) {
      const res = await call(api, 'GET', `/v1/tracking${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(res.headers.get('content-type'), 'application/problem+json', query);
      assert.equal(res.json.code, 'INVALID_QUERY', query);
      assert.equal(res.json.field, field, query);
      assert.match(res.json.errors[0].message, message, query);
    }
  });
});

test('tracking needs a token, and says plainly when the server keeps no tracking log', async () => {
  await withTrackingApi(async (api) => {
    assert.equal((await call(api, 'GET', '/v1/tracking', { token: null })).status, 401);
  });
  await withTrackingApi(
    async (api) => {
      const res = await call(api, 'GET', '/v1/tracking');
      assert.equal(res.status, 503);
      assert.equal(res.json.code, 'TRACKING_UNAVAILABLE');
    },
    { tracking: false },
  );
});

test('the OpenAPI document describes GET /v1/tracking with its query parameters and result', async () => {
  await withTrackingApi(async (api) => {
    const doc = (await call(api, 'GET', '/v1/openapi.json', { token: null })).json;
    const op = doc.paths['/v1/tracking'].get;
    assert.deepEqual(
      op.parameters.map((p: { name: string; in: string; required: boolean }) => `${p.in}:${p.name}:${p.required}`),
      ['messageId', 'sender', 'recipient', 'queueId', 'event', 'from', 'to', 'limit'].map((n) => `query:${n}:false`),
    );
    assert.equal(op['x-sluice-access'], 'read');
    const schema = op.responses['200'].content['application/json'].schema;
    assert.deepEqual(Object.keys(schema.properties), ['entries', 'truncated']);
    assert.ok(schema.properties.entries.items.properties.event.enum.includes('DELIVER'));
    assert.ok(op.responses['400'] && op.responses['401']);
  });
});
