/** Password hashes for SMTP AUTH users: scrypt (node:crypto) in a PHC-style string, checked in constant time. */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

const DEFAULTS = { ln: 15, r: 8, p: 1 };
const KEY_LENGTH = 32;

function derive(password: string, salt: Uint8Array, ln: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** ln;
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64').replace(/=+$/, '');

/** `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (base64 without padding). */
export async function hashPassword(password: string, cost: Partial<typeof DEFAULTS> = {}): Promise<string> {
  const { ln, r, p } = { ...DEFAULTS, ...cost };
  const salt = randomBytes(16);
  const key = await derive(password, salt, ln, r, p);
  return `$scrypt$ln=${ln},r=${r},p=${p}$${b64(salt)}$${b64(key)}`;
}

interface Parsed {
  ln: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

export function parseHash(hash: string): Parsed | null {
  const m = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{32,})$/.exec(hash);
  if (!m) return null;
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 10 || ln > 20 || r < 1 || p < 1) return null;
  return { ln, r, p, salt: Buffer.from(m[4] as string, 'base64'), key: Buffer.from(m[5] as string, 'base64') };
}

/**
 * A table of users checked in constant time; an unknown user costs the same scrypt run as a known
 * one, so response timing does not tell which names exist.
 */
export class PasswordTable {
  readonly #users = new Map<string, Parsed>();
  readonly #dummy: Parsed;

  constructor(users: readonly { name: string; password: string }[]) {
    for (const u of users) {
      const parsed = parseHash(u.password);
      if (parsed === null) throw new Error(`user ${u.name}: malformed password hash`);
      this.#users.set(u.name, parsed);
    }
    const first = this.#users.values().next().value as Parsed | undefined;
    this.#dummy = { ...(first ?? { ...DEFAULTS }), salt: Buffer.alloc(16, 1), key: Buffer.alloc(KEY_LENGTH, 0) } as Parsed;
  }

  get size(): number {
    return this.#users.size;
  }

  async verify(user: string, password: string): Promise<boolean> {
    const entry = this.#users.get(user);
    const use = entry ?? this.#dummy;
    const key = await derive(password, use.salt, use.ln, use.r, use.p);
    return entry !== undefined && key.length === use.key.length && timingSafeEqual(key, use.key);
  }
}
