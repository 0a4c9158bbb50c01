/** Local delivery connector: one Maildir per recipient, durable before it reports `delivered`. */
import { basename } from 'node:path';
import { MaildirWriter } from './maildir.ts';
import type { Connector, ConnectorItem, NextHop, RecipientOutcome } from './connector.ts';

/** Errors that will not go away by waiting are permanent; the rest (ENOSPC, EIO …) are retried. */
const PERMANENT = new Set(['EINVAL', 'ENAMETOOLONG']);

export class MaildirConnector implements Connector {
  readonly name = 'maildir';
  readonly #writer: MaildirWriter;

  constructor(root: string, hostname: string) {
    this.#writer = new MaildirWriter({ root, hostname });
  }

  close(): Promise<void> {
    return this.#writer.close();
  }

  async deliver(_hop: NextHop, items: readonly ConnectorItem[]): Promise<RecipientOutcome[][]> {
    // RFC 5321 §4.4: final delivery records the reverse-path as the first line.
    const flat = items.flatMap((item) => {
      const message = withReturnPath(item.envelope.sender, item.message);
      return item.recipients.map((r) => ({ domain: r.domain, localPart: r.localPart, message }));
    });
    const results = await this.#writer.deliver(flat);
    let at = 0;
    return items.map((item) =>
      item.recipients.map((r): RecipientOutcome => {
        const res = results[at++];
        // The file's name, not its path: delivery details reach read-only API users.
        if (res?.ok) return { index: r.index, outcome: 'delivered', detail: `250 2.0.0 delivered to Maildir as ${basename(res.path)}` };
        const err = res?.error ?? { code: 'EIO', message: 'no result' };
        return PERMANENT.has(err.code)
          ? { index: r.index, outcome: 'failed', reply: `550 5.1.3 cannot deliver to this mailbox (${err.code})` }
          : { index: r.index, outcome: 'deferred', reply: `451 4.3.0 mailbox write failed (${err.code})` };
      }),
    );
  }
}

const encoder = new TextEncoder();

function withReturnPath(sender: string, message: Uint8Array): Uint8Array {
  const line = encoder.encode(`Return-Path: <${sender}>\r\n`);
  const out = new Uint8Array(line.length + message.length);
  out.set(line, 0);
  out.set(message, line.length);
  return out;
}
