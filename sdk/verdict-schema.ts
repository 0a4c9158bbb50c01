/**
 * The verdicts agents return, as valibot schemas. The runtime validates every result that leaves a
 * sandbox against these; the TypeScript types agents code against are inferred from them, so the
 * contract is written once. (Agents import only the types: valibot never enters a bundle.)
 */
import * as v from 'valibot';

const HeaderName = v.pipe(v.string(), v.regex(/^[!-9;-~]{1,76}$/, 'a header name: printable ASCII without ":" or spaces, at most 76 octets'));
/**
 * Printable ASCII and tab only: no CR or LF, so a value can never start a new header line, and no
 * 8-bit octets, so a 7-bit message stays 7-bit (encode with RFC 2047 first). At most 900 octets, so
 * `name: value` always fits one 998-octet line.
 */
const HeaderValue = v.pipe(v.string(), v.maxLength(900), v.regex(/^[\t -~]*$/, 'a header value of printable ASCII (RFC 2047-encode the rest), without CR or LF'));
const Text = v.pipe(v.string(), v.minLength(1), v.maxLength(400), v.regex(/^[ -~]*$/, 'printable ASCII reply text'));
const Enhanced = (cls: '4' | '5') => v.pipe(v.string(), v.regex(new RegExp(`^${cls}\\.\\d{1,3}\\.\\d{1,3}$`), `an RFC 3463 code starting ${cls}.`));
const ReplyCode = (low: 400 | 500) =>
  v.pipe(v.number(), v.integer(), v.minValue(low, `a ${low / 100}xx reply code`), v.maxValue(low + 59, `a ${low / 100}xx reply code`));
const Address = v.pipe(v.string(), v.minLength(1), v.maxLength(512), v.regex(/^[^\s<>\0]+$/, 'a mailbox without spaces or angle brackets'));

/**
 * Add, replace (all occurrences) or remove a header of the message.
 * @example
 * v.is(HeaderEditSchema, { op: 'add', name: 'X-Scanned', value: 'yes' }); // true
 */
export const HeaderEditSchema = v.variant('op', [
  v.object({ op: v.literal('add'), name: HeaderName, value: HeaderValue }),
  v.object({ op: v.literal('set'), name: HeaderName, value: HeaderValue }),
  v.object({ op: v.literal('remove'), name: HeaderName }),
]);

/**
 * Let the command or message go on, optionally with header edits.
 * @example
 * v.is(ContinueSchema, { verdict: 'continue', headers: [{ op: 'remove', name: 'X-Spam' }] }); // true
 */
export const ContinueSchema = v.object({
  verdict: v.literal('continue'),
  /** Only on onEndOfHeaders and onEndOfData (receive) and on the routing events that may edit. */
  headers: v.optional(v.pipe(v.array(HeaderEditSchema), v.maxLength(64))),
});

/**
 * Refuse with a permanent 5xx reply.
 * @example
 * v.is(RejectSchema, { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'Not here' }); // true
 */
export const RejectSchema = v.object({
  verdict: v.literal('reject'),
  code: ReplyCode(500),
  enhanced: Enhanced('5'),
  text: Text,
});

/**
 * Refuse with a temporary 4xx reply (the client retries).
 * @example
 * v.is(TempfailSchema, { verdict: 'tempfail', code: 451, enhanced: '4.7.1', text: 'Try later' }); // true
 */
export const TempfailSchema = v.object({
  verdict: v.literal('tempfail'),
  code: ReplyCode(400),
  enhanced: Enhanced('4'),
  text: Text,
});

/**
 * Close the connection (with 421 and this text, if given).
 * @example
 * v.is(DisconnectSchema, { verdict: 'disconnect', text: 'Bye' }); // true
 */
export const DisconnectSchema = v.object({ verdict: v.literal('disconnect'), text: v.optional(Text) });

/**
 * Any verdict a receive handler may return.
 * @example
 * const checked = v.safeParse(ReceiveVerdictSchema, JSON.parse(agentOutput));
 */
export const ReceiveVerdictSchema = v.variant('verdict', [ContinueSchema, RejectSchema, TempfailSchema, DisconnectSchema]);

/**
 * Per-recipient changes a routing agent may make.
 * @example
 * v.is(RecipientEditSchema, { op: 'override', address: 'a@example.com', route: 'smarthost' }); // true
 */
