/**
 * The agent registry: installed bundles (verified at install and at every load from disk), the
 * admin's settings per agent, the per-event chains the dispatcher runs, breakers and metrics.
 * Every change is durable before it resolves and applies to the next event; an event already
 * running finishes on the agent version it started with (each load gets its own sandbox id, and the
 * old one is unloaded only after the new chains are in place).
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as v from 'valibot';
import { EVENTS_BY_KIND } from '../../sdk/bundle/event-names.ts';
import { configProblem } from '../../sdk/bundle/agent-config.ts';
import { parseJsonStrict } from '../../sdk/bundle/json-strict.ts';
import { formatManifestIssues, ManifestSchema, type Manifest } from '../../sdk/bundle/manifest.ts';
import { openBundle, type TrustLookup } from '../../sdk/bundle/verify-bundle.ts';
import type { LogFn } from '../log/logger.ts';
import { writeAtomically } from '../platform/write-atomically.ts';
import type { ChainLink, ChainResult, SandboxDriver, SandboxStats } from '../sandbox/protocol.ts';
import { AgentMetrics } from './agent-metrics.ts';
import { Breaker, DEFAULT_BREAKER, type BreakerOptions } from './breaker.ts';
import { checkUpgrade } from './install-policy.ts';
import {
  RegistryError,
  type AgentAdmin,
  type AgentInfo,
  type AgentSettings,
  type AgentStats,
  type Capability,
  type FailurePolicy,
} from './registry-types.ts';

/** The events whose payload carries the message body, for agents whose manifest asks for it. */
const BODY_EVENTS: ReadonlySet<string> = new Set(['onEndOfData', 'onSubmittedMessage', 'onResolvedMessage', 'onRoutedMessage', 'onCategorizedMessage', 'onDeliverMailItem']);

export const DEFAULT_PRIORITY = 100;

const SettingsSchema = v.strictObject({
  enabled: v.boolean(),
  priority: v.pipe(v.number(), v.integer()),
  capabilities: v.array(v.picklist(['log', 'kv', 'dns', 'fetch'])),
  fetchOrigins: v.array(v.string()),
  config: v.unknown(),
  budgets: v.record(v.string(), v.pipe(v.number(), v.integer(), v.minValue(1))),
  failurePolicy: v.picklist(['open', 'closed']),
});

const RecordSchema = v.strictObject({
  name: v.string(),
  version: v.string(),
  /** The bundle file, relative to the agents directory. */
  file: v.string(),
  keyId: v.nullable(v.string()),
  unsigned: v.boolean(),
  installedAt: v.number(),
  /** A copy for listing when the bundle no longer verifies; never used to run anything. */
  manifest: v.unknown(),
  settings: SettingsSchema,
});
type AgentRecord = v.InferOutput<typeof RecordSchema>;

const StateSchema = v.strictObject({ version: v.literal(1), agents: v.array(RecordSchema) });

const PriorityInput = v.pipe(v.number('priority must be a number'), v.integer('priority must be an integer'), v.minValue(-1_000_000), v.maxValue(1_000_000));

/** One agent's place in an event's chain. */
export interface ChainMember {
  name: string;
  version: string;
  unsigned: boolean;
  link: ChainLink;
}

interface Entry {
  record: AgentRecord;
  manifest: Manifest;
  /** The verified code, or null when the bundle no longer verifies (key removed or revoked, file damaged). */
  code: string | null;
  breaker: Breaker;
  /** The sandbox id of the loaded copy, or null when not loaded. */
  runId: string | null;
  /** Why an enabled agent cannot run (verification or load failure). */
  blocked: string | null;
}

export interface RegistryOptions {
  /** The data dir; agents live under `<dataDir>/agents/`. */
  dataDir: string;
  trust: TrustLookup;
  driver: SandboxDriver;
  driverInfo: { name: string; guarantees: string[] };
  /** Accept unsigned bundles (development mode, an explicit start flag). */
  devMode?: boolean;
  log: LogFn;
  breaker?: BreakerOptions;
  now?: () => number;
}

function vendorAgent(name: string): [string, string] {
  const slash = name.indexOf('/');
  return [name.slice(0, slash), name.slice(slash + 1)];
}

