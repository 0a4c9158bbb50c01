/** The sandbox host process: serves load/unload/ping/run frames on stdin/stdout with one isolate per agent (Node + isolated-vm only). */
import * as v from 'valibot';
import { AgentIsolate } from './agent-isolate.ts';
import type { RawOutcome } from './agent-isolate.ts';
import { encodeFrame, FrameDecoder } from './frame-codec.ts';
import { HostRequestSchema } from './protocol.ts';
import type { ChainResult, HostMessage, HostRequest, Step } from './protocol.ts';
import { chainDecision, CONTINUE, parseAgentResult } from './sandbox-verdict.ts';
import type { SandboxVerdict } from './sandbox-verdict.ts';
import type { HeaderEdit } from '../../sdk/verdict-schema.ts';

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

function toStep(agentId: string, ms: number, raw: RawOutcome): { step: Step; verdict?: SandboxVerdict } {
  switch (raw.kind) {
    case 'no-handler':
      return { step: { agentId, ms, outcome: 'ok' }, verdict: CONTINUE };
    case 'result': {
      const parsed = parseAgentResult(raw.json);
      if (parsed.ok) return { step: { agentId, ms, outcome: 'ok' }, verdict: parsed.verdict };
      return { step: { agentId, ms, outcome: 'bad-result', error: parsed.error } };
    }
    default:
      return { step: { agentId, ms, outcome: raw.kind, error: raw.error } };
  }
}

async function runChain(request: Extract<HostRequest, { type: 'run' }>): Promise<ChainResult> {
  const payloadJson = JSON.stringify(request.payload ?? null);
  const steps: Step[] = [];
  // Header edits of agents that continue accumulate in chain order; a terminal verdict discards them.
  const headers: HeaderEdit[] = [];
  for (const link of request.chain) {
    send({ type: 'step', id: request.id, agentId: link.agentId, done: steps });
    const agent = agents.get(link.agentId);
    const started = performance.now();
    let raw: RawOutcome;
    try {
      raw = agent ? await agent.call(request.event, payloadJson, link.budgetMs, RESULT_CAP_CHARS) : { kind: 'error', error: 'agent not loaded' };
    } catch (error) {
      raw = { kind: 'error', error: `sandbox host: ${error instanceof Error ? error.message : String(error)}` };
    }
    const ms = Math.round((performance.now() - started) * 100) / 100;
    const { step, verdict } = toStep(link.agentId, ms, raw);
    steps.push(step);
    const decided = chainDecision(step.outcome, verdict, link.failure);
    if (decided !== undefined) return { verdict: decided, decidedBy: link.agentId, steps };
    if (step.outcome === 'ok' && verdict?.verdict === 'continue' && verdict.headers) headers.push(...verdict.headers);
  }
  return headers.length > 0 ? { verdict: CONTINUE, decidedBy: null, steps, headers } : { verdict: CONTINUE, decidedBy: null, steps };
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
    case 'unload':
      agents.get(request.agentId)?.dispose();
      agents.delete(request.agentId);
      send({ type: 'unloaded', id: request.id });
      return;
    case 'load':
      try {
        const { agentId, code, memoryMiB } = request.spec;
        const agent = new AgentIsolate(agentId, code, memoryMiB);
        agents.get(agentId)?.dispose();
        agents.set(agentId, agent);
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
