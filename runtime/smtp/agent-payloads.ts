/** Builds the receive events' payloads (sdk/event-payloads.ts) from session facts: plain data, copied into sandboxes as JSON. */
import { Buffer } from 'node:buffer';
import type { EnvelopeInfo, SessionInfo } from '../../sdk/event-payloads.ts';
import type { MailParams } from './params.ts';
import type { TlsInfo } from './session-types.ts';
import type { Transaction } from './transaction.ts';

export interface SessionFacts {
  id: string;
  client: { address: string; port: number };
  helo: string | null;
  tls: TlsInfo | null;
  user: string | null;
}

export function sessionInfo(facts: SessionFacts): SessionInfo {
  const info: SessionInfo = { id: facts.id, client: { address: facts.client.address, port: facts.client.port } };
  if (facts.helo !== null) info.helo = facts.helo;
  if (facts.tls !== null) info.tls = { protocol: facts.tls.protocol, cipher: facts.tls.cipher };
  if (facts.user !== null) info.user = facts.user;
  return info;
}

/** MAIL parameters as agents see them (AUTH= is the server's business, not theirs). */
export function mailParamsInfo(params: MailParams): EnvelopeInfo['mailParams'] {
  const out: EnvelopeInfo['mailParams'] = { smtputf8: params.smtputf8 };
  if (params.size !== undefined) out.size = params.size;
  if (params.body !== undefined) out.body = params.body;
  if (params.ret !== undefined) out.ret = params.ret;
  if (params.envid !== undefined) out.envid = params.envid;
  return out;
}

export function envelopeInfo(tx: Transaction): EnvelopeInfo {
  return { sender: tx.sender, recipients: tx.recipients.map((r) => r.address), mailParams: mailParamsInfo(tx.params) };
}


/** Base64 of the message, for agents whose manifest asked for the body. */
export function base64Of(message: Uint8Array): string {
  return Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('base64');
}
