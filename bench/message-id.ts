// Finds the load client's Message-ID in a message as the sink receives it (or as smtp-sink dumps it).

// The Message-ID is in the header, well within the first few KiB (relays put their trace fields above it).
export const HEADER_SCAN_BYTES = 16 * 1024;
const MESSAGE_ID = /^Message-ID:[ \t]*<([^>\r\n]{1,250})>/im;

/**
 * The Message-ID (without angle brackets) in the header at the start of `text`, or '' if there is
 * none there. `anywhere` also looks past the first blank line (a dump file with fields of its own
 * above the message).
 */
export function findMessageId(text: string, anywhere = false): string {
  const end = anywhere ? -1 : text.indexOf('\r\n\r\n');
  return MESSAGE_ID.exec(end === -1 ? text : text.slice(0, end))?.[1] ?? '';
}
