/** The admin's trusted vendor keys, persisted as one JSON file replaced atomically on every change. */
import { readFile } from 'node:fs/promises';
import * as v from 'valibot';
import { parseJsonStrict } from '../../sdk/bundle/json-strict.ts';
import { formatManifestIssues, VENDOR_PATTERN } from '../../sdk/bundle/manifest.ts';
import { keyIdFor, rawPublicKey } from '../../sdk/bundle/signing.ts';
import type { TrustedKey, TrustLookup } from '../../sdk/bundle/verify-bundle.ts';
import { writeAtomically } from '../platform/write-atomically.ts';

const Vendor = v.pipe(v.string(), v.regex(VENDOR_PATTERN, 'Invalid vendor: expected [a-z0-9][a-z0-9-]{0,38}'));
const Vendors = v.pipe(v.array(Vendor), v.minLength(1), v.check((a) => new Set(a).size === a.length, 'Invalid vendors: each vendor at most once'));
const PublicKey = v.pipe(v.string(), v.check((k) => rawPublicKey(k) !== null, 'Invalid publicKey: expected the base64 of a 32-byte Ed25519 key'));

const KeyRecordSchema = v.strictObject({
  keyId: v.string(),
  publicKey: PublicKey,
  vendors: Vendors,
  revoked: v.boolean(),
  addedAt: v.pipe(v.number(), v.integer(), v.minValue(0)),
});
const StoreFileSchema = v.strictObject({ version: v.literal(1), keys: v.array(KeyRecordSchema) });
const AddKeySchema = v.strictObject({ publicKey: PublicKey, vendors: Vendors });

export type KeyRecord = v.InferOutput<typeof KeyRecordSchema>;

export type TrustStoreErrorCode = 'MALFORMED_KEY' | 'DUPLICATE_KEY' | 'UNKNOWN_KEY' | 'CORRUPT_STORE';

export class TrustStoreError extends Error {
  readonly code: TrustStoreErrorCode;
  constructor(code: TrustStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TrustStoreError';
    this.code = code;
  }
}

/** Trusted keys by id; implements the lookup `openBundle` needs. Changes are serialized and durable before they show. */
export class TrustStore implements TrustLookup {
  readonly #file: string;
  readonly #now: () => number;
  #keys: KeyRecord[];
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(file: string, keys: KeyRecord[], now: () => number) {
    this.#file = file;
    this.#keys = keys;
    this.#now = now;
  }

  /** Opens the store at `file`; a missing file is an empty store (created at the first change). */
  static async open(file: string, options: { now?: () => number } = {}): Promise<TrustStore> {
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
    }
    return new TrustStore(file, text === undefined ? [] : TrustStore.#parse(file, text), options.now ?? Date.now);
  }

  static #parse(file: string, text: string): KeyRecord[] {
    const json = parseJsonStrict(text);
    if (!json.ok) throw new TrustStoreError('CORRUPT_STORE', `trust store ${file} is not strict JSON: ${json.error}`);
    const parsed = v.safeParse(StoreFileSchema, json.value);
    if (!parsed.success) {
      throw new TrustStoreError('CORRUPT_STORE', `trust store ${file} is invalid: ${formatManifestIssues(parsed.issues).join('; ')}`);
    }
    const seen = new Set<string>();
    for (const key of parsed.output.keys) {
      if (keyIdFor(key.publicKey) !== key.keyId) throw new TrustStoreError('CORRUPT_STORE', `trust store ${file}: key id ${key.keyId} does not match its public key`);
      if (seen.has(key.keyId)) throw new TrustStoreError('CORRUPT_STORE', `trust store ${file}: key ${key.keyId} is listed twice`);
      seen.add(key.keyId);
    }
    return parsed.output.keys;
  }

  /** The trusted key with this id, revoked ones included (so a bundle they signed is refused as REVOKED_KEY). */
  keyFor(keyId: string): TrustedKey | undefined {
    const key = this.#keys.find((k) => k.keyId === keyId);
    return key === undefined ? undefined : { publicKey: key.publicKey, vendors: [...key.vendors], revoked: key.revoked };
  }

  list(): KeyRecord[] {
    return this.#keys.map((k) => ({ ...k, vendors: [...k.vendors] }));
  }

  /** Trusts a public key (base64 of the raw 32 bytes) for the given vendors; its id is derived, never supplied. */
  addKey(input: { publicKey: string; vendors: string[] }): Promise<KeyRecord> {
    return this.#change(() => {
      const parsed = v.safeParse(AddKeySchema, input);
      if (!parsed.success) throw new TrustStoreError('MALFORMED_KEY', formatManifestIssues(parsed.issues).join('; '));
      const keyId = keyIdFor(parsed.output.publicKey);
      if (this.#keys.some((k) => k.keyId === keyId)) throw new TrustStoreError('DUPLICATE_KEY', `key ${keyId} is already in the trust store`);
      const record: KeyRecord = { keyId, ...parsed.output, revoked: false, addedAt: this.#now() };
      return { keys: [...this.#keys, record], result: record };
    });
  }

  /** Forgets a key; bundles it signed then fail as UNKNOWN_KEY. Returns the removed record. */
  removeKey(keyId: string): Promise<KeyRecord> {
    return this.#change(() => {
      const record = this.#find(keyId);
      return { keys: this.#keys.filter((k) => k !== record), result: record };
    });
  }

  /** Marks a key revoked but keeps it, so bundles it signed are refused by name (REVOKED_KEY). */
  revokeKey(keyId: string): Promise<KeyRecord> {
    return this.#change(() => {
      const record = { ...this.#find(keyId), revoked: true };
      return { keys: this.#keys.map((k) => (k.keyId === keyId ? record : k)), result: record };
    });
  }

  #find(keyId: string): KeyRecord {
    const record = this.#keys.find((k) => k.keyId === keyId);
    if (record === undefined) throw new TrustStoreError('UNKNOWN_KEY', `key ${keyId} is not in the trust store`);
    return record;
  }

  /** Runs one change after the previous ones; memory is updated only after the file is durable. */
  #change<T>(plan: () => { keys: KeyRecord[]; result: T }): Promise<T> {
    const run = this.#queue.then(async () => {
      const { keys, result } = plan();
      await writeAtomically(this.#file, `${JSON.stringify({ version: 1, keys }, null, 2)}\n`);
      this.#keys = keys;
      return result;
    });
    this.#queue = run.catch(() => {});
    return run;
  }
}
