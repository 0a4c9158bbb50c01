/** Renders the server's and agents' measurements in the Prometheus text exposition format, version 0.0.4 (pure). */
import type { AgentInfo, AgentStats } from '../agents/registry-types.ts';
import type { SandboxStats } from '../sandbox/protocol.ts';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsInput {
  version: string;
  uptimeSeconds: number;
  smtpConnections: number;
  queue: { messages: number; bytes: number };
  agents: { info: AgentInfo; stats: AgentStats }[];
  /** The sandbox driver's counters, when it keeps any (the isolated-vm host process does). */
  sandbox?: SandboxStats;
}

type Labels = Record<string, string>;
type Sample = { labels: Labels; value: number; suffix?: string };

function escapeLabel(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

class Exposition {
  readonly #lines: string[] = [];

  family(name: string, type: 'counter' | 'gauge' | 'summary', help: string, samples: Sample[]): void {
    this.#lines.push(`# HELP ${name} ${help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')}`, `# TYPE ${name} ${type}`);
    for (const s of samples) this.#lines.push(`${name}${s.suffix ?? ''}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  }

  toString(): string {
    return `${this.#lines.join('\n')}\n`;
  }
}

const seconds = (ms: number): number => ms / 1000;

export function renderMetrics(input: MetricsInput): string {
  const out = new Exposition();
  out.family('sluice_build_info', 'gauge', 'Always 1; the version is in the label.', [{ labels: { version: input.version }, value: 1 }]);
  out.family('sluice_uptime_seconds', 'gauge', 'Seconds since the server started.', [{ labels: {}, value: input.uptimeSeconds }]);
  out.family('sluice_smtp_connections', 'gauge', 'Open SMTP connections.', [{ labels: {}, value: input.smtpConnections }]);
  out.family('sluice_queue_messages', 'gauge', 'Messages in the queue.', [{ labels: {}, value: input.queue.messages }]);
  out.family('sluice_queue_bytes', 'gauge', 'Bytes of messages in the queue.', [{ labels: {}, value: input.queue.bytes }]);
  const sandbox = input.sandbox;
  if (sandbox !== undefined) {
    out.family('sluice_sandbox_host_restarts_total', 'counter', 'Times the sandbox host process died and was restarted.', [{ labels: {}, value: sandbox.hostRestarts }]);
    out.family(
      'sluice_sandbox_polls_total',
      'counter',
      "The server's short polls for the sandbox host's answers: answered, empty (the window passed without one), skipped (polling paused after empty windows).",
      (['answered', 'empty', 'skipped'] as const).map((result) => ({ labels: { result }, value: sandbox.polls[result] })),
    );
  }

  const perAgent = (value: (a: { info: AgentInfo; stats: AgentStats }) => number): Sample[] =>
    input.agents.map((a) => ({ labels: { agent: a.info.name }, value: value(a) }));
  out.family('sluice_agent_enabled', 'gauge', '1 when the admin enabled the agent.', perAgent((a) => (a.info.settings.enabled ? 1 : 0)));
  out.family('sluice_agent_blocked', 'gauge', '1 when the agent is enabled but cannot run (key removed or revoked, load failed).', perAgent((a) => (a.info.blocked === null ? 0 : 1)));
  out.family('sluice_agent_breaker_open', 'gauge', '1 while the breaker has suspended the agent after repeated failures.', perAgent((a) => (a.stats.breaker.state === 'open' ? 1 : 0)));

  const events = input.agents.flatMap((a) => Object.entries(a.stats.events).map(([event, s]) => ({ labels: { agent: a.info.name, event }, s })));
  const perEvent = (value: (s: (typeof events)[number]['s']) => number): Sample[] => events.map((e) => ({ labels: e.labels, value: value(e.s) }));
  out.family('sluice_agent_calls_total', 'counter', 'Calls into an agent, per event.', perEvent((s) => s.calls));
  out.family(
    'sluice_agent_latency_seconds',
    'summary',
    'Time an agent took per call.',
    events.flatMap((e) => [
      { labels: { ...e.labels, quantile: '0.5' }, value: seconds(e.s.p50Ms) },
      { labels: { ...e.labels, quantile: '0.99' }, value: seconds(e.s.p99Ms) },
      { labels: e.labels, value: e.s.calls, suffix: '_count' },
    ]),
  );
  out.family('sluice_agent_latency_max_seconds', 'gauge', 'Longest call into an agent, per event.', perEvent((s) => seconds(s.maxMs)));
  out.family('sluice_agent_timeouts_total', 'counter', 'Calls that overran their time budget.', perEvent((s) => s.timeouts));
  out.family('sluice_agent_errors_total', 'counter', 'Calls that threw.', perEvent((s) => s.errors));
  out.family('sluice_agent_bad_results_total', 'counter', 'Calls that returned something other than a verdict.', perEvent((s) => s.badResults));
  out.family('sluice_agent_crashes_total', 'counter', 'Calls whose sandbox host process died.', perEvent((s) => s.crashes));
  out.family(
    'sluice_agent_verdicts_total',
    'counter',
    'Terminal verdicts an agent decided, by verdict.',
    events.flatMap((e) => Object.entries(e.s.verdicts).map(([verdict, n]) => ({ labels: { ...e.labels, verdict }, value: n }))),
  );
  return out.toString();
}