/** Settings of a newly installed agent: disabled, default priority, `log` only, fail closed. */
function initialSettings(): AgentSettings {
  return { enabled: false, priority: DEFAULT_PRIORITY, capabilities: ['log'], fetchOrigins: [], config: {}, budgets: {}, failurePolicy: 'closed' };
}

export class AgentRegistry implements AgentAdmin {
  readonly #options: RegistryOptions;
  readonly #dir: string;
  readonly #entries = new Map<string, Entry>();
  readonly #metrics = new AgentMetrics();
  readonly #now: () => number;
  #chains = new Map<string, ChainMember[]>();
  #generation = 0;
  #driverStarted: Promise<void> | undefined;
  #serial: Promise<unknown> = Promise.resolve();

  private constructor(options: RegistryOptions) {
    this.#options = options;
    this.#dir = join(options.dataDir, 'agents');
    this.#now = options.now ?? Date.now;
  }

  /** Opens the registry: verifies every installed bundle again and loads the enabled agents. */
  static async open(options: RegistryOptions): Promise<AgentRegistry> {
    const registry = new AgentRegistry(options);
    await registry.#load();
    return registry;
  }

  get devMode(): boolean {
    return this.#options.devMode === true;
  }

  driver(): { name: string; guarantees: string[] } {
    return { name: this.#options.driverInfo.name, guarantees: [...this.#options.driverInfo.guarantees] };
  }

  sandboxStats(): SandboxStats | undefined {
    return this.#options.driver.stats?.();
  }

  // ---- what the dispatcher uses ----

  /** The agents handling `event` now, in order (a snapshot: later changes do not touch it). */
  chain(event: string): readonly ChainMember[] {
    return this.#chains.get(event) ?? [];
  }

  /** The members whose breaker lets them run now. */
  runnable(event: string): ChainMember[] {
    const now = this.#now();
    return this.chain(event).filter((m) => this.#entries.get(m.name)?.breaker.allows(now) ?? false);
  }

  /** Records a chain's steps: metrics, breakers, and a log line per failure. */
  record(event: string, members: readonly ChainMember[], result: ChainResult): void {
    const byRunId = new Map(members.map((m) => [m.link.agentId, m]));
    for (const step of result.steps) {
      const member = byRunId.get(step.agentId);
      if (member === undefined) continue;
      const decided = result.decidedBy === step.agentId && step.outcome === 'ok' ? result.verdict.verdict : undefined;
      this.#metrics.record(member.name, event, step, decided);
      const entry = this.#entries.get(member.name);
      if (entry === undefined) continue;
      const tag = member.unsigned ? { unsigned: true } : {};
      if (step.outcome === 'ok') {
        if (entry.breaker.success()) this.#options.log('info', 'agent.breaker.closed', { agent: member.name, version: member.version, ...tag });
        continue;
      }
      const error = `${step.outcome}${step.error ? `: ${step.error}` : ''}`;
      this.#options.log('warn', 'agent.failed', { agent: member.name, version: member.version, event, outcome: step.outcome, error: step.error, ms: step.ms, ...tag });
      if (entry.breaker.failure(this.#now(), error)) {
        const state = entry.breaker.state;
        this.#options.log('error', 'agent.breaker.open', {
          agent: member.name,
          version: member.version,
          failures: state.state === 'open' ? state.failures : 0,
          until: state.state === 'open' ? new Date(state.until).toISOString() : undefined,
          ...tag,
        });
      }
    }
  }

  // ---- AgentAdmin ----

  list(): AgentInfo[] {
    return [...this.#entries.values()].sort((a, b) => a.record.settings.priority - b.record.settings.priority || a.record.name.localeCompare(b.record.name)).map((e) => this.#info(e));
  }

  get(name: string): AgentInfo | undefined {
    const entry = this.#entries.get(name);
    return entry && this.#info(entry);
  }

  install(bundle: Uint8Array, options: { force?: boolean } = {}): Promise<{ agent: AgentInfo; action: 'install' | 'upgrade' | 'forced-downgrade' | 'noop' }> {
    return this.#change(async () => {
      const opened = openBundle(bundle, this.#options.trust, { allowUnsigned: this.devMode });
      if (!opened.ok) throw new RegistryError('BUNDLE_REJECTED', `bundle refused (${opened.error.code}): ${opened.error.message}`, { detail: opened.error.code });
      const { manifest } = opened;
      const existing = this.#entries.get(manifest.name);
      const decision = checkUpgrade(
        existing && { version: existing.record.version, codeSha256: existing.manifest.code.sha256 },
        { version: manifest.version, codeSha256: manifest.code.sha256 },
        options.force === true,
      );
      if (!decision.ok) throw new RegistryError(decision.code, decision.message);
      if (decision.action === 'noop' && existing !== undefined) return { agent: this.#info(existing), action: 'noop' as const };
      const [vendor, agent] = vendorAgent(manifest.name);
      const file = join('bundles', vendor, agent, `${manifest.version}.sluice`);
      await mkdir(join(this.#dir, 'bundles', vendor, agent), { recursive: true });
      await writeAtomically(join(this.#dir, file), bundle, 0o644);
      const settings = existing ? this.#carrySettings(existing.record.settings, manifest) : initialSettings();
      const record: AgentRecord = {
        name: manifest.name,
        version: manifest.version,
        file,
        keyId: opened.keyId,
        unsigned: !opened.signed,
        installedAt: this.#now(),
        manifest,
        settings,
      };
      const entry: Entry = {
        record,
        manifest,
        code: new TextDecoder().decode(opened.code),
        breaker: existing?.breaker ?? new Breaker(this.#options.breaker ?? DEFAULT_BREAKER),
        runId: existing?.runId ?? null,
        blocked: null,
      };
      this.#entries.set(manifest.name, entry);
      await this.#persist();
      if (existing !== undefined && existing.record.file !== file) await rm(join(this.#dir, existing.record.file), { force: true });
      this.#options.log('info', 'agent.installed', { agent: manifest.name, version: manifest.version, action: decision.action, key: opened.keyId ?? undefined, ...(record.unsigned ? { unsigned: true } : {}) });
      await this.#activate(entry);
      return { agent: this.#info(entry), action: decision.action };
    });
  }

  enable(name: string, grant: { capabilities?: Capability[]; fetchOrigins?: string[] } = {}): Promise<AgentInfo> {
    return this.#change(async () => {
      const entry = this.#entry(name);
      if (entry.code === null) throw new RegistryError('BUNDLE_REJECTED', `${name} cannot be enabled: ${entry.blocked ?? 'its bundle does not verify'}`, { detail: 'VERIFY' });
      const requested = entry.manifest.capabilities;
      const capabilities = grant.capabilities ?? [];
      capabilities.forEach((c, i) => {
        if (c !== 'log' && !requested.includes(c)) {
          throw new RegistryError('INVALID_GRANT', `${name} does not request the ${c} capability (it requests: ${requested.join(', ') || 'none'})`, { field: `capabilities[${i}]` });
        }
      });
      const granted = [...new Set<Capability>(['log', ...capabilities])];
      const allowed = entry.manifest.fetchOrigins ?? [];
      let fetchOrigins: string[] = [];
      if (granted.includes('fetch')) {
        fetchOrigins = grant.fetchOrigins ?? [...allowed];
        fetchOrigins.forEach((o, i) => {
          if (!allowed.includes(o)) throw new RegistryError('INVALID_GRANT', `${o} is not among the origins ${name} requests (${allowed.join(', ')})`, { field: `fetchOrigins[${i}]` });
        });
      } else if (grant.fetchOrigins !== undefined && grant.fetchOrigins.length > 0) {
        throw new RegistryError('INVALID_GRANT', 'fetchOrigins can only be granted with the fetch capability', { field: 'fetchOrigins' });
      }
      entry.record.settings = { ...entry.record.settings, enabled: true, capabilities: granted, fetchOrigins };
      entry.breaker.reset();
      await this.#persist();
      this.#options.log('info', 'agent.enabled', { agent: name, version: entry.record.version, capabilities: granted.join(','), ...this.#tag(entry) });
      await this.#activate(entry);
      return this.#info(entry);
    });
  }

  disable(name: string): Promise<AgentInfo> {
    return this.#change(async () => {
      const entry = this.#entry(name);
      entry.record.settings = { ...entry.record.settings, enabled: false };
      await this.#persist();
      this.#options.log('info', 'agent.disabled', { agent: name, version: entry.record.version, ...this.#tag(entry) });
      await this.#activate(entry);
      return this.#info(entry);
    });
  }

  setPriority(name: string, priority: number): Promise<AgentInfo> {
    return this.#change(async () => {
      const entry = this.#entry(name);
      const parsed = v.safeParse(PriorityInput, priority);
      if (!parsed.success) throw new RegistryError('INVALID_CONFIG', `priority: ${parsed.issues[0]?.message ?? 'invalid'}`, { field: 'priority' });
      entry.record.settings = { ...entry.record.settings, priority: parsed.output };
      await this.#persist();
      this.#rebuildChains();
      return this.#info(entry);
    });
  }

  setConfig(name: string, config: unknown): Promise<AgentInfo> {
    return this.#change(async () => {
      const entry = this.#entry(name);
      this.#validateConfig(entry.manifest, config);
      entry.record.settings = { ...entry.record.settings, config: structuredClone(config) };
      await this.#persist();
      this.#options.log('info', 'agent.configured', { agent: name, version: entry.record.version, ...this.#tag(entry) });
      await this.#activate(entry);
      return this.#info(entry);
    });
  }

  setPolicy(name: string, policy: { budgets?: Record<string, number>; failurePolicy?: FailurePolicy }): Promise<AgentInfo> {
    return this.#change(async () => {
      const entry = this.#entry(name);
      const budgets = { ...entry.record.settings.budgets };
      for (const [event, ms] of Object.entries(policy.budgets ?? {})) {
        const field = `budgets.${event}`;
        const asked = (entry.manifest.budgets as Record<string, number>)[event];
        if (asked === undefined) throw new RegistryError('INVALID_BUDGET', `${name} does not handle ${event} (it handles ${entry.manifest.events.join(', ')})`, { field });
        if (!Number.isInteger(ms) || ms < 1) throw new RegistryError('INVALID_BUDGET', `${field} must be a whole number of milliseconds ≥ 1`, { field });
        if (ms > asked) throw new RegistryError('INVALID_BUDGET', `${field}: ${ms} ms is above the ${asked} ms the manifest asks for; the admin may only lower a budget`, { field });
        budgets[event] = ms;
      }
      const failurePolicy = policy.failurePolicy ?? entry.record.settings.failurePolicy;
      entry.record.settings = { ...entry.record.settings, budgets, failurePolicy };
      await this.#persist();
      this.#rebuildChains();
      return this.#info(entry);
    });
  }

