/** The end of the receive side: turns a finished SMTP transaction into a spooled envelope + message. */
import type { Transaction } from '../smtp/transaction.ts';
import type { CommitContext, CommitResult } from '../smtp/session-types.ts';
import { receivedHeader } from '../smtp/received-header.ts';
import type { Envelope, Recipient } from '../spool/envelope.ts';
import type { SpoolStore } from '../spool/store.ts';
import { SpoolError } from '../spool/spool-error.ts';
import type { LogFn } from '../log/logger.ts';
import type { TrackingEntry } from '../tracking/index.ts';
import { messageIdOf } from './categorizer.ts';
import { parseHeaders } from '../message/headers.ts';

export interface AcceptDeps {
  spool: SpoolStore;
  hostname: string;
  newId(): string;
  now(): number;
  log: LogFn;
  /** Message tracking: a RECEIVE entry per accepted message. */
  track?: (entry: TrackingEntry) => void;
}

const encoder = new TextEncoder();

function recipientOf(r: Transaction['recipients'][number]): Recipient {
  const out: Recipient = { address: r.address };
  if (r.params.notify !== undefined) out.notify = r.params.notify;
  if (r.params.orcpt !== undefined) out.orcpt = r.params.orcpt;
  return out;
}

/** Returns the session's commit port: 250 only after `spool.accept` resolved. */
export function createAcceptor(deps: AcceptDeps): (tx: Transaction, ctx: CommitContext) => Promise<CommitResult> {
  return async (tx, ctx) => {
    const id = deps.newId();
    const now = deps.now();
    const single = tx.recipients.length === 1 ? tx.recipients[0]?.address : undefined;
    const trace = receivedHeader({
      helo: ctx.helo,
      clientAddress: ctx.client.address,
      hostname: deps.hostname,
      protocol: ctx.protocol,
      id,
      ...(ctx.tls ? { tls: ctx.tls } : {}),
      ...(single !== undefined ? { recipient: single } : {}),
      date: new Date(now),
    });
    const header = encoder.encode(trace);
    const envelope: Envelope = {
      id,
      sender: tx.sender,
      recipients: tx.recipients.map(recipientOf),
      receivedAt: now,
      size: header.length + tx.size,
      bodyType: tx.params.body ?? '7BIT',
      smtputf8: tx.params.smtputf8,
      client: { address: ctx.client.address, port: ctx.client.port, helo: ctx.helo, tls: ctx.tls !== null, ...(ctx.user !== null ? { user: ctx.user } : {}) },
      ...(tx.params.ret !== undefined ? { ret: tx.params.ret } : {}),
      ...(tx.params.envid !== undefined ? { envid: tx.params.envid } : {}),
    };
    const fields = { id, from: tx.sender, to: envelope.recipients.map((r) => r.address), size: envelope.size, client: ctx.client.address };
    try {
      await deps.spool.accept(envelope, [header, ...tx.chunks]);
    } catch (err) {
      const code = err instanceof SpoolError ? err.code : 'SPOOL_IO';
      deps.log('error', 'message.not-accepted', { ...fields, result: code, error: String((err as Error)?.message ?? err) });
      return { ok: false, reply: code === 'SPOOL_FULL' ? 'spoolFull' : 'spoolIo' };
    }
    deps.log('info', 'message.accepted', { ...fields, result: 'queued' });
    if (deps.track) {
      const messageId = tx.chunks[0] !== undefined ? messageIdOf(parseHeaders(tx.chunks[0])) : undefined;
      deps.track({ at: now, event: 'RECEIVE', queueId: id, ...(messageId !== undefined ? { messageId } : {}), sender: tx.sender, recipients: fields.to, reply: `250 2.0.0 queued as ${id}`, detail: { client: ctx.client.address, size: envelope.size } });
    }
    return { ok: true, id };
  };
}
