/**
 * API bearer tokens: `<data>/api-tokens.json` (mode 0600) holds only SHA-256 hashes; a token's plaintext
 * is shown once, when it is made. The first admin token's plaintext is also left in `<data>/admin.token`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as v from 'valibot';
import { parseJsonStrict } from '../../sdk/bundle/json-strict.ts';
import { writeAtomically } from '../platform/write-atomically.ts';

export const TOKEN_ROLES = ['admin', 'read-only'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const TOKEN_ID_PATTERN = /^tok_[0-9a-f]{12}$/;

export const TokenInfoSchema = v.object({
  id: v.pipe(v.string(), v.regex(TOKEN_ID_PATTERN)),
  name: v.pipe(v.string(), v.regex(TOKEN_NAME_PATTERN)),
  role: v.picklist(TOKEN_ROLES),
  createdAt: v.pipe(v.number(), v.integer(), v.minValue(0)),
});
/** What may be shown about a token: never its hash or plaintext. */
export type TokenInfo = v.InferOutput<typeof TokenInfoSchema>;

const TokenRecordSchema = v.strictObject({
  ...TokenInfoSchema.entries,
  sha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
});
type TokenRecord = v.InferOutput<typeof TokenRecordSchema>;
const StoreFileSchema = v.strictObject({ version: v.literal(1), tokens: v.array(TokenRecordSchema) });

export const TOKENS_FILE = 'api-tokens.json';
export const ADMIN_TOKEN_FILE = 'admin.token';

export type TokenStoreErrorCode = 'INVALID_NAME' | 'DUPLICATE_NAME' | 'UNKNOWN_TOKEN' | 'CORRUPT_STORE';

export class TokenStoreError extends Error {
  readonly code: TokenStoreErrorCode;
  readonly field: string | undefined;
  constructor(code: TokenStoreErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'TokenStoreError';
    this.code = code;
    this.field = options.field;
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** A new bearer token: a fixed prefix (so leaked ones are easy to grep for) and 256 random bits. */
function newToken(): string {
  return `sluice_${randomBytes(32).toString('base64url')}`;
}

/** The API's tokens; changes are serialized and durable before they show. */
export class TokenStore {
  readonly #file: string;
  readonly #now: () => number;
  #tokens: TokenRecord[];
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(file: string, tokens: TokenRecord[], now: () => number) {
    this.#file = file;
    this.#tokens = tokens;
    this.#now = now;
  }

  /** Opens `<dataDir>/api-tokens.json`; a missing file is an empty store. */
  static async open(dataDir: string, options: { now?: () => number } = {}): Promise<TokenStore> {
    const file = path.join(dataDir, TOKENS_FILE);
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
    }
    return new TokenStore(file, text === undefined ? [] : TokenStore.#parse(file, text), options.now ?? Date.now);
  }

  static #parse(file: string, text: string): TokenRecord[] {
    const json = parseJsonStrict(text);
    if (!json.ok) throw new TokenStoreError('CORRUPT_STORE', `token store ${file} is not strict JSON: ${json.error}`);
    const parsed = v.safeParse(StoreFileSchema, json.value);
    if (!parsed.success) {
      const where = v.getDotPath(parsed.issues[0]) ?? '(root)';
      throw new TokenStoreError('CORRUPT_STORE', `token store ${file} is invalid at ${where}: ${parsed.issues[0].message}`);
    }
    return parsed.output.tokens;
  }

  /**
   * The token's identity, or undefined. Hashes the presented token and compares it with every stored
   * hash in constant time, without stopping at a match, so timing says nothing about which bytes were right.
   */
  verify(token: string): TokenInfo | undefined {
    const presented = sha256(token);
    let found: TokenRecord | undefined;
    for (const record of this.#tokens) {
      if (timingSafeEqual(presented, Buffer.from(record.sha256, 'hex')) && found === undefined) found = record;
    }
    return found === undefined ? undefined : TokenStore.#info(found);
  }

  list(): TokenInfo[] {
    return this.#tokens.map(TokenStore.#info);
  }

  hasRole(role: TokenRole): boolean {
    return this.#tokens.some((t) => t.role === role);
  }

  /**
   * Makes a token; the plaintext is returned here and never again. `beforeCommit` runs with the
   * plaintext before the hash is stored, so a copy written there exists before the token works.
   */
  create(
    input: { name: string; role: TokenRole },
    options: { beforeCommit?: (token: string) => Promise<void> } = {},
  ): Promise<{ token: string; info: TokenInfo }> {
    return this.#change(async () => {
      if (!TOKEN_NAME_PATTERN.test(input.name)) {
        throw new TokenStoreError('INVALID_NAME', `invalid token name ${JSON.stringify(input.name)}: expected [A-Za-z0-9][A-Za-z0-9._-]{0,63}`, {
          field: 'name',
        });
      }
      if (this.#tokens.some((t) => t.name === input.name)) {
        throw new TokenStoreError('DUPLICATE_NAME', `a token named ${JSON.stringify(input.name)} already exists`, { field: 'name' });
      }
      const token = newToken();
      const record: TokenRecord = {
        id: `tok_${randomBytes(6).toString('hex')}`,
        name: input.name,
        role: input.role,
        createdAt: this.#now(),
        sha256: sha256(token).toString('hex'),
      };
      await options.beforeCommit?.(token);
      return { tokens: [...this.#tokens, record], result: { token, info: TokenStore.#info(record) } };
    });
  }

  /** Forgets a token; requests bearing it are refused from now on. */
  revoke(id: string): Promise<TokenInfo> {
    return this.#change(() => {
      const record = this.#tokens.find((t) => t.id === id);
      if (record === undefined) throw new TokenStoreError('UNKNOWN_TOKEN', `no token with id ${id}`, { field: 'id' });
      return { tokens: this.#tokens.filter((t) => t !== record), result: TokenStore.#info(record) };
    });
  }

  static #info(record: TokenRecord): TokenInfo {
    return { id: record.id, name: record.name, role: record.role, createdAt: record.createdAt };
  }

  #change<T>(plan: () => { tokens: TokenRecord[]; result: T } | Promise<{ tokens: TokenRecord[]; result: T }>): Promise<T> {
    const run = this.#queue.then(async () => {
      const { tokens, result } = await plan();
      await writeAtomically(this.#file, `${JSON.stringify({ version: 1, tokens }, null, 2)}\n`);
      this.#tokens = tokens;
      return result;
    });
    this.#queue = run.catch(() => {});
    return run;
  }
}

/**
 * Makes sure an admin token exists. When there is none (first start, or every admin token was revoked)
 * one named `admin` is made and its plaintext written to `<dataDir>/admin.token` (mode 0600) for the
 * admin to read. Returns that file's path and whether a token was made now.
 */
export async function ensureAdminToken(dataDir: string): Promise<{ tokenFile: string; created: boolean }> {
  await mkdir(dataDir, { recursive: true });
  const tokenFile = path.join(dataDir, ADMIN_TOKEN_FILE);
  const store = await TokenStore.open(dataDir);
  if (store.hasRole('admin')) return { tokenFile, created: false };
  const taken = new Set(store.list().map((t) => t.name));
  let name = 'admin';
  for (let n = 2; taken.has(name); n++) name = `admin-${n}`;
  await store.create({ name, role: 'admin' }, { beforeCommit: (token) => writeAtomically(tokenFile, `${token}\n`) });
  return { tokenFile, created: true };
}
