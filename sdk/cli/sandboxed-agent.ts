/** One agent loaded into the server's own sandbox driver (SandboxHost), granted what its manifest asks for, run one event at a time. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SandboxHost } from '../../runtime/sandbox/sandbox-host.ts';
import type { AgentGrants, ChainLink, ChainResult } from '../../runtime/sandbox/protocol.ts';
import type { AgentUnderTest } from './agent-under-test.ts';
import { CommandError } from './cli-io.ts';

export class SandboxedAgent {
  readonly agent: AgentUnderTest;
  #host: SandboxHost;
  #kvDir: string | undefined;

  private constructor(agent: AgentUnderTest, host: SandboxHost, kvDir: string | undefined) {
    this.agent = agent;
    this.#host = host;
    this.#kvDir = kvDir;
  }

  /**
   * Starts a sandbox host and loads the agent with the manifest's memory and every capability it
   * requests (a `kv` store in a fresh temp directory). A load failure is a CommandError.
   */
  static async load(agent: AgentUnderTest, config: unknown, onLog: (line: string) => void): Promise<SandboxedAgent> {
    const { manifest } = agent;
    const kvDir = manifest.capabilities.includes('kv') ? await mkdtemp(join(tmpdir(), 'sluice-agent-kv-')) : undefined;
    const grants: AgentGrants = { capabilities: [...manifest.capabilities], fetchOrigins: [...(manifest.fetchOrigins ?? [])] };
    if (kvDir !== undefined) grants.kvDir = kvDir;
    const host = new SandboxHost({ onLog });
    const loaded = new SandboxedAgent(agent, host, kvDir);
    try {
      await host.start();
      const result = await host.load({ agentId: manifest.name, code: agent.code, memoryMiB: manifest.memoryMiB, config: config ?? {}, grants });
      if (!result.ok) throw new CommandError(`the sandbox refused to load ${manifest.name}: ${result.error}`);
    } catch (error) {
      await loaded.close();
      if (error instanceof CommandError) throw error;
      throw new CommandError(`cannot start the sandbox host: ${error instanceof Error ? error.message : String(error)}`);
    }
    return loaded;
  }

  /** The budget the manifest gives `event`; undefined when the agent does not subscribe to it. */
  budgetFor(event: string): number | undefined {
    const { manifest } = this.agent;
    return (manifest.events as readonly string[]).includes(event) ? (manifest.budgets as Record<string, number>)[event] : undefined;
  }

  /** Runs one subscribed event as a one-agent chain under its budget, failure policy `closed`, as the server does. */
  run(event: string, payload: unknown): Promise<ChainResult> {
    const budgetMs = this.budgetFor(event);
    if (budgetMs === undefined) throw new Error(`${this.agent.manifest.name} does not subscribe to ${event}`);
    const link: ChainLink = { agentId: this.agent.manifest.name, budgetMs, failure: 'closed', body: this.agent.manifest.wantsBody };
    return this.#host.runChain(event, payload, [link]);
  }

  async close(): Promise<void> {
    await this.#host.close();
    if (this.#kvDir !== undefined) await rm(this.#kvDir, { recursive: true, force: true });
  }
}
