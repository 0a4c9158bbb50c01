/** Messages between the server and a sandbox host process (valibot schemas, both sides), the host's black box, and the driver interface. */
import * as v from 'valibot';
import { SandboxVerdictSchema } from './sandbox-verdict.ts';
import { BodySchema, HeaderEditSchema, RecipientEditSchema } from '../../sdk/verdict-schema.ts';

const Id = v.pipe(v.number(), v.integer(), v.minValue(0));
/** What an agent id looks like (also checked by hand on the hot paths, host-message-check.ts and host-frame-check.ts). */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;
const AgentId = v.pipe(v.string(), v.regex(AGENT_ID_PATTERN, 'an agent id'));
/** What an event name looks like (also checked by hand on the host's hot path, host-frame-check.ts). */
export const EVENT_NAME_PATTERN = /^on[A-Z][A-Za-z]{0,63}$/;
const EventName = v.pipe(v.string(), v.regex(EVENT_NAME_PATTERN, 'an event name such as onMailFrom'));

export const ChainLinkSchema = v.object({
  agentId: AgentId,
  budgetMs: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(60_000)),
  /** `closed` (default): a failed step tempfails the chain; `open`: it is skipped. */
  failure: v.optional(v.picklist(['open', 'closed'])),
  /** The agent asked for the message body: only such agents see the payload's `body` field. */
  body: v.optional(v.boolean()),
});
export type ChainLink = v.InferOutput<typeof ChainLinkSchema>;

export const StepSchema = v.object({
  agentId: AgentId,
  ms: v.number(),
  outcome: v.picklist(['ok', 'timeout', 'error', 'bad-result', 'crash']),
  error: v.optional(v.string()),
});
export type Step = v.InferOutput<typeof StepSchema>;

export const ChainResultSchema = v.object({
  /** The terminal verdict that ended the chain, or `continue` (without edits) when none did. */
  verdict: SandboxVerdictSchema,
  decidedBy: v.nullable(AgentId),
  steps: v.array(StepSchema),
  /** When the chain continued: the header edits of every agent that returned some, in chain order. */
  headers: v.optional(v.array(HeaderEditSchema)),
  /** When a routing chain continued: the recipient edits of every agent that returned some, in chain order. */
  recipients: v.optional(v.array(RecipientEditSchema)),
  /** When a routing chain continued: the last body replacement an agent returned (base64). */
  body: v.optional(BodySchema),
});
export type ChainResult = v.InferOutput<typeof ChainResultSchema>;

/** What an agent may use besides `log`, as the admin granted it at enable time. */
export const AgentGrantsSchema = v.object({
  capabilities: v.array(v.picklist(['log', 'kv', 'dns', 'fetch'])),
  /** Origins (scheme://host[:port]) `fetch` may reach; empty unless `fetch` is granted. */
  fetchOrigins: v.array(v.string()),
  /** Absolute directory of the agent's persistent key-value store; set only when `kv` is granted. */
  kvDir: v.optional(v.string()),
  /** DNS servers (`ip` or `ip:port`) for `dns`; the system's resolvers when absent. */
  dnsServers: v.optional(v.array(v.string())),
});
export type AgentGrants = v.InferOutput<typeof AgentGrantsSchema>;

/** Everything a driver needs to load one agent. `config` is JSON, already validated against the agent's schema. */
export const AgentLoadSpecSchema = v.object({
  agentId: AgentId,
  code: v.pipe(v.string(), v.maxLength(16 * 1024 * 1024)),
  memoryMiB: v.pipe(v.number(), v.integer(), v.minValue(8), v.maxValue(4096)),
  config: v.optional(v.unknown()),
  grants: v.optional(AgentGrantsSchema),
});
export type AgentLoadSpec = v.InferOutput<typeof AgentLoadSpecSchema>;

const LoadRequest = v.object({ type: v.literal('load'), id: Id, spec: AgentLoadSpecSchema });
const UnloadRequest = v.object({ type: v.literal('unload'), id: Id, agentId: AgentId });
const PingRequest = v.object({ type: v.literal('ping'), id: Id });

