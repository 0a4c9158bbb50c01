/** `sluice-agent keygen --out <prefix>`: a new Ed25519 vendor key pair, the private half written owner-only. */
import { chmod, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { generateKeyPair } from '../bundle/signing.ts';
import { CommandError, EXIT_OK, parseCommandLine, stringOption, UsageError, type Command } from './cli-io.ts';

const HELP = `Usage: sluice-agent keygen --out <prefix>

Writes a new Ed25519 vendor key pair and prints its key id:
  <prefix>.key   the private key (PKCS#8 PEM, mode 0600): keep it secret, out of version control
  <prefix>.pub   the public key (base64 of the raw 32 bytes): give it to the admins who trust you
Existing files are never overwritten.
`;

async function writeNew(file: string, text: string, mode: number): Promise<void> {
  try {
    await writeFile(file, text, { flag: 'wx', mode });
    // The umask may have narrowed the mode; never widened, but say exactly what we mean.
    await chmod(file, mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new CommandError(`${file} already exists; keygen does not overwrite keys (choose another --out)`);
    throw new CommandError(`cannot write ${file}: ${(error as Error).message}`);
  }
}

export const keygenCommand: Command = {
  summary: 'make a vendor signing key pair',
  help: HELP,
  async run(argv, io) {
    const args = parseCommandLine(argv, { out: { type: 'string' } }, 0);
    const prefix = stringOption(args.values, 'out');
    if (prefix === undefined || prefix === '') throw new UsageError('keygen needs --out <prefix>, e.g. "--out keys/acme" for keys/acme.key and keys/acme.pub');
    const keyFile = resolve(`${prefix}.key`);
    const pubFile = resolve(`${prefix}.pub`);
    const keys = generateKeyPair();
    await writeNew(keyFile, keys.privateKey, 0o600);
    await writeNew(pubFile, `${keys.publicKey}\n`, 0o644);
    io.out(`key id ${keys.keyId}\n  private key ${keyFile} (keep it secret)\n  public key  ${pubFile}\n`);
    return EXIT_OK;
  },
};
