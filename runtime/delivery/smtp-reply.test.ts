// Remote replies as recorded per recipient, and which failures let the next MX host be tried.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPermanentReply, normalizeReply } from './smtp-reply.ts';
import { isSessionFailure, outcomesOfFailure, sessionFailureReply } from './smtp-outcome.ts';

test('a multi-line reply becomes one line with its enhanced code once', () => {
  assert.equal(normalizeReply('550-5.1.1 The email account that you tried to reach\r\n550-5.1.1 does not exist.\r\n550 5.1.1 Please check.'), '550 5.1.1 The email account that you tried to reach does not exist. Please check.');
  assert.equal(normalizeReply('250 2.0.0 Ok: queued as 4Zx'), '250 2.0.0 Ok: queued as 4Zx');
});

test('a reply without an enhanced code, or with one of another class, gets the class default', () => {
  assert.equal(normalizeReply('452 mailbox full'), '452 4.0.0 mailbox full');
  assert.equal(normalizeReply('451 5.7.1 odd server'), '451 4.0.0 odd server');
  assert.equal(normalizeReply('250 OK'), '250 2.0.0 OK');
  assert.equal(normalizeReply('no code at all', 451), '451 4.0.0 no code at all');
  assert.equal(normalizeReply('554'), '554 5.0.0');
});

test('control characters never reach the recorded reply', () => {
  assert.equal(normalizeReply('550 5.7.1 bad\x00\x1bthing'), '550 5.7.1 bad thing');
});

test('5xx is permanent, 4xx is not', () => {
  assert.equal(isPermanentReply('550 5.1.1 x'), true);
  assert.equal(isPermanentReply('451 4.0.0 x'), false);
});

test('only failures before a transaction began let the next host be tried', () => {
  assert.equal(isSessionFailure({ message: 'x', code: 'ESOCKET', originalCode: 'ECONNREFUSED', command: 'CONN' }, undefined), true);
  assert.equal(isSessionFailure({ message: 'x', code: 'EPROTOCOL', command: 'CONN', response: '421 busy' }, undefined), true);
  // The same socket error once MAIL FROM was sent: the peer may have the message.
  assert.equal(isSessionFailure({ message: 'x', code: 'ESOCKET', command: 'CONN' }, { accepted: [] }), false);
  assert.equal(isSessionFailure({ message: 'x', code: 'EENVELOPE', command: 'RCPT TO', response: '550 no' }, undefined), false);
  assert.equal(isSessionFailure({ message: 'x', code: 'EMESSAGE', command: 'DATA', response: '554 no' }, undefined), false);
});

test('replies for hosts that could not be used name the host and the cause', () => {
  assert.equal(sessionFailureReply({ message: 'x', code: 'ESOCKET', originalCode: 'ECONNREFUSED' }, 'mx.example.com[192.0.2.1]:25'), '451 4.4.1 connection refused by mx.example.com[192.0.2.1]:25');
  assert.equal(sessionFailureReply({ message: 'x', code: 'ETLS', response: '502 5.5.1 no' }, 'h[1.2.3.4]:25'), '451 4.7.5 TLS with h[1.2.3.4]:25 failed: 502 5.5.1 no');
  assert.match(sessionFailureReply({ message: 'Greeting never received', code: 'ETIMEDOUT' }, 'h[1.2.3.4]:25'), /^451 4\.4\.1 h\[1\.2\.3\.4\]:25 did not answer in time/);
});

test('a connection lost mid-transaction defers, and a local envelope error fails, naming why', () => {
  const recipients = [{ index: 1, address: 'a@example.test' }];
  assert.deepEqual(outcomesOfFailure(recipients, { message: 'Connection closed unexpectedly', code: 'ECONNECTION', command: 'CONN' }, { accepted: ['a@example.test'] }, 'mx'), [
    { index: 1, outcome: 'deferred', reply: '451 4.4.2 connection to mx lost during the transaction: Connection closed unexpectedly', remoteMta: 'mx' },
  ]);
  assert.equal(outcomesOfFailure(recipients, { message: 'Message size larger than allowed 100', code: 'EMESSAGE', command: 'MAIL FROM' }, undefined, 'mx')[0]?.outcome, 'failed');
});
