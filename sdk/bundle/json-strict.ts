/** A strict, linear-time JSON parser for signed data: no duplicate keys, no `__proto__`, bounded depth. */

/**
 * The outcome of {@link parseJsonStrict}: the value, or an error naming what is wrong and where.
 * @example
 * const r: JsonResult = parseJsonStrict('{"a":1}');
 */
export type JsonResult = { ok: true; value: unknown } | { ok: false; error: string };

/**
 * Deepest nesting of arrays and objects accepted.
 * @example
 * parseJsonStrict('['.repeat(MAX_JSON_DEPTH + 1)).ok; // false
 */
export const MAX_JSON_DEPTH = 64;

class JsonError extends Error {}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * {@link parseJsonStrict} over bytes that must be valid UTF-8 (a byte-order mark is kept, and so
 * refused): the one way signed bundle sections are read.
 * @example
 * parseJsonBytesStrict(new Uint8Array([0xff])); // { ok: false, error: 'not valid UTF-8' }
 */
export function parseJsonBytesStrict(bytes: Uint8Array): JsonResult {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return { ok: false, error: 'not valid UTF-8' };
  }
  return parseJsonStrict(text);
}

/**
 * Parses RFC 8259 JSON text, refusing what would let two readers see different values: a duplicate
 * object key at any depth (compared after unescaping), a `__proto__` key, nesting deeper than
 * {@link MAX_JSON_DEPTH}, a byte-order mark, and anything that is not exactly one JSON value.
 * @example
 * parseJsonStrict('{"a":1,"a":2}'); // { ok: false, error: 'duplicate key "a" at offset 7' }
 */
export function parseJsonStrict(text: string): JsonResult {
  if (typeof text !== 'string') return { ok: false, error: 'input is not a string' };
  let i = 0;
  const fail = (what: string, at = i): never => {
    throw new JsonError(`${what} at offset ${at}`);
  };
  const ws = (): void => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else return;
    }
  };
  const string = (): string => {
    const start = i;
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail('unterminated string', start);
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) {
        const e = text.charCodeAt(i + 1);
        if (e === 0x75) {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('bad \\u escape');
          i += 6;
          continue;
        }
        // " \ / b f n r t
        if (![0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74].includes(e)) fail('bad escape');
        i += 2;
        continue;
      }
      i++;
    }
    i++;
    // The token is validated; the engine only unescapes it.
    return JSON.parse(text.slice(start, i)) as string;
  };
  const digits = (): number => {
    const start = i;
    while (i < text.length && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
    return i - start;
  };
  const number = (): number => {
    const start = i;
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else if (digits() === 0) fail('bad number', start);
    if (text[i] === '.') {
      i++;
      if (digits() === 0) fail('bad number', start);
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (digits() === 0) fail('bad number', start);
    }
    const n = Number(text.slice(start, i));
    if (!Number.isFinite(n)) fail('number out of range', start);
    return n;
  };
  const literal = (word: string, value: unknown): unknown => {
    if (text.startsWith(word, i)) {
      i += word.length;
      return value;
    }
    return fail('unexpected character');
  };
  const value = (depth: number): unknown => {
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      if (depth >= MAX_JSON_DEPTH) fail(`nesting deeper than ${MAX_JSON_DEPTH}`);
      return c === '{' ? object(depth + 1) : array(depth + 1);
    }
    if (c === '"') return string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return number();
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    return fail(c === undefined ? 'unexpected end of input' : 'unexpected character');
  };
  const object = (depth: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    i++;
    ws();
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      ws();
      const at = i;
      if (text[i] !== '"') fail('expected a string key');
      const key = string();
      if (key === '__proto__') fail('forbidden key "__proto__"', at);
      if (Object.hasOwn(out, key)) fail(`duplicate key ${JSON.stringify(key)}`, at);
      ws();
      if (text[i] !== ':') fail('expected ":"');
      i++;
      out[key] = value(depth);
      ws();
      if (text[i] === ',') i++;
      else if (text[i] === '}') {
        i++;
        return out;
      } else fail('expected "," or "}"');
    }
  };
  const array = (depth: number): unknown[] => {
    const out: unknown[] = [];
    i++;
    ws();
    if (text[i] === ']') {
      i++;
      return out;
    }
    for (;;) {
      out.push(value(depth));
      ws();
      if (text[i] === ',') i++;
      else if (text[i] === ']') {
        i++;
        return out;
      } else fail('expected "," or "]"');
    }
  };
  try {
    const result = value(0);
    ws();
    if (i !== text.length) fail('trailing characters after the JSON value');
    return { ok: true, value: result };
  } catch (error) {
    if (error instanceof JsonError) return { ok: false, error: error.message };
    throw error;
  }
}
