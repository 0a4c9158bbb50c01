/** The `Received:` trace header (RFC 5321 4.4) prepended to every accepted message. */

export interface TraceInfo {
  helo: string;
  clientAddress: string;
  hostname: string;
  /** RFC 3848 protocol: ESMTP, ESMTPS, ESMTPA, ESMTPSA, SMTP, UTF8SMTP … */
  protocol: string;
  id: string;
  tls?: { protocol: string; cipher: string };
  /** Named only for a single recipient, so one envelope cannot disclose the others. */
  recipient?: string;
  date: Date;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => String(n).padStart(2, '0');

/** RFC 5322 date-time in UTC. */
export function rfc5322Date(d: Date): string {
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** Address as it appears in a trace header: IPv4-mapped IPv6 unwrapped, IPv6 tagged. */
export function traceAddress(address: string): string {
  const v4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (v4) return v4[1] as string;
  return address.includes(':') ? `IPv6:${address}` : address;
}

/** The header, folded, ending in CRLF. Every interpolated value was validated by the session. */
export function receivedHeader(t: TraceInfo): string {
  const lines = [`Received: from ${t.helo} ([${traceAddress(t.clientAddress)}])`, `\tby ${t.hostname} (Sluice)`];
  if (t.tls) lines.push(`\t(using ${t.tls.protocol} with cipher ${t.tls.cipher})`);
  lines.push(`\twith ${t.protocol} id ${t.id}`);
  if (t.recipient !== undefined) lines.push(`\tfor <${t.recipient}>`);
  const last = lines.length - 1;
  lines[last] = `${lines[last]}; ${rfc5322Date(t.date)}`;
  return `${lines.join('\r\n')}\r\n`;
}
