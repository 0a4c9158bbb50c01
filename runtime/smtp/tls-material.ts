/** The STARTTLS certificate: the admin's files, or a self-signed one made once on first start and kept in the data dir. */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import { generate } from 'selfsigned';

export interface TlsMaterial {
  context: tls.SecureContext;
  certFile: string;
  selfSigned: boolean;
}

async function readPair(certFile: string, keyFile: string): Promise<{ cert: string; key: string }> {
  const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  return { cert, key };
}

function contextFor(pair: { cert: string; key: string }): tls.SecureContext {
  return tls.createSecureContext({ ...pair, minVersion: 'TLSv1.2' });
}

/** Loads the configured pair, or the generated one under `<dataDir>/tls/`, generating it if missing. */
export async function loadTlsMaterial(dataDir: string, hostname: string, configured?: { cert: string; key: string }): Promise<TlsMaterial> {
  if (configured) {
    return { context: contextFor(await readPair(configured.cert, configured.key)), certFile: configured.cert, selfSigned: false };
  }
  const dir = join(dataDir, 'tls');
  const certFile = join(dir, 'self-signed.crt');
  const keyFile = join(dir, 'self-signed.key');
  try {
    return { context: contextFor(await readPair(certFile, keyFile)), certFile, selfSigned: true };
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: hostname }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: new Date(now.getTime() + 5 * 365 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: hostname }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  // Key first, cert last: a cert file on disk means the pair is complete.
  await writeFile(`${keyFile}.tmp`, pems.private, { mode: 0o600 });
  await rename(`${keyFile}.tmp`, keyFile);
  await writeFile(`${certFile}.tmp`, pems.cert);
  await rename(`${certFile}.tmp`, certFile);
  return { context: contextFor({ cert: pems.cert, key: pems.private }), certFile, selfSigned: true };
}
