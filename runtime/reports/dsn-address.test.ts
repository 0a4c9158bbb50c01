import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeUtf8Address, encodeUtf8Address, originalRecipient, typedAddress } from './dsn-address.ts';

test('ASCII addresses are rfc822, others utf-8 in the form of the part', () => {
  assert.equal(typedAddress('bob@example.net', 'xtext'), 'rfc822; bob@example.net');
  assert.equal(typedAddress('bob@example.net', 'unitext'), 'rfc822; bob@example.net');
  assert.equal(typedAddress('jösé@bücher.example', 'xtext'), 'utf-8; j\\x{F6}s\\x{E9}@b\\x{FC}cher.example');
  assert.equal(typedAddress('jösé@bücher.example', 'unitext'), 'utf-8; jösé@bücher.example');
});

test('utf-8 addresses escape the RFC 6533 specials in both forms, with minimal upper-case HEXPOINTs', () => {
  assert.equal(encodeUtf8Address('a+b=c\\d e@x', 'unitext'), 'a\\x{2B}b\\x{3D}c\\x{5C}d\\x{20}e@x');
  assert.equal(encodeUtf8Address('é€😀@x', 'xtext'), '\\x{E9}\\x{20AC}\\x{1F600}@x');
  assert.equal(encodeUtf8Address('é€😀@x', 'unitext'), 'é€😀@x');
});

test('escapes decode back; malformed or surrogate escapes are left alone', () => {
  for (const address of ['jösé+tag@bücher.example', 'a b\\c=d@x', '😀@x']) {
    assert.equal(decodeUtf8Address(encodeUtf8Address(address, 'xtext')), address);
    assert.equal(decodeUtf8Address(encodeUtf8Address(address, 'unitext')), address);
  }
  assert.equal(decodeUtf8Address('\\x{D800}\\x{110000}\\x{}\\x{zz}@x'), '\\x{D800}\\x{110000}\\x{}\\x{zz}@x');
});

test('Original-Recipient keeps the ORCPT type, re-encoded for the part', () => {
  assert.equal(originalRecipient({ type: 'rfc822', address: 'Bob@example.net' }, 'xtext'), 'rfc822; Bob@example.net');
  assert.equal(originalRecipient({ type: 'UTF-8', address: 'd\\x{F6}rte@x' }, 'unitext'), 'utf-8; dörte@x');
  assert.equal(originalRecipient({ type: 'utf-8', address: 'dörte@x' }, 'xtext'), 'utf-8; d\\x{F6}rte@x');
  assert.equal(originalRecipient({ type: 'utf-8', address: 'plain@x' }, 'xtext'), 'utf-8; plain@x');
  assert.equal(originalRecipient({ type: 'rfc822', address: 'dörte@x' }, 'xtext'), 'utf-8; d\\x{F6}rte@x', 'rfc822 is ASCII only');
  assert.equal(originalRecipient({ type: 'x400', address: 'c=de;ö' }, 'xtext'), 'x400; c=de;\\x{F6}');
  assert.equal(originalRecipient({ type: 'x400', address: 'c=de;ö' }, 'unitext'), 'x400; c=de;ö');
});
