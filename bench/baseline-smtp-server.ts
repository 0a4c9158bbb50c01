// Baseline SMTP target for bench/smtp-load.ts: nodemailer smtp-server that accepts and discards, greeting at once.
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/**
 * Stock smtp-server holds every greeting for a hard-coded 100 ms (its early-talker check in
 * `SMTPConnection.prototype.init`; no option turns it off), which caps one client near 10
 * connections/s and makes it a meaningless baseline. This replaces `init` with the same body minus
 * the timer: listeners are set, the client limit is checked, and `connectionReady()` (reverse
 * lookup, onConnect, greeting) runs at once. Throws if the internals it relies on have moved, so a
 * smtp-server upgrade cannot silently bring the delay back.
 */
export function neutralizeGreetingDelay(): void {
  const proto = SMTPConnection.prototype;
  const source = String(proto.init);
  if (typeof proto._setListeners !== 'function' || typeof proto.connectionReady !== 'function') {
    throw new Error('smtp-server internals changed: _setListeners/connectionReady not found');
  }
  if (!/setTimeout\(\s*\(\)\s*=>\s*this\.connectionReady\(\)\s*,\s*100\s*\)/.test(source)) {
    throw new Error('smtp-server internals changed: init() no longer delays the greeting by 100 ms');
  }
  proto.init = function init(this: SMTPConnection): void {
    this._setListeners(() => {
      const { maxClients } = this._server.options;
      if (maxClients && this._server.connections.size > maxClients) {
        this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
        return;
      }
      this.connectionReady();
    });
  };
}

/**
 * Writes each message to its own file in `dir` and fsyncs it before the 250: the naive way to be
 * durable (Haraka's queue with fsync works like this), for comparison with Sluice's group commit.
 */
function durableWriter(dir: string): (data: Buffer) => Promise<void> {
  let n = 0;
  return async (data) => {
    const file = await open(join(dir, `${process.pid}-${++n}.eml`), 'wx');
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
  };
}

/**
 * Starts the baseline on host:port: it discards messages, or with `spool` writes and fsyncs each
 * one before answering; `stock` keeps the 100 ms greeting delay (for comparison).
 */
export function startBaselineServer(host: string, port: number, stock: boolean, spool?: string): Promise<SMTPServer> {
  const store = spool === undefined ? undefined : durableWriter(spool);
  if (!stock) neutralizeGreetingDelay();
  const server = new SMTPServer({
    name: 'baseline.localhost',
    logger: false,
    disableReverseLookup: true,
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => {
        if (store) chunks.push(chunk);
      });
      stream.on('end', () => {
        if (!store) return callback();
        store(Buffer.concat(chunks)).then(() => callback(), (err: Error) => callback(err));
      });
    },
  });
  // smtp-server ≥ 3.21 sets TCP_NODELAY itself; set it here too so older versions measure the same.
  server.server.on('connection', (socket: net.Socket) => socket.setNoDelay(true));
  server.on('error', (err) => console.error('baseline: %s', err.message));
  return new Promise((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      stock: { type: 'boolean', default: false },
      spool: { type: 'string' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error('--port <1-65535> is required');
  if (values.host !== '127.0.0.1') throw new Error('the baseline binds to 127.0.0.1 only');
  const server = await startBaselineServer(values.host, port, values.stock, values.spool);
  console.error('baseline: listening on %s:%d%s', values.host, port, values.stock ? ' (stock 100 ms greeting)' : '');
  const stop = (): void => {
    // smtp-server waits up to 30 s for open sessions; the bench has closed its own by now.
    setTimeout(() => process.exit(0), 1000).unref();
    server.close(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error('baseline: %s', err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
