/** The sandbox host process: serves load/unload/ping/run frames on stdin/stdout with one isolate per agent (Node + isolated-vm only). */
import * as v from 'valibot';
import { AgentIsolate } from './agent-isolate.ts';
import { AgentCapabilities, type AgentLogSink } from './capabilities.ts';
import { encodeFrame, FrameDecoder } from './frame-codec.ts';
import { HostRequestSchema } from './protocol.ts';
import type { ChainResult, HostMessage, HostRequest } from './protocol.ts';
import { runChainWith, type CallAgent } from './chain-runner.ts';

/** Largest JSON text (UTF-16 code units) an agent's result may serialize to. */
export const RESULT_CAP_CHARS = 64 * 1024;

const agents = new Map<string, AgentIsolate>();

// stdout carries frames only; anything that logs goes to stderr.
console.log = console.error;
console.info = console.error;
console.debug = console.error;

/** Synchronous on Linux pipes, so a `step` frame is out before the agent it names can abort the process. */
function send(message: HostMessage): void {
  process.stdout.write(encodeFrame(message));
}

/** Agents' `ctx.log` lines, as frames; written synchronously, so they precede the chain's answer. */
const agentLog: AgentLogSink = (agentId, level, message, fields) => {
  send(fields === undefined ? { type: 'log', agentId, level, message } : { type: 'log', agentId, level, message, fields });
};

function runChain(request: Extract<HostRequest, { type: 'run' }>): Promise<ChainResult> {
  const call: CallAgent = (agentId, event, payloadJson, budgetMs) => {
    const agent = agents.get(agentId);
    return agent ? agent.call(event, payloadJson, budgetMs, RESULT_CAP_CHARS) : Promise.resolve({ kind: 'error', error: 'agent not loaded' });
  };
  return runChainWith(request.event, request.payload, request.chain, call, (agentId, done) => send({ type: 'step', id: request.id, agentId, done }));
}

async function handle(frame: unknown): Promise<void> {
  const parsed = v.safeParse(HostRequestSchema, frame);
  if (!parsed.success) {
    const id = typeof (frame as { id?: unknown })?.id === 'number' ? (frame as { id: number }).id : null;
    send({ type: 'invalid', id, error: parsed.issues[0]?.message ?? 'invalid request' });
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
      send({ type: 'chain', id: request.id, result: await runChain(request) });
      return;
  }
}

// Requests are served one at a time, in order: the supervisor sends one and waits for its answer.
const decoder = new FrameDecoder();
let queue: Promise<void> = Promise.resolve();
process.stdin.on('data', (chunk: Uint8Array) => {
  let frames: unknown[];
  try {
    frames = decoder.push(chunk);
  } catch (error) {
    console.error(`sandbox host: ${error instanceof Error ? error.message : String(error)}; exiting`);
    process.exit(2);
  }
  for (const frame of frames) queue = queue.then(() => handle(frame));
});
process.stdin.on('end', () => process.exit(0));
send({ type: 'ready', pid: process.pid });
