/** `sluice-agent verify <bundle> --pub <file>`: opens a bundle exactly as the server will and summarizes its manifest, or says why it is refused. */
import { readFile } from 'node:fs/promises';
import { VENDOR_PATTERN, type Manifest } from '../bundle/manifest.ts';
import { keyIdFor } from '../bundle/signing.ts';
import { openBundle } from '../bundle/verify-bundle.ts';
import { claimedVendor, readPublicKey, trustOneKey } from './bundle-trust.ts';
import { CommandError, EXIT_FAILURE, EXIT_OK, parseCommandLine, stringOption, UsageError, type Command } from './cli-io.ts';

const HELP = `Usage: sluice-agent verify <bundle> --pub <file.pub> [--vendor name]... [--allow-unsigned] [--json]

Runs every check the server runs when it installs or loads a bundle: framing, signature by the
given public key, strict manifest, the key's vendor scope, and the code's SHA-256 and length.
Prints the manifest summary, or the refusal's code and message (exit 1).

Options:
  --pub file.pub     the vendor's public key (required unless --allow-unsigned)
  --vendor name      vendors the key may sign for, as an admin would scope it; repeatable
                     (default: whatever vendor the manifest names)
  --allow-unsigned   accept an unsigned development bundle
  --json             print the result as JSON
`;

function summary(manifest: Manifest, keyId: string | null, signed: boolean, vendors: readonly string[] | null): string[] {
  const budgets = manifest.budgets as Record<string, number>;
  return [
    `OK: ${manifest.name} ${manifest.version} (${manifest.kind} agent)`,
    signed ? `  signed by key ${keyId ?? '?'}${vendors === null ? ' (vendor scope not checked: pass --vendor)' : `, allowed for ${vendors.join(', ')}`}` : '  UNSIGNED (development bundle)',
    `  events: ${manifest.events.map((e) => `${e} ${budgets[e] ?? '?'} ms`).join(', ')}`,
    `  memory ${manifest.memoryMiB} MiB; capabilities ${manifest.capabilities.join(', ') || 'none'}${manifest.fetchOrigins ? ` (fetch: ${manifest.fetchOrigins.join(', ')})` : ''}; body ${manifest.wantsBody ? 'yes' : 'no'}`,
    `  sdk ${manifest.sdk}; config schema ${manifest.configSchema ? 'yes' : 'none'}`,
    `  code ${manifest.code.bytes} bytes, sha256 ${manifest.code.sha256}`,
  ];
}

export const verifyCommand: Command = {
  summary: 'check a bundle as the server will',
  help: HELP,
  async run(argv, io) {
    const args = parseCommandLine(
      argv,
      { pub: { type: 'string' }, vendor: { type: 'string', multiple: true }, 'allow-unsigned': { type: 'boolean' }, json: { type: 'boolean' } },
      1,
    );
    const file = args.positionals[0];
    if (file === undefined) throw new UsageError('verify needs the bundle file, e.g. "sluice-agent verify dist/acme-stamp-0.1.0.sluice --pub acme.pub"');
    const allowUnsigned = args.values['allow-unsigned'] === true;
    const pubFile = stringOption(args.values, 'pub');
    if (pubFile === undefined && !allowUnsigned) throw new UsageError('verify needs --pub <file.pub> (or --allow-unsigned for a development bundle)');
    const scoped = (args.values.vendor as string[] | undefined) ?? null;
    for (const vendor of scoped ?? []) {
      if (!VENDOR_PATTERN.test(vendor)) throw new UsageError(`--vendor: "${vendor}" is not a vendor name ([a-z0-9][a-z0-9-]{0,38})`);
    }
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(file));
    } catch (error) {
      throw new CommandError(`cannot read ${file}: ${(error as Error).message}`);
    }
    const publicKey = pubFile === undefined ? undefined : await readPublicKey(pubFile);
    const trust = publicKey === undefined ? { keyFor: () => undefined } : trustOneKey(publicKey, scoped ?? [claimedVendor(bytes) ?? '']);
    const opened = openBundle(bytes, trust, { allowUnsigned });
    const json = args.values.json === true;
    if (!opened.ok) {
      if (json) io.out(`${JSON.stringify({ ok: false, file, error: opened.error })}\n`);
      const hint = opened.error.code === 'UNKNOWN_KEY' && publicKey !== undefined ? ` (--pub ${pubFile ?? ''} is key ${keyIdFor(publicKey)})` : '';
      io.err(`sluice-agent verify: ${file} refused: ${opened.error.code}: ${opened.error.message}${hint}\n`);
      return EXIT_FAILURE;
    }
    if (json) io.out(`${JSON.stringify({ ok: true, file, signed: opened.signed, keyId: opened.keyId, vendorScopeChecked: scoped !== null, manifest: opened.manifest })}\n`);
    else io.out(`${summary(opened.manifest, opened.keyId, opened.signed, scoped).join('\n')}\n`);
    return EXIT_OK;
  },
};
