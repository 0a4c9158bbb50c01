/** `ctx.log` on the host side: message and field caps, and the per-event line budget (pure). */
import { CONTEXT_LIMITS, type LogLevel } from '../../sdk/context.ts';

export const LOG_LEVELS: ReadonlySet<string> = new Set<LogLevel>(['debug', 'info', 'warn', 'error']);

/** Largest JSON text of a line's fields; bigger fields are replaced by a marker. */
export const LOG_FIELDS_MAX_CHARS = 8 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `text` cut to at most `maxBytes` UTF-8 bytes (ending in `…` when cut), never inside a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so short strings need no encoding.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = encoder.encode(text);
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes - 3; // room for '…'
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end)) + '…';
}

/** The fields of a line from their JSON text: an object, or `undefined` when there are none. */
export function parseLogFields(json: string): Record<string, unknown> | undefined {
  if (json === '') return undefined;
  if (json.length > LOG_FIELDS_MAX_CHARS) return { fieldsTruncated: true, fieldsChars: json.length };
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { fieldsError: 'fields are not JSON' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { fields: value };
  return value as Record<string, unknown>;
}

/** Counts one event's lines: the first `limit` pass, the rest are only counted. */
export class LogBudget {
  readonly limit: number;
  #lines = 0;
  #suppressed = 0;

  constructor(limit: number = CONTEXT_LIMITS.logLinesPerEvent) {
    this.limit = limit;
  }

  /** True when the line may be written. */
  take(): boolean {
    if (this.#lines < this.limit) {
      this.#lines++;
      return true;
    }
    this.#suppressed++;
    return false;
  }

  get suppressed(): number {
    return this.#suppressed;
  }
}
