/**
 * For the pipeline crash tests: a receiving MTA (nodemailer's smtp-server on 127.0.0.1) that can
 * hold its reply to the end of DATA, so a delivery stays in flight until the sender is killed, and
 * that records per transaction whether its 250 actually went out to a live connection.
 */
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

export interface HoldingPeerOptions {
  /** Hold the end-of-DATA reply of a transaction to one of these recipients (lowercase) while `holding` is on. */
  holdFor: readonly string[];
}

export interface PeerTransaction {
  /** Order of arrival, from 0. */
  seq: number;
  /** The value of `epoch` when the session connected: tells one sender process's sessions from the next's. */
  epoch: number;
  session: string;
  /** The Message-ID without angle brackets ('' when absent). */
  messageId: string;
  to: string[];
  /** The reply was held (not sent when the transaction arrived). */
  held: boolean;
  /** A 250 was written to a connection that was still open. */
  acked: boolean;
}

export interface HoldingPeer {
  port: number;
  /** Hold matching transactions; turn off before the sender restarts. */
  holding: boolean;
  /** Stamped on each session at connect. */
  epoch: number;
  transactions: PeerTransaction[];
  close(): Promise<void>;
}

const MESSAGE_ID = /^Message-ID:[ \t]*<([^>\r\n]+)>/im;

export async function startHoldingPeer(options: HoldingPeerOptions): Promise<HoldingPeer> {
  const hold = new Set(options.holdFor.map((a) => a.toLowerCase()));
  const epochs = new Map<string, number>();
  const closed = new Set<string>();
  const peer: HoldingPeer = { port: 0, holding: true, epoch: 0, transactions: [], close: async () => {} };
  const server = new SMTPServer({
    logger: false,
    secure: false,
    disabledCommands: ['STARTTLS', 'AUTH'],
    hideSTARTTLS: true,
    hideENHANCEDSTATUSCODES: true,
    hideDSN: false,
    disableReverseLookup: true,
    authOptional: true,
    onConnect(session, callback) {
      epochs.set(session.id, peer.epoch);
      callback();
    },
    onClose(session) {
      closed.add(session.id);
    },
    onData(stream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        const text = Buffer.concat(chunks).toString('latin1');
        const headerEnd = text.indexOf('\r\n\r\n');
        const messageId = MESSAGE_ID.exec(headerEnd === -1 ? text : text.slice(0, headerEnd))?.[1] ?? '';
        const held = peer.holding && to.some((a) => hold.has(a));
        const record: PeerTransaction = { seq: peer.transactions.length, epoch: epochs.get(session.id) ?? -1, session: session.id, messageId, to, held, acked: false };
        peer.transactions.push(record);
        // A held reply is never sent: the sender is killed while it waits, which ends the session.
        if (held || closed.has(session.id)) return;
        record.acked = true;
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.server.address();
  peer.port = typeof address === 'object' && address !== null ? address.port : 0;
  peer.close = () => new Promise((resolve) => server.close(() => resolve()));
  return peer;
}
