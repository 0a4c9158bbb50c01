/**
 * Checks a `DsnInput` before anything is built, throwing a `DsnInputError` that names the field.
 * The caller is our own queue, not a trust boundary, and the contract's types are fixed, so the
 * checks are written by hand rather than as a valibot schema. Values we own (host name, ids,
 * addresses the session validated, codes, times) must be right; free text that came from elsewhere
 * (SMTP replies, HELO, ENVID, remote host names) is not refused but made safe when written.
 */
import { findInvalidCharacter } from '../smtp/address.ts';
import { DsnInputError } from './dsn-input-error.ts';
import type { DsnAction, DsnInput, DsnRecipient } from './dsn-types.ts';

const ACTIONS: readonly DsnAction[] = ['failed', 'delayed', 'delivered', 'relayed', 'expanded'];
const STATUS = /^[245]\.[0-9]{1,3}\.[0-9]{1,3}$/;
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
/** RFC 5322 id-left "@" id-right, printable ASCII without "<", ">", "@" or spaces. */
const MESSAGE_ID = /^[!-;=?A-~]{1,450}@[!-;=?A-~]{1,450}$/;
/** An RFC 822 atom (the ORCPT addr-type). */
const ADDR_TYPE = /^[!#-'*+\-/-9=?A-Z^-~]{1,40}$/;
const QUEUE_ID = /^[!-~]{1,200}$/;

const fail = (field: string, problem: string): never => {
  throw new DsnInputError(field, problem);
};

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  return typeof value === 'number' ? String(value) : typeof value;
}

function record(field: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, `expected an object, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

function text(field: string, value: unknown): string {
  if (typeof value !== 'string') fail(field, `expected a string, got ${describe(value)}`);
  return value as string;
}

function hostname(field: string, value: unknown): void {
  const host = text(field, value);
  if (host.length === 0 || host.length > 253) fail(field, `expected a host name of 1 to 253 characters, got ${describe(host)}`);
  for (const label of host.split('.')) {
    if (!LABEL.test(label)) fail(field, `is not a host name (label ${describe(label)}): ${describe(host)}`);
  }
}

function timestamp(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || Number.isNaN(new Date(value).getTime())) {
    fail(field, `expected a time in epoch milliseconds, got ${describe(value)}`);
  }
}

function address(field: string, value: unknown): void {
  const addr = text(field, value);
  if (addr.length === 0) fail(field, 'is empty');
  const bad = findInvalidCharacter(addr);
  if (bad !== null) fail(field, `contains ${bad}`);
}

function recipient(field: string, value: unknown): void {
  const r = record(field, value) as Partial<Record<keyof DsnRecipient, unknown>>;
  address(`${field}.address`, r.address);
  if (r.orcpt !== undefined) {
    const o = record(`${field}.orcpt`, r.orcpt);
    if (!ADDR_TYPE.test(text(`${field}.orcpt.type`, o.type))) fail(`${field}.orcpt.type`, `expected an address type such as rfc822 or utf-8, got ${describe(o.type)}`);
    address(`${field}.orcpt.address`, o.address);
  }
  if (!ACTIONS.includes(r.action as DsnAction)) fail(`${field}.action`, `expected one of ${ACTIONS.join(', ')}, got ${describe(r.action)}`);
  if (!STATUS.test(text(`${field}.status`, r.status))) fail(`${field}.status`, `expected an RFC 3463 code such as 5.1.1, got ${describe(r.status)}`);
  if (r.diagnostic !== undefined) text(`${field}.diagnostic`, r.diagnostic);
  if (r.remoteMta !== undefined) text(`${field}.remoteMta`, r.remoteMta);
  if (r.lastAttemptAt !== undefined) timestamp(`${field}.lastAttemptAt`, r.lastAttemptAt);
  if (r.willRetryUntil !== undefined) {
    if (r.action !== 'delayed') fail(`${field}.willRetryUntil`, `only a delayed recipient is retried (action is ${String(r.action)})`);
    timestamp(`${field}.willRetryUntil`, r.willRetryUntil);
  }
}

/** Throws `DsnInputError` for the first field that breaks the contract. */
export function checkDsnInput(input: unknown): asserts input is DsnInput {
  const i = record('input', input);
  hostname('reportingMta', i.reportingMta);
  const e = record('envelope', i.envelope);
  if (!QUEUE_ID.test(text('envelope.id', e.id))) fail('envelope.id', `expected 1 to 200 printable ASCII characters without spaces, got ${describe(e.id)}`);
  address('envelope.sender', e.sender);
  if (e.envid !== undefined) text('envelope.envid', e.envid);
  if (e.ret !== undefined && e.ret !== 'FULL' && e.ret !== 'HDRS') fail('envelope.ret', `expected FULL or HDRS, got ${describe(e.ret)}`);
  timestamp('envelope.receivedAt', e.receivedAt);
  if (e.client !== undefined) {
    const c = record('envelope.client', e.client);
    text('envelope.client.address', c.address);
    text('envelope.client.helo', c.helo);
  }
  if (!Array.isArray(i.recipients)) fail('recipients', `expected an array, got ${describe(i.recipients)}`);
  const recipients = i.recipients as unknown[];
  if (recipients.length === 0) fail('recipients', 'is empty: a report is about at least one recipient');
  recipients.forEach((r, n) => recipient(`recipients[${n}]`, r));
  if (!(i.original instanceof Uint8Array)) fail('original', `expected a Uint8Array, got ${describe(i.original)}`);
  timestamp('now', i.now);
  if (!MESSAGE_ID.test(text('messageId', i.messageId))) {
    fail('messageId', `expected id-left@id-right without <> or spaces, got ${describe(i.messageId)}`);
  }
  if (i.maxReturnBytes !== undefined && !(Number.isSafeInteger(i.maxReturnBytes) && (i.maxReturnBytes as number) >= 0)) {
    fail('maxReturnBytes', `expected a whole number of bytes, got ${describe(i.maxReturnBytes)}`);
  }
}
