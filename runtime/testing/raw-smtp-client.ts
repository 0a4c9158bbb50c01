/** A raw-socket SMTP client for protocol tests: exact bytes out, parsed replies in, TLS upgrade on demand. */
import net from 'node:net';
import tls from 'node:tls';

export interface SmtpReply {
  code: number;
  lines: string[];
  /** All lines joined by newlines, codes stripped. */
  text: string;
}

export class RawSmtpClient {
  #socket: net.Socket | tls.TLSSocket;
  #buf = '';
  #waiters: (() => void)[] = [];
  #closed = false;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    this.#attach(socket);
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawSmtpClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, noDelay: true }, () => {
        socket.removeListener('error', reject);
        resolve(new RawSmtpClient(socket));
      });
      socket.once('error', reject);
    });
  }

  #attach(s: net.Socket | tls.TLSSocket): void {
    s.on('data', (d: Buffer) => {
      this.#buf += d.toString('latin1');
      this.#wake();
    });
    s.on('error', () => {});
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(data: string | Uint8Array): void {
    this.#socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Writes one octet at a time, yielding between writes (fragmented input). */
  async writeSlowly(data: string, chunk = 1): Promise<void> {
    for (let i = 0; i < data.length; i += chunk) {
      this.write(data.slice(i, i + chunk));
      await new Promise((r) => setImmediate(r));
    }
  }

  /** The next complete reply (multi-line aware); rejects after `timeoutMs` or if the server closes first. */
  async reply(timeoutMs = 5000): Promise<SmtpReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = this.#take();
      if (parsed) return parsed;
      if (this.#closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.#buf)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms; buffered: ${JSON.stringify(this.#buf)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  #take(): SmtpReply | null {
    const lines: string[] = [];
    let at = 0;
    for (;;) {
      const end = this.#buf.indexOf('\r\n', at);
      if (end === -1) return null;
      const line = this.#buf.slice(at, end);
      at = end + 2;
      lines.push(line);
      if (line.length < 4 || line[3] !== '-') {
        this.#buf = this.#buf.slice(at);
        const code = Number(line.slice(0, 3));
        return { code, lines, text: lines.map((l) => l.slice(4)).join('\n') };
      }
    }
  }

  /** Sends a command line and returns its reply. */
  async command(line: string, timeoutMs?: number): Promise<SmtpReply> {
    this.write(`${line}\r\n`);
    return this.reply(timeoutMs);
  }

  /** Everything received until the server closes (or the timeout), for asserting "no more replies". */
  async untilClosed(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    const rest = this.#buf;
    this.#buf = '';
    return rest;
  }

  /** Data received and not yet parsed into replies. */
  get unread(): string {
    return this.#buf;
  }

  /** Upgrades to TLS after a 220 to STARTTLS. */
  async startTls(): Promise<void> {
    const plain = this.#socket as net.Socket;
    plain.removeAllListeners('data');
    const secure = tls.connect({ socket: plain, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.#socket = secure;
    this.#attach(secure);
    secure.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}
