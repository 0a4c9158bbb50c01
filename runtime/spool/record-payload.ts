// Payloads of journal records: encoding on write, decoding and schema checks on replay.
import * as v from 'valibot';
import { type Envelope, EnvelopeSchema } from './envelope.ts';
import type { DeliveryState } from './store.ts';
import { DeliveryStateSchema, describeIssues } from './delivery-state-schema.ts';

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

/** An ACCEPT or MOVE payload: [envelope length u32][envelope JSON][state length u32][state JSON][message]. */
export interface MessagePayload {
  envelope: Envelope;
  /** Absent in an ACCEPT: a new message starts from `initialState`. */
  state: DeliveryState | undefined;
  /** Absolute offset of the message bytes in the buffer that was decoded. */
  messageStart: number;
  messageLength: number;
}

const StatePayloadSchema = v.object({
  id: v.pipe(v.string(), v.regex(/^[0-9A-Za-z]{8,40}$/)),
  state: DeliveryStateSchema,
});

/** Serializes the envelope and checks it exactly as replay will, so what is accepted can be replayed. */
export function encodeEnvelope(envelope: Envelope): Checked<{ json: Buffer; envelope: Envelope }> {
  const text = JSON.stringify(envelope);
  const parsed = parseEnvelope(text);
  return parsed.ok ? { ok: true, value: { json: Buffer.from(text), envelope: parsed.value } } : parsed;
}

/** Serializes a state and checks it exactly as replay will. */
export function encodeState(id: string, state: DeliveryState): Checked<{ json: Buffer; state: DeliveryState }> {
  const text = JSON.stringify({ id, state });
  const parsed = parseJson(text, StatePayloadSchema);
  return parsed.ok ? { ok: true, value: { json: Buffer.from(text), state: parsed.value.state } } : parsed;
}

/** The parts of a message payload (no copy of the message) and where the message starts in it. */
export function messagePayloadParts(
  envelopeJson: Buffer,
  stateJson: Buffer | undefined,
  message: readonly Uint8Array[],
): { parts: Uint8Array[]; prefixLength: number } {
  const envLength = Buffer.allocUnsafe(4);
  envLength.writeUInt32BE(envelopeJson.length, 0);
  const stateLength = Buffer.allocUnsafe(4);
  stateLength.writeUInt32BE(stateJson?.length ?? 0, 0);
  const prefix = stateJson ? [envLength, envelopeJson, stateLength, stateJson] : [envLength, envelopeJson, stateLength];
  const prefixLength = 8 + envelopeJson.length + (stateJson?.length ?? 0);
  return { parts: [...prefix, ...message], prefixLength };
}

export function decodeMessagePayload(buf: Buffer, start: number, end: number): Checked<MessagePayload> {
  if (end - start < 8) return { ok: false, reason: 'message payload too short' };
  const envLength = buf.readUInt32BE(start);
  const envEnd = start + 4 + envLength;
  if (envEnd + 4 > end) return { ok: false, reason: 'envelope length runs past the record' };
  const envelope = parseEnvelope(buf.toString('utf8', start + 4, envEnd));
  if (!envelope.ok) return envelope;
  const stateLength = buf.readUInt32BE(envEnd);
  const stateEnd = envEnd + 4 + stateLength;
  if (stateEnd > end) return { ok: false, reason: 'state length runs past the record' };
  let state: DeliveryState | undefined;
  if (stateLength > 0) {
    const parsed = parseJson(buf.toString('utf8', envEnd + 4, stateEnd), StatePayloadSchema);
    if (!parsed.ok) return parsed;
    if (parsed.value.id !== envelope.value.id) return { ok: false, reason: 'state names another message' };
    if (parsed.value.state.recipients.length !== envelope.value.recipients.length) {
      return { ok: false, reason: 'state and envelope disagree on the recipients' };
    }
    state = parsed.value.state;
  }
  return {
    ok: true,
    value: { envelope: envelope.value, state, messageStart: stateEnd, messageLength: end - stateEnd },
  };
}

export function decodeStatePayload(
  buf: Buffer,
  start: number,
  end: number,
): Checked<{ id: string; state: DeliveryState }> {
  return parseJson(buf.toString('utf8', start, end), StatePayloadSchema);
}

export function encodeDone(id: string): Buffer {
  return Buffer.from(id, 'latin1');
}

export function decodeDonePayload(buf: Buffer, start: number, end: number): Checked<string> {
  const id = buf.toString('latin1', start, end);
  return /^[0-9A-Za-z]{8,40}$/.test(id) ? { ok: true, value: id } : { ok: false, reason: 'bad id in DONE record' };
}

/** Attempts 0, due at once (at receivedAt), every recipient pending. */
export function initialState(envelope: Envelope): DeliveryState {
  return {
    attempts: 0,
    nextAttemptAt: envelope.receivedAt,
    recipients: envelope.recipients.map(() => ({ state: 'pending' })),
  };
}

function parseEnvelope(text: string): Checked<Envelope> {
  return parseJson(text, EnvelopeSchema);
}

function parseJson<S extends v.GenericSchema>(text: string, schema: S): Checked<v.InferOutput<S>> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'bad JSON' };
  }
  const result = v.safeParse(schema, raw);
  return result.success ? { ok: true, value: result.output } : { ok: false, reason: describeIssues(result.issues) };
}
