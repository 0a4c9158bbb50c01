/**
 * Delivery status notifications out of one attempt: failures, delays and (when asked) successes,
 * each a separate RFC 3464 report to the envelope sender, honoring NOTIFY per recipient, never for
 * the null sender. A report re-enters the pipeline as an ordinary message (spooled, then
 * categorized and delivered like any other). It is spooled before the attempt's outcome is
 * recorded, so a crash between the two can send a report twice but never loses one.
 */
import { buildDsn, statusOf, wantsReport, type DsnAction, type DsnRecipient } from '../reports/dsn.ts';
import type { Envelope } from '../spool/envelope.ts';
import type { RoutedRecipient, SpoolStore } from '../spool/store.ts';
import type { TrackingEntry } from '../tracking/index.ts';

export interface ReportDeps {
  spool: SpoolStore;
  hostname: string;
  newId(): string;
  track(entry: TrackingEntry): void;
}

/** A recipient this attempt has news about. */
export interface Notice {
  recipient: RoutedRecipient;
  action: DsnAction;
  /** The reply that decided it (failed, delayed) or the delivery detail. */
  diagnostic?: string;
  willRetryUntil?: number;
}

const SUCCESS: ReadonlySet<DsnAction> = new Set(['delivered', 'relayed', 'expanded']);

/** Spools the reports `notices` call for; returns the queue ids of the reports spooled. Throws when the spool refuses (the caller retries the attempt later). */
export async function sendReports(deps: ReportDeps, envelope: Envelope, original: Uint8Array, notices: readonly Notice[], now: number, messageId?: string): Promise<string[]> {
  if (envelope.sender === '' || notices.length === 0) return [];
  const groups: DsnRecipient[][] = [[], [], []];
  for (const n of notices) {
    const source = n.recipient.from !== undefined ? envelope.recipients[n.recipient.from] : undefined;
    if (!wantsReport(source?.notify, n.action)) continue;
    const r: DsnRecipient = { address: n.recipient.address, action: n.action, status: statusFor(n), lastAttemptAt: now };
    if (source?.orcpt) r.orcpt = source.orcpt;
    if (n.diagnostic !== undefined && !SUCCESS.has(n.action)) r.diagnostic = n.diagnostic;
    if (n.recipient.remoteMta !== undefined) r.remoteMta = n.recipient.remoteMta;
    if (n.willRetryUntil !== undefined) r.willRetryUntil = n.willRetryUntil;
    groups[n.action === 'failed' ? 0 : n.action === 'delayed' ? 1 : 2]!.push(r);
  }
  const spooled: string[] = [];
  for (const recipients of groups) {
    if (recipients.length === 0) continue;
    const id = deps.newId();
    const built = buildDsn({
      reportingMta: deps.hostname,
      envelope: {
        id: envelope.id,
        sender: envelope.sender,
        receivedAt: envelope.receivedAt,
        client: { address: envelope.client.address, helo: envelope.client.helo },
        ...(envelope.envid !== undefined ? { envid: envelope.envid } : {}),
        ...(envelope.ret !== undefined ? { ret: envelope.ret } : {}),
      },
      recipients,
      original,
      now,
      messageId: `dsn.${id}@${deps.hostname}`,
    });
    if (built === null) continue;
    const report: Envelope = {
      id,
      sender: '',
      recipients: [{ address: built.recipient, notify: 'NEVER' }],
      receivedAt: now,
      size: built.message.length,
      bodyType: '8BITMIME',
      smtputf8: envelope.smtputf8,
      client: { address: '127.0.0.1', port: 0, helo: deps.hostname, tls: false },
    };
    await deps.spool.accept(report, [built.message]);
    spooled.push(id);
    deps.track({
      at: now,
      event: 'DSN',
      queueId: envelope.id,
      ...(messageId !== undefined ? { messageId } : {}),
      sender: envelope.sender,
      recipients: recipients.map((r) => r.address),
      detail: { action: recipients[0]!.action, report: id },
    });
  }
  return spooled;
}

/** The RFC 3463 status of a notice: from its reply, else from its action's class. */
function statusFor(n: Notice): string {
  const fallback = SUCCESS.has(n.action) ? '2.0.0' : n.action === 'failed' ? '5.0.0' : '4.0.0';
  if (n.diagnostic === undefined || SUCCESS.has(n.action)) return fallback;
  try {
    return statusOf(n.diagnostic);
  } catch {
    return fallback;
  }
}
