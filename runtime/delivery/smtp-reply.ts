/** A remote SMTP reply as it is recorded per recipient: one line, always with an RFC 3463 enhanced code. */

const CONTROL = /[\x00-\x1f\x7f]+/g;
const LINE = /^(\d{3})(?:[ -](.*))?$/;
const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3})(?:\s+(.*))?$/;

/**
 * `550-5.1.1 no such user\r\n550 5.1.1 try again` → `550 5.1.1 no such user try again`. A reply
 * without an enhanced code gets the class's generic one (`451 4.0.0 …`, `550 5.0.0 …`); text
 * without a reply code gets `fallbackCode`.
 */
export function normalizeReply(response: string, fallbackCode = 451): string {
  let code: string | undefined;
  let enhanced: string | undefined;
  const texts: string[] = [];
  for (const raw of response.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    const match = LINE.exec(line);
    let rest = match ? (match[2] ?? '') : line;
    if (match) code ??= match[1];
    const withEnhanced = ENHANCED.exec(rest);
    if (withEnhanced) {
      enhanced ??= withEnhanced[1];
      rest = withEnhanced[2] ?? '';
    }
    if (rest !== '') texts.push(rest);
  }
  code ??= String(fallbackCode);
  const replyClass = code[0] ?? '4';
  // An enhanced code of another class than the reply (a 451 with 5.1.1) would contradict it.
  if (enhanced === undefined || enhanced[0] !== replyClass) enhanced = `${replyClass}.0.0`;
  const text = texts.join(' ').replace(CONTROL, ' ').trim().slice(0, 1000);
  return text === '' ? `${code} ${enhanced}` : `${code} ${enhanced} ${text}`;
}

/** True for a 5xx reply: the recipient fails for good; anything else is tried again later. */
export function isPermanentReply(reply: string): boolean {
  return reply.startsWith('5');
}
