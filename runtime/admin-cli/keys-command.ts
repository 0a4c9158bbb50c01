/** `sluice keys …`: list, add, remove, revoke trusted vendor keys. */
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { KeyRecord } from '../agents/trust-store.ts';
import type { ApiClient } from './api-client.ts';
import { UsageError, type AdminIo } from './admin-context.ts';
import { formatTable } from './table.ts';

export const KEYS_USAGE = `Usage: sluice keys <command> [options]

  list                                   trusted vendor keys
  add <pubfile|base64> --vendor V...     trust a vendor's Ed25519 public key (a file holding its base64 or a PEM
                                         public key, or the base64 itself) for the named vendors
  remove <keyId>                         forget a key; agents it signed stop running
  revoke <keyId>                         keep the key but refuse it; agents it signed stop running

Options: --api HOST:PORT, --token T | --token-file F, --json (see sluice agents --help)
`;

export const KEYS_OPTIONS = { vendor: { type: 'string', multiple: true } } as const;

export interface KeysArgs {
  positionals: string[];
  values: { vendor?: string[]; json?: boolean };
}

/** The base64 raw public key from the argument: a file (base64 text or a PEM SPKI key) or the base64 itself. */
async function publicKeyFrom(arg: string, io: AdminIo): Promise<string> {
  const file = path.resolve(io.cwd, arg);
  let text: string | undefined;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (error) {
    const code = (error as { code?: string }).code;
    // Not a file: take the argument as the key itself, unless it clearly meant a path.
    if (code !== 'ENOENT' && code !== 'ENAMETOOLONG') throw new UsageError(`keys add: cannot read ${file}: ${code ?? (error as Error).message}`);
    if (arg.includes(path.sep) && !/^[A-Za-z0-9+/]+=*$/.test(arg)) throw new UsageError(`keys add: no such file ${file}`);
    return arg.trim();
  }
  if (!text.includes('-----BEGIN')) return text;
  if (text.includes('PRIVATE KEY')) throw new UsageError(`keys add: ${file} is a private key; give the vendor's public key (.pub) instead`);
  try {
    const key = createPublicKey(text);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`it is a ${key.asymmetricKeyType} key, not Ed25519`);
    return Buffer.from(key.export({ format: 'der', type: 'spki' }).subarray(-32)).toString('base64');
  } catch (error) {
    throw new UsageError(`keys add: ${file} is not an Ed25519 public key: ${(error as Error).message}`);
  }
}

function keyRows(keys: KeyRecord[]): string[][] {
  return keys.map((k) => [k.keyId, k.vendors.join(','), k.revoked ? 'revoked' : 'trusted', new Date(k.addedAt).toISOString().replace(/\.\d+Z$/, 'Z')]);
}

export async function keysCommand(sub: string | undefined, args: KeysArgs, client: () => Promise<ApiClient>, io: AdminIo): Promise<number> {
  const [arg] = args.positionals;
  const json = args.values.json === true;
  const print = (value: unknown, human: string): void => io.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : human);
  const one = (usage: string): void => {
    if (args.positionals.length !== 1) throw new UsageError(`expected: sluice keys ${usage}`);
  };
  switch (sub) {
    case 'list': {
      if (args.positionals.length !== 0) throw new UsageError('expected: sluice keys list');
      const { keys } = (await (await client()).request('GET', '/v1/keys')) as { keys: KeyRecord[] };
      print({ keys }, keys.length === 0 ? 'no trusted keys\n' : formatTable(['KEY ID', 'VENDORS', 'STATE', 'ADDED'], keyRows(keys)));
      return 0;
    }
    case 'add': {
      one('add <pubfile|base64> --vendor V...');
      const vendors = (args.values.vendor ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
      if (vendors.length === 0) throw new UsageError('keys add: name the vendor(s) this key may sign for with --vendor V');
      const publicKey = await publicKeyFrom(arg!, io);
      const key = (await (await client()).request('POST', '/v1/keys', { json: { publicKey, vendors } })) as KeyRecord;
      print(key, `trusted key ${key.keyId} for ${key.vendors.join(', ')}\n`);
      return 0;
    }
    case 'remove': {
      one('remove <keyId>');
      await (await client()).request('DELETE', `/v1/keys/${encodeURIComponent(arg!)}`);
      print({ removed: arg }, `removed key ${arg}\n`);
      return 0;
    }
    case 'revoke': {
      one('revoke <keyId>');
      const key = (await (await client()).request('POST', `/v1/keys/${encodeURIComponent(arg!)}/revoke`, { json: {} })) as KeyRecord;
      print(key, `revoked key ${key.keyId}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub === undefined ? `missing command\n${KEYS_USAGE}` : `unknown command "keys ${sub}"\n${KEYS_USAGE}`);
  }
}
