/**
 * The contract between the agent registry (installed bundles, admin settings, breakers, metrics) and
 * what drives it: the management API, the CLI and the SMTP policy layer.
 */
import type { Manifest } from '../../sdk/bundle/manifest.ts';
import type { AgentKind } from '../../sdk/bundle/event-names.ts';
import type { SandboxStats } from '../sandbox/protocol.ts';

export type Capability = 'log' | 'kv' | 'dns' | 'fetch';
export type FailurePolicy = 'open' | 'closed';

/** What the admin decided for one installed agent; persisted in the data dir. */
export interface AgentSettings {
  enabled: boolean;
  /** Lower runs first (Exchange's priority). Default 100; ties break by name. */
  priority: number;
  /** Granted at enable time: a subset of what the manifest requests; `log` is always granted. */
  capabilities: Capability[];
  /** Granted subset of the manifest's `fetchOrigins` (empty unless `fetch` is granted). */
  fetchOrigins: string[];
  /** The agent's configuration, valid against the manifest's `configSchema` (`{}` when it has none). */
  config: unknown;
  /** Per-event budgets the admin lowered; an event not named here runs on the manifest's budget. */
  budgets: Record<string, number>;
  failurePolicy: FailurePolicy;
}

export type BreakerState =
  | { state: 'closed' }
  /** Suspended after `failures` failures in a row; tried again after `until` (epoch ms) or when the admin resets it. */
  | { state: 'open'; since: number; until: number; failures: number; lastError: string };

export interface EventStats {
  calls: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  timeouts: number;
  errors: number;
  badResults: number;
  crashes: number;
  /** Verdicts this agent decided (reject, tempfail, disconnect), by name. */
  verdicts: Record<string, number>;
}

export interface AgentInfo {
  name: string;
  version: string;
  kind: AgentKind;
  manifest: Manifest;
  /** The key that signed the installed bundle; null for an unsigned bundle accepted in development mode. */
  keyId: string | null;
  unsigned: boolean;
  installedAt: number;
  settings: AgentSettings;
  breaker: BreakerState;
  /** Why the agent cannot run although enabled (its key was removed or revoked, its code failed to load). */
  blocked: string | null;
}

export interface AgentStats {
  name: string;
  version: string;
  breaker: BreakerState;
  events: Record<string, EventStats>;
}

export type RegistryErrorCode =
  | 'NOT_FOUND'
  | 'BUNDLE_REJECTED'
  | 'DOWNGRADE'
  | 'SAME_VERSION_DIFFERENT_CODE'
  | 'INVALID_CONFIG'
  | 'INVALID_GRANT'
  | 'INVALID_BUDGET'
  | 'LOAD_FAILED'
  | 'STORAGE';

export class RegistryError extends Error {
  readonly code: RegistryErrorCode;
  /** The dotted field the error is about (`config.maxRecipients`, `capabilities[1]`), when there is one. */
  readonly field: string | undefined;
  /** For BUNDLE_REJECTED: the bundle verifier's own code (UNSIGNED, BAD_SIGNATURE, UNKNOWN_KEY, …). */
  readonly detail: string | undefined;
  constructor(code: RegistryErrorCode, message: string, options: { field?: string; detail?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'RegistryError';
    this.code = code;
    this.field = options.field;
    this.detail = options.detail;
  }
}

/** The operations the management API exposes; every mutation is durable before it resolves and applies to the next event. */
export interface AgentAdmin {
  list(): AgentInfo[];
  get(name: string): AgentInfo | undefined;
  /** Verifies and stores a bundle; a new agent is installed disabled, an upgrade keeps the settings. */
  install(bundle: Uint8Array, options?: { force?: boolean }): Promise<{ agent: AgentInfo; action: 'install' | 'upgrade' | 'forced-downgrade' | 'noop' }>;
  enable(name: string, grant?: { capabilities?: Capability[]; fetchOrigins?: string[] }): Promise<AgentInfo>;
  disable(name: string): Promise<AgentInfo>;
  setPriority(name: string, priority: number): Promise<AgentInfo>;
  setConfig(name: string, config: unknown): Promise<AgentInfo>;
  setPolicy(name: string, policy: { budgets?: Record<string, number>; failurePolicy?: FailurePolicy }): Promise<AgentInfo>;
  /** Closes an open breaker now. */
  resetBreaker(name: string): Promise<AgentInfo>;
  uninstall(name: string): Promise<void>;
  stats(name: string): AgentStats;
  /** Re-checks every agent against the trust store: agents whose key was removed or revoked stop running. */
  trustChanged(): Promise<void>;
  /** Which sandbox driver runs agents and what it guarantees (for the API and the banner). */
  driver(): { name: string; guarantees: string[] };
  /** The sandbox driver's counters (host restarts, polls), when it keeps any. */
  sandboxStats(): SandboxStats | undefined;
  /** True when unsigned bundles are accepted (development mode, an explicit start flag). */
  readonly devMode: boolean;
}