/**
 * A request as data: what `runChain`, `load`, `unload` and a ping carry. In-process drivers check
 * `runChain`'s arguments against the `run` variant; on the host's stdin a run travels as `HostFrame`.
 */
export const HostRequestSchema = v.variant('type', [
  LoadRequest,
  UnloadRequest,
  PingRequest,
  v.object({ type: v.literal('run'), id: Id, event: EventName, payload: v.unknown(), chain: v.array(ChainLinkSchema) }),
]);
export type HostRequest = v.InferOutput<typeof HostRequestSchema>;

/**
 * Server → host, one JSON line each. A `run` line is followed by `lines` raw lines of payload JSON
 * that the host hands to agents as they are, never parsing them: the first for agents that asked for
 * the body, the last for the others (one line when they are the same; see payload-lines.ts).
 */
export const HostFrameSchema = v.variant('type', [
  LoadRequest,
  UnloadRequest,
  PingRequest,
  v.object({ type: v.literal('run'), id: Id, event: EventName, chain: v.array(ChainLinkSchema), lines: v.picklist([1, 2]) }),
]);
export type HostFrame = v.InferOutput<typeof HostFrameSchema>;

/** A line an agent wrote with `ctx.log` (already truncated and rate-limited by the host). */
export const AgentLogSchema = v.object({
  type: v.literal('log'),
  agentId: AgentId,
  level: v.picklist(['debug', 'info', 'warn', 'error']),
  message: v.string(),
  fields: v.optional(v.record(v.string(), v.unknown())),
});
export type AgentLogMessage = v.InferOutput<typeof AgentLogSchema>;

/**
 * Host → server, one JSON line each; answers come in the order the requests were sent. `log` frames
 * carry no request id and may come at any time while a chain runs.
 */
export const HostMessageSchema = v.variant('type', [
  v.object({ type: v.literal('ready'), pid: v.number() }),
  v.object({ type: v.literal('loaded'), id: Id, ok: v.boolean(), error: v.optional(v.string()) }),
  v.object({ type: v.literal('unloaded'), id: Id }),
  v.object({ type: v.literal('pong'), id: Id }),
  v.object({ type: v.literal('chain'), id: Id, result: ChainResultSchema }),
  v.object({ type: v.literal('invalid'), id: v.nullable(Id), error: v.string() }),
  AgentLogSchema,
]);
export type HostMessage = v.InferOutput<typeof HostMessageSchema>;

/**
 * What the host writes into its black box file before each agent runs (black-box.ts): the request
 * and agent about to run, when it started (epoch ms), and the steps done so far. Read only after the
 * host died, to blame the agent that was running.
 */
export const BlackBoxRecordSchema = v.object({
  id: Id,
  agentId: AgentId,
  at: v.number(),
  done: v.array(StepSchema),
});
export type BlackBoxRecord = v.InferOutput<typeof BlackBoxRecordSchema>;

export type LoadResult = { ok: true } | { ok: false; error: string };

/** One way of running agents in isolation; every driver passes `runtime/sandbox/conformance-cases.ts`. */
export interface SandboxDriver {
  start(): Promise<void>;
  /** Compiles and runs the agent's top-level code once; compile or load errors come back, not thrown. */
  load(spec: AgentLoadSpec): Promise<LoadResult>;
  unload(agentId: string): Promise<void>;
  /** Runs the agents in order; never rejects for anything an agent does. */
  runChain(event: string, payload: unknown, chain: ChainLink[]): Promise<ChainResult>;
  close(): Promise<void>;
  /** Counters for the operator (metrics), from drivers that have any. */
  stats?(): SandboxStats;
}

/** What a sandbox driver counts: host process restarts, and the polls for the host's answers (sandbox-host.ts). */
export interface SandboxStats {
  hostRestarts: number;
  /** answered: a poll window read answers; empty: one passed without any; skipped: polling was paused (backing off). */
  polls: { answered: number; empty: number; skipped: number };
}