export const RecipientEditSchema = v.variant('op', [
  v.object({ op: v.literal('add'), address: Address }),
  v.object({ op: v.literal('remove'), address: Address }),
  /** Deliver to `to` instead, keeping the recipient's NOTIFY and ORCPT (its DSNs still name the original). */
  v.object({ op: v.literal('rewrite'), address: Address, to: Address }),
  /** Route this recipient to a named connector or host, whatever its domain says. */
  v.object({ op: v.literal('override'), address: Address, route: v.pipe(v.string(), v.minLength(1), v.maxLength(255)) }),
  /**
   * Split these recipients off into a copy of the message of their own (Exchange's fork), which is
   * categorized again from onSubmittedMessage, so that later decisions apply to each copy apart.
   */
  v.object({ op: v.literal('fork'), addresses: v.pipe(v.array(Address), v.minLength(1), v.maxLength(1000)) }),
]);

/**
 * A replacement message body, base64 (bounded by what a sandbox may answer: 64 Ki characters).
 * @example
 * v.is(BodySchema, btoa('This message was removed by policy.\r\n')); // true
 */
export const BodySchema = v.pipe(v.string(), v.maxLength(65_536), v.regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64'), v.check((s) => s.length % 4 === 0, 'base64 (a multiple of 4 characters)'));

/**
 * @example
 * v.is(RoutingVerdictSchema, { verdict: 'defer', delayMs: 60000, reason: 'Scanner busy' }); // true
 */
export const RoutingVerdictSchema = v.variant('verdict', [
  v.object({
    verdict: v.literal('continue'),
    headers: v.optional(v.pipe(v.array(HeaderEditSchema), v.maxLength(64))),
    recipients: v.optional(v.pipe(v.array(RecipientEditSchema), v.maxLength(1000))),
    /** A new body (everything after the header section), base64; the last agent that sets one wins. */
    body: v.optional(BodySchema),
  }),
  /** Put the message back and try this stage again later. */
  v.object({ verdict: v.literal('defer'), delayMs: v.pipe(v.number(), v.integer(), v.minValue(1000), v.maxValue(7 * 24 * 3600_000)), reason: Text }),
  /** Drop the message: no delivery, no DSN; recorded in tracking. */
  v.object({ verdict: v.literal('delete'), reason: Text }),
  v.object({ verdict: v.literal('quarantine'), reason: Text }),
]);

/**
 * A delivery agent's answer for one recipient of a mail item.
 * @example
 * v.is(RecipientAckSchema, { address: 'a@example.com', status: 'delivered' }); // true
 */
export const RecipientAckSchema = v.variant('status', [
  v.object({ address: Address, status: v.literal('delivered') }),
  v.object({ address: Address, status: v.literal('deferred'), reason: Text }),
  v.object({ address: Address, status: v.literal('failed'), code: ReplyCode(500), enhanced: Enhanced('5'), reason: Text }),
]);

/**
 * @example
 * v.is(DeliveryResultSchema, { recipients: [{ address: 'a@example.com', status: 'delivered' }] }); // true
 */
export const DeliveryResultSchema = v.object({ recipients: v.pipe(v.array(RecipientAckSchema), v.maxLength(1000)) });

/**
 * A header edit.
 * @example
 * const edit: HeaderEdit = { op: 'set', name: 'Subject', value: '[external] hi' };
 */
export type HeaderEdit = v.InferOutput<typeof HeaderEditSchema>;
/**
 * A receive verdict.
 * @example
 * const verdict: ReceiveVerdict = { verdict: 'continue' };
 */
export type ReceiveVerdict = v.InferOutput<typeof ReceiveVerdictSchema>;
/**
 * A routing agent's change to one recipient.
 * @example
 * const edit: RecipientEdit = { op: 'add', address: 'archive@example.com' };
 */
export type RecipientEdit = v.InferOutput<typeof RecipientEditSchema>;
/**
 * A routing verdict.
 * @example
 * const verdict: RoutingVerdict = { verdict: 'delete', reason: 'duplicate' };
 */
export type RoutingVerdict = v.InferOutput<typeof RoutingVerdictSchema>;
/**
 * A delivery agent's answer for one recipient.
 * @example
 * const ack: RecipientAck = { address: 'a@example.com', status: 'deferred', reason: 'Busy' };
 */
export type RecipientAck = v.InferOutput<typeof RecipientAckSchema>;
/**
 * A delivery agent's answer for a mail item.
 * @example
 * const result: DeliveryResult = { recipients: [] };
 */
export type DeliveryResult = v.InferOutput<typeof DeliveryResultSchema>;
