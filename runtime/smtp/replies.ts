/** Every SMTP reply the server sends, as data: a key names it, the table gives code, RFC 3463 status and text. */

export interface Reply {
  readonly code: number;
  /** RFC 3463 enhanced status code; absent only where RFC 2034 exempts it (greeting, EHLO/HELO). */
  readonly status?: string;
  readonly lines: readonly string[];
}

const table = {
  // 2xx
  ok: [250, '2.0.0', 'OK'],
  senderOk: [250, '2.1.0', 'Sender OK'],
  recipientOk: [250, '2.1.5', 'Recipient OK'],
  queued: [250, '2.0.0', 'OK: queued as %s'],
  chunkOk: [250, '2.0.0', '%s octets received'],
  reset: [250, '2.0.0', 'Flushed'],
  vrfy: [252, '2.5.0', 'Cannot VRFY user, but will accept message and attempt delivery'],
  help: [214, '2.0.0', 'Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH'],
  bye: [221, '2.0.0', 'Bye'],
  authOk: [235, '2.7.0', 'Authentication successful'],
  startTls: [220, '2.0.0', 'Ready to start TLS'],
  // 3xx
  startData: [354, undefined, 'End data with <CR><LF>.<CR><LF>'],
  // 4xx
  tooManyConnections: [421, '4.7.0', 'Too many connections, try again later'],
  tooManyClientConnections: [421, '4.7.0', 'Too many connections from your address, try again later'],
  tooManyErrors: [421, '4.7.0', 'Too many errors, closing connection'],
  tooManyUnknown: [421, '4.7.0', 'Too many unrecognized commands, closing connection'],
  tooManyAuthFailures: [421, '4.7.0', 'Too many authentication failures, closing connection'],
  tooManyMessages: [421, '4.7.0', 'Too many messages in one connection, closing connection'],
  timeout: [421, '4.4.2', 'Timeout, closing connection'],
  shuttingDown: [421, '4.3.2', 'Service shutting down, closing connection'],
  httpRequest: [421, '4.7.0', 'This is an SMTP server, not HTTP: closing connection'],
  internalError: [451, '4.3.0', 'Internal error, closing connection; try again later'],
  spoolIo: [451, '4.3.0', 'Temporary failure writing to the queue, message not accepted; try again later'],
  spoolFull: [452, '4.3.1', 'Insufficient system storage, message not accepted; try again later'],
  tooManyRecipients: [452, '4.5.3', 'Too many recipients'],
  // 5xx: syntax and sequence
  unknownCommand: [500, '5.5.2', 'Syntax error, command unrecognized'],
  lineTooLong: [500, '5.5.2', 'Line too long'],
  nulInCommand: [500, '5.5.2', 'NUL character in command'],
  invalidUtf8: [501, '5.5.2', 'Invalid UTF-8 in command'],
  syntax: [501, '5.5.4', 'Syntax: %s'],
  badParam: [501, '5.5.4', '%s'],
  badAddress: [501, '5.1.3', '%s'],
  badSender: [501, '5.1.7', '%s'],
  unsupportedCommand: [502, '5.5.1', 'Command not supported here'],
  badSequence: [503, '5.5.1', '%s'],
  unsupportedMechanism: [504, '5.5.4', 'Unrecognized authentication mechanism'],
  unsupportedParamValue: [504, '5.5.4', '%s'],
  unknownParam: [555, '5.5.4', '%s'],
  bareLf: [550, '5.5.2', 'Error: bare <LF> received'],
  bareCr: [550, '5.5.2', 'Error: bare <CR> received'],
  nulInData: [550, '5.6.0', 'Error: NUL character in message content'],
  longTextLine: [550, '5.5.2', 'Message contains a line longer than %s octets'],
  needsSmtputf8: [553, '5.6.7', 'Must declare SMTPUTF8 to send a non-ASCII address'],
  messageTooBig: [552, '5.3.4', 'Message size exceeds fixed limit of %s octets'],
  relayDenied: [554, '5.7.1', 'Relay access denied'],
  unknownUser: [550, '5.1.1', '<%s>: Recipient address rejected: User unknown in local recipient table'],
  noValidRecipients: [554, '5.5.1', 'No valid recipients'],
  syncError: [554, '5.5.0', 'Error: SMTP protocol synchronization'],
  pregreet: [554, '5.5.0', 'Error: talking before the greeting'],
  tlsActive: [554, '5.5.1', 'Error: TLS already active'],
  tlsUnavailable: [454, '4.7.0', 'TLS not available'],
  // authentication (RFC 4954)
  authRequired: [530, '5.7.0', 'Authentication required'],
  encryptionRequired: [538, '5.7.11', 'Encryption required for requested authentication mechanism'],
  authInvalid: [535, '5.7.8', 'Authentication credentials invalid'],
  authCancelled: [501, '5.0.0', 'Authentication cancelled'],
  authBadData: [501, '5.5.2', '%s'],
  authTempFail: [454, '4.7.0', 'Temporary authentication failure'],
} as const satisfies Record<string, readonly [number, string | undefined, string]>;

export type ReplyKey = keyof typeof table;

/** The reply for `key`, with each `%s` in its text replaced by the next argument. */
export function reply(key: ReplyKey, ...args: (string | number)[]): Reply {
  const [code, status, text] = table[key];
  let i = 0;
  const line = text.replace(/%s/g, () => String(args[i++] ?? ''));
  return status === undefined ? { code, lines: [line] } : { code, status, lines: [line] };
}

/** A reply with free lines and no enhanced code (greeting, EHLO/HELO, SASL challenges). */
export function plainReply(code: number, lines: readonly string[]): Reply {
  return { code, lines };
}

/** Wire form: multi-line replies use `code-` continuation lines (RFC 5321 4.2.1). */
export function formatReply(r: Reply): string {
  let out = '';
  const last = r.lines.length - 1;
  r.lines.forEach((line, i) => {
    const prefix = r.status === undefined ? '' : `${r.status} `;
    out += `${r.code}${i === last ? ' ' : '-'}${prefix}${line}\r\n`;
  });
  return out;
}

/** True for replies that count as errors against the session's error limit. */
export function isErrorReply(r: Reply): boolean {
  return r.code >= 400;
}
