/** `sluice-agent sign [dir] --key <file>`: the manifest draft and the built code, signed into one bundle file. */
import { Buffer } from 'node:buffer';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { createSignedBundle, ManifestError } from '../bundle/build-bundle.ts';
import { openBundle } from '../bundle/verify-bundle.ts';
import { trustOneKey } from './bundle-trust.ts';
import { loadProject } from './agent-project.ts';
import { codeFileFor } from './build-command.ts';
import { CommandError, EXIT_OK, parseCommandLine, stringOption, UsageError, type Command } from './cli-io.ts';

const HELP = `Usage: sluice-agent sign [dir] --key <file.key> [--code file] [--out file]

Signs the manifest draft (sluice-agent.json, without "entry") and the built code with your vendor
key into one bundle: the manifest records the code's SHA-256 and length, and the Ed25519 signature
covers the manifest. Run "sluice-agent build" first.

Options:
  --key file.key   the private key from "sluice-agent keygen" (required)
  --code file      the built code (default <dir>/dist/agent.js)
  --out file       the bundle (default <dir>/dist/<vendor>-<agent>-<version>.sluice)
`;

async function readPrivateKey(file: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    throw new CommandError(`--key ${file}: cannot read it: ${(error as Error).message}`);
  }
  try {
    if (createPrivateKey(pem).asymmetricKeyType === 'ed25519') return pem;
  } catch {
    // reported below
  }
  throw new CommandError(`--key ${file}: not an Ed25519 private key in PKCS#8 PEM (as "sluice-agent keygen" writes)`);
}

export const signCommand: Command = {
  summary: 'sign the built code and manifest into a .sluice bundle',
  help: HELP,
  async run(argv, io) {
    const args = parseCommandLine(argv, { key: { type: 'string' }, code: { type: 'string' }, out: { type: 'string' } }, 1);
    const keyFile = stringOption(args.values, 'key');
    if (keyFile === undefined) throw new UsageError('sign needs --key <file.key> (make one with "sluice-agent keygen --out <prefix>")');
    const project = await loadProject(args.positionals[0] ?? '.');
    const privateKey = await readPrivateKey(keyFile);
    const codeFile = codeFileFor(project.dir, stringOption(args.values, 'code'));
    let code: Uint8Array;
    try {
      code = new Uint8Array(await readFile(codeFile));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new CommandError(`${codeFile} does not exist: run "sluice-agent build" first`);
      throw new CommandError(`cannot read ${codeFile}: ${(error as Error).message}`);
    }
    let bundle: Uint8Array;
    try {
      bundle = createSignedBundle({ manifest: project.draft, code, privateKey });
    } catch (error) {
      if (error instanceof ManifestError) throw new CommandError([`${project.file}: invalid manifest:`, ...error.issues.map((i) => `  ${i}`)]);
      if (error instanceof RangeError) throw new CommandError(`cannot make the bundle: ${error.message}`);
      throw error;
    }
    const { name, version } = project.manifest;
    const out = resolve(stringOption(args.values, 'out') ?? resolve(project.dir, 'dist', `${name.replace('/', '-')}-${version}.sluice`));
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, bundle);
    // Open it as an admin's server will, with the public half of the key: a bundle that would be refused is not done.
    const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    const publicKey = Buffer.from(spki.subarray(spki.byteLength - 32)).toString('base64');
    const check = openBundle(bundle, trustOneKey(publicKey, [name.slice(0, name.indexOf('/'))]));
    if (!check.ok) throw new CommandError(`the new bundle does not verify: ${check.error.code}: ${check.error.message}`);
    io.out(`signed ${name} ${version} with key ${check.keyId ?? '?'} → ${relative(process.cwd(), out) || out} (${bundle.byteLength} bytes)\n`);
    return EXIT_OK;
  },
};
