/**
 * The sandbox host process: serves load/unload/ping/run lines on stdin/stdout with one isolate per
 * agent (Node + isolated-vm only). argv[2] is the black box file the server created (black-box.ts),
 * argv[3] the longest frame either end accepts.
 */
import { Buffer } from 'node:buffer';
import { writeSync } from 'node:fs';
import { AgentIsolate } from './agent-isolate.ts';
import { BlackBoxWriter } from './black-box.ts';
import { AgentCapabilities, type AgentLogSink } from './capabilities.ts';
import { runChainWith, type CallAgent } from './chain-runner.ts';
import { encodeFrameUpTo, LineDecoder, MAX_FRAME_BYTES, parseFrame } from './frame-codec.ts';
import { parseHostFrame } from './host-frame-check.ts';
import { pollPipe, PollBackoff } from './pipe-poll.ts';
import type { ChainResult, HostFrame, HostMessage } from './protocol.ts';


const agents = new Map<string, AgentIsolate>();
const blackBoxPath = process.argv[2];
if (blackBoxPath === undefined) {
  console.error('sandbox host: usage: host-main.ts <black box file>');
  process.exit(2);
}
const blackBox = new BlackBoxWriter(blackBoxPath);
/** argv[3]: the longest frame either end accepts (the server's `maxFrameBytes`). */
const maxFrameBytes = process.argv[3] === undefined ? MAX_FRAME_BYTES : Number(process.argv[3]);
if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes <= 0) {
  console.error(`sandbox host: usage: host-main.ts <black box file> [max frame bytes]`);
  process.exit(2);
}

// stdout carries frames only; anything that logs goes to stderr.
console.log = console.error;
console.info = console.error;
console.debug = console.error;

/**
 * Straight to fd 1, a blocking pipe: the write is done when this returns (so a log line precedes the
 * answer it belongs to), without a stream's bookkeeping. EAGAIN only if someone made the pipe
 * non-blocking; then it is retried.
 */
function write(text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  for (let offset = 0; offset < bytes.length; ) {
    try {
      offset += writeSync(1, bytes, offset, bytes.length - offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
}

function send(message: HostMessage): void {
  write(encodeFrameUpTo(message, maxFrameBytes));
}

/** Agents' `ctx.log` lines, as frames; written synchronously, so they precede the chain's answer. */
const agentLog: AgentLogSink = (agentId, level, message, fields) => {
  send(fields === undefined ? { type: 'log', agentId, level, message } : { type: 'log', agentId, level, message, fields });
};

/** Each agent gets the server's payload line for its link; the black box records who runs next. */
function runChain(request: Extract<HostFrame, { type: 'run' }>, lines: readonly string[]): Promise<ChainResult> {
  const call: CallAgent = (agentId, event, payloadJson, budgetMs) => {
    const agent = agents.get(agentId);
    return agent ? agent.call(event, payloadJson, budgetMs) : Promise.resolve({ kind: 'error', error: 'agent not loaded' });
  };
  return runChainWith(request.event, lines, request.chain, call, (agentId, done) => blackBox.record(request.id, agentId, done));
}

async function handle(frame: unknown, lines: readonly string[]): Promise<void> {
  const parsed = parseHostFrame(frame);
  if (!parsed.success) {
    const id = typeof (frame as { id?: unknown })?.id === 'number' ? (frame as { id: number }).id : null;
    send({ type: 'invalid', id, error: parsed.error });
    return;
  }
  const request = parsed.output;
  switch (request.type) {
    case 'ping':
      send({ type: 'pong', id: request.id });
      return;
    case 'unload': {
      const agent = agents.get(request.agentId);
      agents.delete(request.agentId);
      await agent?.dispose();
      send({ type: 'unloaded', id: request.id });
      return;
    }
    case 'load':
      try {
        const spec = request.spec;
        const capabilities = await AgentCapabilities.open(spec, agentLog);
        let agent: AgentIsolate;
        try {
          agent = new AgentIsolate(spec, capabilities);
        } catch (error) {
          await capabilities.close();
          throw error;
        }
        const previous = agents.get(spec.agentId);
        agents.set(spec.agentId, agent);
        await previous?.dispose();
        send({ type: 'loaded', id: request.id, ok: true });
      } catch (error) {
        send({ type: 'loaded', id: request.id, ok: false, error: error instanceof Error ? error.message : String(error) });
      }
      return;
    case 'run':
      send({ type: 'chain', id: request.id, result: await runChain(request, lines) });
      return;
  }
}

function fatal(why: string): never {
  console.error(`sandbox host: ${why}; exiting`);
  process.exit(2);
}

// Requests are served one at a time, in the order they came; the server may send several ahead.
const inbox: Array<{ frame: unknown; lines: string[] }> = [];
let serving = false;
let ended = false;

async function serve(): Promise<void> {
  serving = true;
  do {
    for (let next = inbox.shift(); next !== undefined; next = inbox.shift()) {
      try {
        await handle(next.frame, next.lines);
      } catch (error) {
        // A bug here must not stall the requests behind this one: the server fails it as a crash.
        fatal(`request failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
    }
  } while (!ended && pollStdin());
  serving = false;
  if (ended) process.exit(0);
}

/**
 * After the last request is answered, the next one is often on its way (a server dispatching events
 * back to back). Reading stdin directly for a short window catches it without going to sleep: a
 * sleeping host is woken by an interrupt to its idle vCPU, ~15-20 µs on this VM. Two windows in a row
 * without a request pause the polling (exponential backoff), so a host whose requests come far apart
 * (most servers, most of the time) almost never polls. stdin is non-blocking (libuv made it so).
 */
const POLL_WINDOW_MS = 0.1;
const pollBuffer = Buffer.allocUnsafe(64 * 1024);
const pollBackoff = new PollBackoff();

/** True when requests were read into the inbox. */
function pollStdin(): boolean {
  if (!pollBackoff.shouldPoll()) return false;
  pollPipe(0, pollBuffer, POLL_WINDOW_MS, (chunk) => {
    take(chunk);
    return inbox.length > 0;
  });
  pollBackoff.record(inbox.length > 0);
  return inbox.length > 0;
}

/** A run line is followed by its payload lines; the count is needed before the request is checked, or the stream desynchronises. */
let awaiting: { frame: unknown; lines: string[]; count: number } | undefined;

function accept(line: string): void {
  if (awaiting !== undefined) {
    awaiting.lines.push(line);
    if (awaiting.lines.length < awaiting.count) return;
    inbox.push(awaiting);
    awaiting = undefined;
  } else {
    const frame = parseFrame(line);
    if ((frame as { type?: unknown } | null)?.type === 'run') {
      const count = (frame as { lines?: unknown }).lines;
      if (count !== 1 && count !== 2) fatal('a run request without a payload line count of 1 or 2');
      awaiting = { frame, lines: [], count };
      return;
    }
    inbox.push({ frame, lines: [] });
  }
  if (!serving) void serve();
}

const decoder = new LineDecoder(maxFrameBytes);
/** Bytes from stdin (the stream's or a poll's), in order. */
function take(chunk: Uint8Array): void {
  try {
    for (const line of decoder.push(chunk)) accept(line);
  } catch (error) {
    fatal(error instanceof Error ? error.message : String(error));
  }
}
process.stdin.on('data', take);
// The server closed our stdin: answer what was already sent, then exit.
process.stdin.on('end', () => {
  ended = true;
  if (!serving) process.exit(0);
});
send({ type: 'ready', pid: process.pid });
