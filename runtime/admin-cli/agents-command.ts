/** `sluice agents …`: install, list, show, enable, disable, priority, config, policy, stats, reset-breaker, uninstall. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { AgentInfo, AgentStats } from '../agents/registry-types.ts';
import type { ApiClient } from './api-client.ts';
import { agentPath, UsageError, type AdminIo } from './admin-context.ts';
import { formatTable } from './table.ts';

export const AGENTS_USAGE = `Usage: sluice agents <command> [options]

  list                                   installed agents, in the order they run
  show <vendor/agent>                    manifest, settings, breaker
  install <file> [--force]               install or upgrade from a signed bundle (--force allows a downgrade)
  enable <name> [--grant kv,dns,fetch] [--fetch-origin URL]...
  disable <name>
  priority <name> <n>                    lower runs first
  config <name> <json|@file>             replace the agent's configuration
  policy <name> [--budget event=ms]... [--failure open|closed]
  stats <name>                           calls, latency, failures per event
  reset-breaker <name>
  uninstall <name>

Options: --api HOST:PORT (default 127.0.0.1:8025 or $SLUICE_API), --token T | --token-file F
(default $SLUICE_TOKEN, then $SLUICE_DATA/admin.token or ./sluice-data/admin.token), --json
`;

export const AGENTS_OPTIONS = {
  force: { type: 'boolean' },
  grant: { type: 'string', multiple: true },
  'fetch-origin': { type: 'string', multiple: true },
  budget: { type: 'string', multiple: true },
  failure: { type: 'string' },
} as const;

export interface AgentsArgs {
  positionals: string[];
  values: { force?: boolean; grant?: string[]; 'fetch-origin'?: string[]; budget?: string[]; failure?: string; json?: boolean };
}

function state(a: AgentInfo): string {
  if (a.blocked !== null) return 'blocked';
  if (a.breaker.state === 'open') return 'suspended';
  return a.settings.enabled ? 'enabled' : 'disabled';
}

function when(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

function showAgent(a: AgentInfo): string {
  const s = a.settings;
  const lines: [string, string][] = [
    ['name', a.name],
    ['version', a.version],
    ['kind', a.kind],
    ['state', state(a)],
    ['priority', String(s.priority)],
    ['events', a.manifest.events.map((e) => `${e} (${s.budgets[e] ?? (a.manifest.budgets as Record<string, number>)[e]} ms)`).join(', ')],
    ['requests', a.manifest.capabilities.join(', ') || '-'],
    ['granted', s.capabilities.join(', ')],
    ...(s.fetchOrigins.length > 0 ? ([['fetch origins', s.fetchOrigins.join(', ')]] as [string, string][]) : []),
    ['failure policy', s.failurePolicy],
    ['config', JSON.stringify(s.config)],
    ['breaker', a.breaker.state === 'open' ? `open since ${when(a.breaker.since)} after ${a.breaker.failures} failures (${a.breaker.lastError})` : 'closed'],
    ['signed by', a.unsigned ? 'UNSIGNED (development mode)' : (a.keyId ?? '-')],
    ['installed', when(a.installedAt)],
    ...(a.blocked !== null ? ([['blocked', a.blocked]] as [string, string][]) : []),
  ];
  const width = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}\n`).join('');
}

function statsTable(stats: AgentStats): string {
  const rows = Object.entries(stats.events).map(([event, e]) => [
    event,
    String(e.calls),
    e.p50Ms.toFixed(2),
    e.p99Ms.toFixed(2),
    e.maxMs.toFixed(2),
    String(e.timeouts),
    String(e.errors),
    String(e.badResults),
    String(e.crashes),
    Object.entries(e.verdicts).map(([k, n]) => `${k}=${n}`).join(',') || '-',
  ]);
  const head = `${stats.name} ${stats.version}, breaker ${stats.breaker.state}\n`;
  if (rows.length === 0) return `${head}no calls yet\n`;
  return head + formatTable(['EVENT', 'CALLS', 'P50 MS', 'P99 MS', 'MAX MS', 'TIMEOUTS', 'ERRORS', 'BAD', 'CRASHES', 'VERDICTS'], rows);
}

function parseBudgets(specs: string[]): Record<string, number> {
  const budgets: Record<string, number> = {};
  for (const spec of specs) {
    const m = /^(on[A-Za-z]{1,63})=(\d{1,6})$/.exec(spec);
    if (m === null) throw new UsageError(`--budget ${JSON.stringify(spec)}: expected EVENT=MS, e.g. onRcptTo=50`);
    budgets[m[1]!] = Number(m[2]);
  }
  return budgets;
}

async function parseConfigArg(arg: string | undefined, io: AdminIo): Promise<unknown> {
  if (arg === undefined) throw new UsageError('config: expected the configuration as JSON or @file');
  let text = arg;
  if (arg.startsWith('@')) {
    const file = path.resolve(io.cwd, arg.slice(1));
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new UsageError(`config: cannot read ${file}: ${(error as { code?: string }).code ?? (error as Error).message}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`config: not valid JSON: ${(error as Error).message}`);
  }
}

function need(positionals: string[], count: number, usage: string): void {
  if (positionals.length !== count) throw new UsageError(`expected: sluice agents ${usage}`);
}

/** Runs one `agents` subcommand; returns the exit code (API errors are thrown to the caller). */
export async function agentsCommand(sub: string | undefined, args: AgentsArgs, client: () => Promise<ApiClient>, io: AdminIo): Promise<number> {
  const [name, extra] = args.positionals;
  const json = args.values.json === true;
  const print = (value: unknown, human: string): void => io.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : human);
  switch (sub) {
    case 'list': {
      need(args.positionals, 0, 'list');
      const { agents } = (await (await client()).request('GET', '/v1/agents')) as { agents: AgentInfo[] };
      const rows = agents.map((a) => [String(a.settings.priority), a.name, a.version, a.kind, state(a), a.settings.capabilities.join(','), a.keyId ?? 'unsigned']);
      print({ agents }, agents.length === 0 ? 'no agents installed\n' : formatTable(['PRIORITY', 'NAME', 'VERSION', 'KIND', 'STATE', 'GRANTED', 'KEY'], rows));
      return 0;
    }
    case 'show': {
      need(args.positionals, 1, 'show <vendor/agent>');
      const agent = (await (await client()).request('GET', agentPath(name))) as AgentInfo;
      print(agent, showAgent(agent));
      return 0;
    }
    case 'install': {
      need(args.positionals, 1, 'install <file> [--force]');
      const file = path.resolve(io.cwd, name!);
      let bytes: Uint8Array;
      try {
        bytes = await readFile(file);
      } catch (error) {
        throw new UsageError(`install: cannot read ${file}: ${(error as { code?: string }).code ?? (error as Error).message}`);
      }
      const query = args.values.force ? '?force=true' : '';
      const result = (await (await client()).request('POST', `/v1/agents${query}`, { bytes, contentType: 'application/vnd.sluice.agent-bundle' })) as {
        action: string;
        agent: AgentInfo;
      };
      const a = result.agent;
      const human = {
        install: `installed ${a.name} ${a.version} (disabled; enable it with: sluice agents enable ${a.name})\n`,
        upgrade: `upgraded ${a.name} to ${a.version} (${a.settings.enabled ? 'enabled' : 'disabled'})\n`,
        'forced-downgrade': `downgraded ${a.name} to ${a.version} (forced)\n`,
        noop: `${a.name} ${a.version} is already installed\n`,
      }[result.action] ?? `${result.action} ${a.name} ${a.version}\n`;
      print(result, human);
      return 0;
    }
    case 'enable': {
      need(args.positionals, 1, 'enable <vendor/agent> [--grant kv,dns,fetch] [--fetch-origin URL]...');
      const capabilities = (args.values.grant ?? []).flatMap((g) => g.split(',')).map((c) => c.trim()).filter((c) => c !== '');
      const origins = args.values['fetch-origin'];
      const body = { ...(capabilities.length > 0 ? { capabilities } : {}), ...(origins ? { fetchOrigins: origins } : {}) };
      const a = (await (await client()).request('POST', `${agentPath(name)}/enable`, { json: body })) as AgentInfo;
      print(a, `enabled ${a.name} (granted: ${a.settings.capabilities.join(', ')}${a.settings.fetchOrigins.length ? `; fetch: ${a.settings.fetchOrigins.join(', ')}` : ''})\n`);
      return 0;
    }
    case 'disable': {
      need(args.positionals, 1, 'disable <vendor/agent>');
      const a = (await (await client()).request('POST', `${agentPath(name)}/disable`, { json: {} })) as AgentInfo;
      print(a, `disabled ${a.name}\n`);
      return 0;
    }
    case 'priority': {
      need(args.positionals, 2, 'priority <vendor/agent> <n>');
      if (!/^-?\d{1,7}$/.test(extra!)) throw new UsageError(`priority: expected a whole number, not ${JSON.stringify(extra)}`);
      const a = (await (await client()).request('PUT', `${agentPath(name)}/priority`, { json: { priority: Number(extra) } })) as AgentInfo;
      print(a, `${a.name} now runs at priority ${a.settings.priority}\n`);
      return 0;
    }
    case 'config': {
      need(args.positionals, 2, 'config <vendor/agent> <json|@file>');
      const config = await parseConfigArg(extra, io);
      const a = (await (await client()).request('PUT', `${agentPath(name)}/config`, { json: { config } })) as AgentInfo;
      print(a, `configured ${a.name}: ${JSON.stringify(a.settings.config)}\n`);
      return 0;
    }
    case 'policy': {
      need(args.positionals, 1, 'policy <vendor/agent> [--budget event=ms]... [--failure open|closed]');
      const failure = args.values.failure;
      if (failure !== undefined && failure !== 'open' && failure !== 'closed') throw new UsageError(`--failure: expected open or closed, not ${JSON.stringify(failure)}`);
      const budgets = parseBudgets(args.values.budget ?? []);
      if (Object.keys(budgets).length === 0 && failure === undefined) throw new UsageError('policy: give --budget EVENT=MS and/or --failure open|closed');
      const body = { ...(Object.keys(budgets).length > 0 ? { budgets } : {}), ...(failure ? { failurePolicy: failure } : {}) };
      const a = (await (await client()).request('PUT', `${agentPath(name)}/policy`, { json: body })) as AgentInfo;
      const list = Object.entries(a.settings.budgets).map(([e, ms]) => `${e}=${ms}ms`).join(', ') || 'as the manifest asks';
      print(a, `${a.name}: failure policy ${a.settings.failurePolicy}; budgets ${list}\n`);
      return 0;
    }
    case 'stats': {
      need(args.positionals, 1, 'stats <vendor/agent>');
      const stats = (await (await client()).request('GET', `${agentPath(name)}/stats`)) as AgentStats;
      print(stats, statsTable(stats));
      return 0;
    }
    case 'reset-breaker': {
      need(args.positionals, 1, 'reset-breaker <vendor/agent>');
      const a = (await (await client()).request('POST', `${agentPath(name)}/breaker/reset`, { json: {} })) as AgentInfo;
      print(a, `breaker of ${a.name} is closed\n`);
      return 0;
    }
    case 'uninstall': {
      need(args.positionals, 1, 'uninstall <vendor/agent>');
      await (await client()).request('DELETE', agentPath(name));
      print({ uninstalled: name }, `uninstalled ${name}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub === undefined ? `missing command\n${AGENTS_USAGE}` : `unknown command "agents ${sub}"\n${AGENTS_USAGE}`);
  }
}
