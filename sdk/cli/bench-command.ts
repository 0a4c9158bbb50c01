/** `sluice-agent bench [dir]`: per subscribed event, mitata timings of the real sandbox round trip, compared with the manifest's budget. */
import { resolve } from 'node:path';
import { measure } from 'mitata';
import { agentFromBundle, agentFromProject } from './agent-under-test.ts';
import { CommandError, EXIT_FAILURE, EXIT_OK, parseCommandLine, positiveIntegerOption, stringOption, UsageError, type Command } from './cli-io.ts';
import { agentStep } from './describe-result.ts';
import { readJsonFile } from './json-file.ts';
import { configProblem } from '../bundle/agent-config.ts';
import { samplePayloads } from './sample-payloads.ts';
import { SandboxedAgent } from './sandboxed-agent.ts';
import { formatTable } from './text-table.ts';

const HELP = `Usage: sluice-agent bench [dir] [--iterations N] [--bundle file] [--config file.json] [--json]

For each event the agent subscribes to, sends a representative payload through the same sandbox
host the server uses, N times (after a warm-up), timed with mitata. Reports p50, p99 and max of the
round trip in microseconds (server → host process → isolate → back: an upper bound of what the
budget measures) and compares p99 with the event's budget: OK or OVER BUDGET. An event whose calls
fail (timeout, error, bad result) is FAILING; then the exit code is 1.

Options:
  --iterations N     calls per event (default 1000)
  --bundle file      bench the code of a bundle instead of building <dir> in memory
  --config file.json the agent's configuration
  --json             print results as JSON
`;

/** What one event measured. */
interface EventBench {
  event: string;
  budgetMs: number;
  samples: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  failures: number;
  firstFailure?: string;
  status: 'OK' | 'OVER BUDGET' | 'FAILING';
}

const us = (ns: number): number => Math.round(ns / 10) / 100;

export const benchCommand: Command = {
  summary: 'measure per-event latency against the budgets',
  help: HELP,
  async run(argv, io) {
    const args = parseCommandLine(argv, { iterations: { type: 'string' }, bundle: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' } }, 1);
    const iterations = positiveIntegerOption(args.values, 'iterations', 1000, 1_000_000);
    if (iterations < 12) throw new UsageError('--iterations: at least 12, so that p99 means something');
    const bundleFile = stringOption(args.values, 'bundle');
    const agent = bundleFile !== undefined ? await agentFromBundle(bundleFile) : await agentFromProject(resolve(args.positionals[0] ?? '.'));
    const configFile = stringOption(args.values, 'config');
    const config = configFile === undefined ? {} : await readJsonFile(configFile, '--config');
    const badConfig = configProblem(agent.manifest, config);
    if (badConfig !== null) throw new CommandError(`--config ${configFile ?? '(none)'}: ${badConfig.message}`);
    const payloads = samplePayloads(agent.manifest.wantsBody) as unknown as Record<string, unknown>;

    const sandbox = await SandboxedAgent.load(agent, config, (line) => io.err(`[sandbox] ${line}\n`));
    const results: EventBench[] = [];
    try {
      for (const event of agent.manifest.events) {
        const budgetMs = sandbox.budgetFor(event) ?? 0;
        let failures = 0;
        let firstFailure: string | undefined;
        const stats = await measure(
          async () => {
            const step = agentStep(await sandbox.run(event, payloads[event]));
            if (step.outcome !== 'ok') {
              failures++;
              firstFailure ??= `${step.outcome}${step.error === undefined ? '' : `: ${step.error}`}`;
            }
          },
          // Exactly N timed calls, one per sample: a round trip is far too slow for mitata's batching.
          { min_samples: iterations, max_samples: iterations, min_cpu_time: 0, batch_threshold: -1 },
        );
        const p99Us = us(stats.p99);
        const status = failures > 0 ? 'FAILING' : p99Us > budgetMs * 1000 ? 'OVER BUDGET' : 'OK';
        const row: EventBench = { event, budgetMs, samples: stats.samples.length, p50Us: us(stats.p50), p99Us, maxUs: us(stats.max), failures, status };
        if (firstFailure !== undefined) row.firstFailure = firstFailure;
        results.push(row);
      }
    } finally {
      await sandbox.close();
    }

    const { manifest } = agent;
    if (args.values.json === true) {
      io.out(`${JSON.stringify({ agent: { name: manifest.name, version: manifest.version, origin: agent.origin }, iterations, unit: 'µs', events: results }, null, 2)}\n`);
    } else {
      io.out(`${manifest.name} ${manifest.version}: ${iterations} calls per event through the sandbox host (round trip, µs)\n`);
      const rows = results.map((r) => [r.event, r.p50Us.toFixed(1), r.p99Us.toFixed(1), r.maxUs.toFixed(1), `${r.budgetMs} ms`, r.status]);
      io.out(`${formatTable(['event', 'p50 µs', 'p99 µs', 'max µs', 'budget', 'status'], rows, ['left', 'right', 'right', 'right', 'right', 'left']).join('\n')}\n`);
      for (const r of results) if (r.firstFailure !== undefined) io.out(`${r.event}: ${r.failures} of ${iterations} calls failed, first: ${r.firstFailure}\n`);
      io.out('max excludes the two slowest samples (mitata trims them as outliers).\n');
    }
    return results.some((r) => r.status === 'FAILING') ? EXIT_FAILURE : EXIT_OK;
  },
};
