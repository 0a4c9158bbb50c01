/** The message transfer envelope as it is stored in the spool: a trust boundary, so it has a schema. */
import * as v from 'valibot';

/** RFC 3461 NOTIFY: either NEVER alone or a set of conditions. */
export const NotifySchema = v.union([
  v.literal('NEVER'),
  v.pipe(v.array(v.picklist(['SUCCESS', 'FAILURE', 'DELAY'])), v.minLength(1), v.maxLength(3)),
]);

export const RecipientSchema = v.object({
  /** Forward-path mailbox as received (source route stripped); may hold UTF-8 when SMTPUTF8 was used. */
  address: v.pipe(v.string(), v.minLength(1), v.maxLength(512)),
  notify: v.optional(NotifySchema),
  /** RFC 3461 ORCPT, xtext-decoded. */
  orcpt: v.optional(v.object({ type: v.string(), address: v.string() })),
});

export const ClientInfoSchema = v.object({
  address: v.string(),
  port: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)),
  helo: v.string(),
  tls: v.boolean(),
  user: v.optional(v.string()),
});

export const EnvelopeSchema = v.object({
  /** Queue id, unique across restarts. */
  id: v.pipe(v.string(), v.regex(/^[0-9A-Za-z]{8,40}$/)),
  /** Reverse-path mailbox; the empty string is the null sender `<>`. */
  sender: v.pipe(v.string(), v.maxLength(512)),
  recipients: v.pipe(v.array(RecipientSchema), v.minLength(1)),
  /** Milliseconds since the epoch at the 250 reply. */
  receivedAt: v.pipe(v.number(), v.integer(), v.minValue(0)),
  /** Octets of the stored message, trace header included. */
  size: v.pipe(v.number(), v.integer(), v.minValue(0)),
  bodyType: v.picklist(['7BIT', '8BITMIME']),
  smtputf8: v.boolean(),
  /** RFC 3461 RET and ENVID (ENVID xtext-decoded). */
  ret: v.optional(v.picklist(['FULL', 'HDRS'])),
  envid: v.optional(v.string()),
  client: ClientInfoSchema,
});

export type Notify = v.InferOutput<typeof NotifySchema>;
export type Recipient = v.InferOutput<typeof RecipientSchema>;
export type ClientInfo = v.InferOutput<typeof ClientInfoSchema>;
export type Envelope = v.InferOutput<typeof EnvelopeSchema>;