  resetBreaker(name: string): Promise<AgentInfo> {
    return this.#change(async () => {
      const entry = this.#entry(name);
      entry.breaker.reset();
      this.#options.log('info', 'agent.breaker.reset', { agent: name, version: entry.record.version, ...this.#tag(entry) });
      return this.#info(entry);
    });
  }

  uninstall(name: string): Promise<void> {
    return this.#change(async () => {
      const entry = this.#entry(name);
      this.#entries.delete(name);
      await this.#persist();
      this.#rebuildChains();
      if (entry.runId !== null) await this.#options.driver.unload(entry.runId);
      const [vendor, agent] = vendorAgent(name);
      await rm(join(this.#dir, 'bundles', vendor, agent), { recursive: true, force: true });
      await rm(this.#kvDir(name), { recursive: true, force: true });
      this.#metrics.forget(name);
      this.#options.log('info', 'agent.uninstalled', { agent: name, version: entry.record.version, ...this.#tag(entry) });
    });
  }

  stats(name: string): AgentStats {
    const entry = this.#entry(name);
    return { name, version: entry.record.version, breaker: entry.breaker.state, events: this.#metrics.stats(name) };
  }

  trustChanged(): Promise<void> {
    return this.#change(async () => {
      let changed = false;
      for (const entry of this.#entries.values()) {
        const bytes = await readFile(join(this.#dir, entry.record.file)).catch(() => null);
        const verdict = bytes === null ? null : openBundle(bytes, this.#options.trust, { allowUnsigned: this.devMode });
        if (verdict !== null && verdict.ok) {
          if (entry.code === null) {
            entry.code = new TextDecoder().decode(verdict.code);
            entry.blocked = null;
            this.#options.log('info', 'agent.verified', { agent: entry.record.name, version: entry.record.version });
          }
          continue;
        }
        const reason = verdict === null ? 'its bundle file is missing' : `its bundle no longer verifies (${verdict.error.code}): ${verdict.error.message}`;
        if (entry.code === null && !entry.record.settings.enabled) continue;
        entry.code = null;
        entry.blocked = reason;
        if (entry.record.settings.enabled) {
          entry.record.settings = { ...entry.record.settings, enabled: false };
          changed = true;
        }
        this.#options.log('warn', 'agent.disabled', { agent: entry.record.name, version: entry.record.version, reason });
        await this.#activate(entry);
      }
      if (changed) await this.#persist();
    });
  }

  // ---- internals ----

  #tag(entry: Entry): { unsigned?: true } {
    return entry.record.unsigned ? { unsigned: true } : {};
  }

  #entry(name: string): Entry {
    const entry = this.#entries.get(name);
    if (entry === undefined) throw new RegistryError('NOT_FOUND', `no agent named ${name} is installed`, { field: 'name' });
    return entry;
  }

  #info(entry: Entry): AgentInfo {
    const { record } = entry;
    return {
      name: record.name,
      version: record.version,
      kind: entry.manifest.kind,
      manifest: structuredClone(entry.manifest),
      keyId: record.keyId,
      unsigned: record.unsigned,
      installedAt: record.installedAt,
      settings: structuredClone(record.settings),
      breaker: { ...entry.breaker.state },
      blocked: entry.blocked,
    };
  }

  #kvDir(name: string): string {
    const [vendor, agent] = vendorAgent(name);
    return join(this.#dir, 'kv', vendor, agent);
  }

  /** Settings carried over an upgrade: grants narrowed to what the new version requests; a config it rejects disables it. */
  #carrySettings(old: AgentSettings, manifest: Manifest): AgentSettings {
    const capabilities = old.capabilities.filter((c) => c === 'log' || manifest.capabilities.includes(c));
    const fetchOrigins = capabilities.includes('fetch') ? old.fetchOrigins.filter((o) => manifest.fetchOrigins?.includes(o)) : [];
    const budgets = Object.fromEntries(Object.entries(old.budgets).filter(([event, ms]) => {
      const asked = (manifest.budgets as Record<string, number>)[event];
      return asked !== undefined && ms <= asked;
    }));
    let enabled = old.enabled;
    try {
      this.#validateConfig(manifest, old.config);
    } catch (error) {
      enabled = false;
      this.#options.log('warn', 'agent.disabled', { agent: manifest.name, version: manifest.version, reason: `the configuration does not fit the new version: ${(error as Error).message}` });
    }
    return { ...old, enabled, capabilities, fetchOrigins, budgets };
  }

  #validateConfig(manifest: Manifest, config: unknown): void {
    const problem = configProblem(manifest, config);
    if (problem !== null) throw new RegistryError('INVALID_CONFIG', problem.message, { field: problem.field });
  }

  /** Runs mutations one at a time. */
  #change<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(work);
    this.#serial = run.catch(() => {});
    return run;
  }

  async #persist(): Promise<void> {
    const agents = [...this.#entries.values()].map((e) => e.record);
    try {
      await mkdir(this.#dir, { recursive: true });
      await writeAtomically(join(this.#dir, 'state.json'), `${JSON.stringify({ version: 1, agents }, null, 2)}\n`);
    } catch (error) {
      throw new RegistryError('STORAGE', `cannot save the agent registry: ${(error as Error).message}`, { cause: error });
    }
  }

  async #load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(join(this.#dir, 'state.json'), 'utf8');
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return;
      throw error;
    }
    const json = parseJsonStrict(text);
    if (!json.ok) throw new RegistryError('STORAGE', `agents/state.json is not strict JSON: ${json.error}`);
    const parsed = v.safeParse(StateSchema, json.value);
    if (!parsed.success) throw new RegistryError('STORAGE', `agents/state.json is invalid: ${formatManifestIssues(parsed.issues).join('; ')}`);
    for (const record of parsed.output.agents) {
      const bytes = await readFile(join(this.#dir, record.file)).catch(() => null);
      const opened = bytes === null ? null : openBundle(bytes, this.#options.trust, { allowUnsigned: this.devMode });
      const stored = v.safeParse(ManifestSchema, record.manifest);
      const manifest: Manifest | undefined = opened?.ok ? opened.manifest : stored.success ? stored.output : undefined;
      if (manifest === undefined) {
        this.#options.log('error', 'agent.unreadable', { agent: record.name, version: record.version });
        continue;
      }
      const entry: Entry = {
        record,
        manifest,
        code: opened?.ok ? new TextDecoder().decode(opened.code) : null,
        breaker: new Breaker(this.#options.breaker ?? DEFAULT_BREAKER),
        runId: null,
        blocked: null,
      };
      if (opened === null || !opened.ok) {
        entry.blocked = opened === null ? 'its bundle file is missing' : `its bundle no longer verifies (${opened.error.code}): ${opened.error.message}`;
        this.#options.log('warn', 'agent.blocked', { agent: record.name, version: record.version, reason: entry.blocked });
      }
      this.#entries.set(record.name, entry);
    }
    for (const entry of this.#entries.values()) await this.#activate(entry);
  }

  /** Brings the sandbox in line with the entry: loads a fresh copy when it should run, unloads the old one after the chains moved on. */
  async #activate(entry: Entry): Promise<void> {
    const previous = entry.runId;
    const { settings } = entry.record;
    entry.runId = null;
    if (settings.enabled && entry.code !== null) {
      const runId = `${entry.record.name}.${++this.#generation}`;
      const grants: { capabilities: Capability[]; fetchOrigins: string[]; kvDir?: string } = { capabilities: settings.capabilities, fetchOrigins: settings.fetchOrigins };
      if (settings.capabilities.includes('kv')) {
        grants.kvDir = this.#kvDir(entry.record.name);
        await mkdir(grants.kvDir, { recursive: true });
      }
      // The sandbox starts with the first agent that runs: a server without agents spawns nothing.
      this.#driverStarted ??= this.#options.driver.start();
      await this.#driverStarted;
      const loaded = await this.#options.driver.load({ agentId: runId, code: entry.code, memoryMiB: entry.manifest.memoryMiB, config: settings.config, grants });
      if (loaded.ok) {
        entry.runId = runId;
        entry.blocked = null;
      } else {
        entry.blocked = `its code failed to load: ${loaded.error}`;
        this.#options.log('error', 'agent.load-failed', { agent: entry.record.name, version: entry.record.version, error: loaded.error, ...this.#tag(entry) });
      }
    }
    this.#rebuildChains();
    if (previous !== null) await this.#options.driver.unload(previous);
  }

  #rebuildChains(): void {
    const chains = new Map<string, ChainMember[]>();
    const running = [...this.#entries.values()]
      .filter((e) => e.runId !== null)
      .sort((a, b) => a.record.settings.priority - b.record.settings.priority || a.record.name.localeCompare(b.record.name));
    for (const entry of running) {
      const { settings } = entry.record;
      for (const event of entry.manifest.events) {
        if (!(EVENTS_BY_KIND[entry.manifest.kind] as readonly string[]).includes(event)) continue;
        const asked = (entry.manifest.budgets as Record<string, number>)[event] ?? 1;
        const link: ChainLink = { agentId: entry.runId as string, budgetMs: Math.min(asked, settings.budgets[event] ?? asked), failure: settings.failurePolicy };
        if (BODY_EVENTS.has(event) && entry.manifest.wantsBody) link.body = true;
        const member: ChainMember = { name: entry.record.name, version: entry.record.version, unsigned: entry.record.unsigned, link };
        const list = chains.get(event);
        if (list === undefined) chains.set(event, [member]);
        else list.push(member);
      }
    }
    this.#chains = chains;
  }
}
