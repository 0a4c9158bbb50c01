// Receiving SMTP sink for bench/pipeline-load.ts: nodemailer smtp-server that discards each message and notes when it arrived, by Message-ID.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type net from 'node:net';
import { SMTPServer } from 'smtp-server';
import { neutralizeGreetingDelay } from './baseline-smtp-server.ts';
import { findMessageId, HEADER_SCAN_BYTES } from './message-id.ts';
import { sharedClockMs } from './shared-clock.ts';

/** Messages that reached the sink since the last `take`: Message-IDs ('' when a message had none) and shared-clock arrival times. */
export type SinkBatch = { ids: string[]; atMs: number[] };

/** What the sink process says over its IPC channel. */
export type SinkToParent = { op: 'ready'; port: number } | ({ op: 'arrivals' } & SinkBatch);
/** What the parent asks over the IPC channel. */
export type ParentToSink = { op: 'take' };

/**
 * Starts the sink on 127.0.0.1:`port` (0: the OS picks). The arrival time of a message is taken
 * when its final dot has been read, just before the 250 goes out; the body is not kept.
 */
export function startSink(port: number): Promise<{ server: SMTPServer; port: number; take: () => SinkBatch }> {
  neutralizeGreetingDelay();
  let batch: SinkBatch = { ids: [], atMs: [] };
  const server = new SMTPServer({
    name: 'sink.localhost',
    logger: false,
    disableReverseLookup: true,
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, _session, callback) {
      let head = '';
      stream.on('data', (chunk: Buffer) => {
        if (head.length < HEADER_SCAN_BYTES) head += chunk.toString('latin1', 0, Math.min(chunk.length, HEADER_SCAN_BYTES - head.length));
      });
      stream.on('end', () => {
        batch.atMs.push(sharedClockMs());
        batch.ids.push(findMessageId(head));
        callback();
      });
    },
  });
  server.server.on('connection', (socket: net.Socket) => socket.setNoDelay(true));
  server.on('error', (err) => console.error('sink: %s', err.message));
  return new Promise((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.server.address();
      const take = (): SinkBatch => {
        const out = batch;
        batch = { ids: [], atMs: [] };
        return out;
      };
      resolve({ server, port: typeof address === 'object' && address ? address.port : port, take });
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got ${values.port}`);
  if (typeof process.send !== 'function') throw new Error('the sink reports over an IPC channel: start it with one (see sink-target.ts)');
  const sink = await startSink(port);
  const send = (message: SinkToParent): void => {
    process.send?.(message);
  };
  process.on('message', (message: ParentToSink) => {
    if (message?.op === 'take') send({ op: 'arrivals', ...sink.take() });
  });
  // The parent going away ends the sink too.
  process.on('disconnect', () => process.exit(0));
  const stop = (): void => {
    setTimeout(() => process.exit(0), 1000).unref();
    sink.server.close(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.error('sink: listening on 127.0.0.1:%d', sink.port);
  send({ op: 'ready', port: sink.port });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error('sink: %s', err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
