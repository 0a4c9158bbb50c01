// The webhook's request: the JSON document, its headers and the idempotency key, as pure functions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idempotencyKey, utf8Length, webhookRequest } from './request.ts';

test('the idempotency key is the queue id plus a digest of the recipient set: stable across retries and order, different per set', () => {
  const key = idempotencyKey('01ABCDEFGH', ['b@x.test', 'a@x.test']);
  assert.match(key, /^01ABCDEFGH\.[0-9a-f]{16}$/);
  assert.equal(idempotencyKey('01ABCDEFGH', ['a@x.test', 'b@x.test']), key);
  assert.notEqual(idempotencyKey('01ABCDEFGH', ['a@x.test']), key);
  assert.notEqual(idempotencyKey('01ABCDEFGH', ['b@x.test']), idempotencyKey('01ABCDEFGH', ['a@x.test']));
  assert.notEqual(idempotencyKey('01ABCDEFGI', ['a@x.test', 'b@x.test']), key);
});

test('the request is a JSON POST of the item and the message, with Authorization only when configured', () => {
  const event = {
    connector: 'hook',
    item: {
      id: '01ABCDEFGH',
      envelope: { sender: 's@example.net', recipients: ['a@hooks.test'], mailParams: { smtputf8: false } },
      recipients: [{ address: 'a@hooks.test' }],
      headers: [{ name: 'Subject', value: 'caf\u00e9' }],
      size: 5,
    },
  };
  const plain = webhookRequest(event, 'aGVsbG8=', { url: 'http://127.0.0.1:1/h' });
  assert.equal(plain.init.method, 'POST');
  assert.deepEqual(plain.init.headers, { 'content-type': 'application/json', 'idempotency-key': idempotencyKey('01ABCDEFGH', ['a@hooks.test']) });
  assert.deepEqual(JSON.parse(plain.init.body), {
    id: '01ABCDEFGH',
    connector: 'hook',
    envelope: event.item.envelope,
    recipients: [{ address: 'a@hooks.test' }],
    headers: [{ name: 'Subject', value: 'caf\u00e9' }],
    size: 5,
    message: 'aGVsbG8=',
  });
  assert.equal(plain.bytes, new TextEncoder().encode(plain.init.body).byteLength, 'counted in UTF-8 octets');
  const authorized = webhookRequest(event, 'aGVsbG8=', { url: 'http://127.0.0.1:1/h', authorization: 'Bearer t0ken' });
  assert.equal(authorized.init.headers.authorization, 'Bearer t0ken');
  for (const text of ['plain', 'caf\u00e9', '\u20ac', '\u{1F600}', '']) assert.equal(utf8Length(text), new TextEncoder().encode(text).byteLength, JSON.stringify(text));
});
