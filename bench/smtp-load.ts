// End-to-end SMTP load: Sluice against smtp-server baselines (discarding; fsync per message), same run, medians and ratios.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { fmt, intOption, median, tableLines } from './figures.ts';
import { measureGreeting, runLoad, type LoadMode, type LoadResult } from './smtp-load-client.ts';
import {
  HOST,
  TARGET_NAMES,
  processTreeCpuMs,
  sluiceAvailable,
  startTarget,
  stopTarget,
  waitForDelivery,
  type RunningTarget,
  type TargetName,
} from './smtp-targets.ts';

const USAGE = `usage: node --import tsx bench/smtp-load.ts [options]
  --connections N   concurrent connections (16)
  --messages M      messages per pass (4000)
  --size S          message size in bytes (1024)
  --passes P        measured passes per target and mode; medians are reported (3)
  --warmup W        uncounted messages per target and mode before the passes (200)
  --mode MODE       single (one message per connection) | reuse | both (both)
  --targets LIST    comma list of ${TARGET_NAMES.join(', ')} (baseline,sluice; baseline alone
                    until bin/sluice.mjs exists). stock = smtp-server with its 100 ms greeting.
  --users U         recipients user0..user(U-1)@example.com (16)
  --keep            keep each target's temp directory (output log; Sluice's data and config)
  --stock-limits    keep Sluice's default per-client connection limits (20; see smtp-targets.ts)
  --json            table to stderr, one JSON line to stdout`;

const DOMAIN = 'example.com';
const PASS_DEADLINE_MS = 120_000;
const REPLY_TIMEOUT_MS = 15_000;
const DELIVERY_LIMIT_MS = 60_000;

type PassFigures = {
  msgsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  accepted: number;
  failed: number;
  clientCpuPct: number;
  serverCpuPct: number | undefined;
  deliveryLagMs: number | undefined;
  deliveredAtEnd: number | undefined;
};

type Series = {
  target: TargetName;
  mode: LoadMode;
  passes: PassFigures[];
  errors: Map<string, number>;
  deliveryTimedOut: boolean;
};

function parseOptions(): {
  connections: number;
  messages: number;
  size: number;
  passes: number;
  warmup: number;
  users: number;
  modes: LoadMode[];
  targets: TargetName[];
  keep: boolean;
  stockLimits: boolean;
  json: boolean;
} {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '16' },
      messages: { type: 'string', default: '4000' },
      size: { type: 'string', default: '1024' },
      passes: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '200' },
      users: { type: 'string', default: '16' },
      mode: { type: 'string', default: 'both' },
      targets: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'stock-limits': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const mode = values.mode;
  if (mode !== 'single' && mode !== 'reuse' && mode !== 'both') throw new Error(`--mode must be single, reuse or both`);
  const targets = (values.targets ?? (sluiceAvailable() ? 'baseline,sluice' : 'baseline'))
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  for (const t of targets) {
    if (!(TARGET_NAMES as readonly string[]).includes(t)) throw new Error(`unknown target ${t}; known: ${TARGET_NAMES.join(', ')}`);
  }
  if (targets.includes('sluice') && !sluiceAvailable()) throw new Error('bin/sluice.mjs is missing; run with --targets baseline');
  if (values.targets === undefined && !sluiceAvailable()) note('bin/sluice.mjs not found: measuring the baseline only');
  return {
    connections: intOption(values, 'connections', 1, 1000),
    messages: intOption(values, 'messages', 1, 1_000_000),
    size: intOption(values, 'size', 256, 50 * 1024 * 1024),
    passes: intOption(values, 'passes', 1, 20),
    warmup: intOption(values, 'warmup', 0, 100_000),
    users: intOption(values, 'users', 1, 10_000),
    modes: mode === 'both' ? ['single', 'reuse'] : [mode],
    targets: [...new Set(targets)] as TargetName[],
    keep: values.keep,
    stockLimits: values['stock-limits'],
    json: values.json,
  };
}

let out: (line: string) => void = (line) => console.log(line);
function note(line: string): void {
  console.error(line);
}

async function onePass(
  target: RunningTarget,
  mode: LoadMode,
  messages: number,
  opts: ReturnType<typeof parseOptions>,
  tag: string,
): Promise<{ result: LoadResult; serverCpuPct: number | undefined }> {
  const pid = target.child.pid as number;
  const cpu0 = processTreeCpuMs(pid);
  const result = await runLoad({
    host: HOST,
    port: target.port,
    connections: opts.connections,
    messages,
    size: opts.size,
    mode,
    users: opts.users,
    domain: DOMAIN,
    replyTimeoutMs: REPLY_TIMEOUT_MS,
    deadlineMs: PASS_DEADLINE_MS,
    tag,
  });
  const cpu1 = processTreeCpuMs(pid);
  const serverCpuPct = cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) / result.elapsedMs) * 100 : undefined;
  return { result, serverCpuPct };
}

async function main(): Promise<void> {
  const opts = parseOptions();
  if (opts.json) out = (line) => console.error(line);
  const runId = Date.now().toString(36);
  const running: RunningTarget[] = [];
  const stopAll = async (): Promise<void> => {
    for (const t of running.splice(0)) await stopTarget(t, 5000, opts.keep);
  };
  const interrupted = (): void => {
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  const series: Series[] = [];
  const greeting = new Map<TargetName, number>();
  const acceptedSoFar = new Map<TargetName, number>();
  try {
    for (const name of opts.targets) {
      const target = await startTarget(name, { connections: opts.connections, stockLimits: opts.stockLimits }).catch((err: Error) => {
        throw new Error(`${err.message}\n(to measure the baseline alone: --targets baseline)`);
      });
      running.push(target);
      if (opts.keep) note(`${name}: output and data in ${target.workDir} (kept)`);
      const times = await measureGreeting(HOST, target.port, 20, REPLY_TIMEOUT_MS);
      greeting.set(name, times[times.length >> 1] as number);
      acceptedSoFar.set(name, 0);
    }

    for (const mode of opts.modes) {
      const byTarget = new Map<TargetName, Series>();
      for (const target of running) {
        if (opts.warmup > 0) {
          const { result } = await onePass(target, mode, opts.warmup, opts, `${runId}.${mode}.w`);
          acceptedSoFar.set(target.name, (acceptedSoFar.get(target.name) ?? 0) + result.accepted);
          if (result.failed > 0) note(`${target.name} ${mode} warm-up: ${result.failed} failed, e.g. ${[...result.errors.keys()][0]}`);
          if (target.mailboxes) await waitForDelivery(target.mailboxes, DOMAIN, acceptedSoFar.get(target.name) ?? 0, DELIVERY_LIMIT_MS);
        }
        const s: Series = { target: target.name, mode, passes: [], errors: new Map(), deliveryTimedOut: false };
        byTarget.set(target.name, s);
        series.push(s);
      }
      // passes interleave the targets so that drift on the machine hits all of them alike
      for (let pass = 1; pass <= opts.passes; pass++) {
        for (const target of running) {
          const s = byTarget.get(target.name) as Series;
          const { result, serverCpuPct } = await onePass(target, mode, opts.messages, opts, `${runId}.${mode}.${pass}`);
          const total = (acceptedSoFar.get(target.name) ?? 0) + result.accepted;
          acceptedSoFar.set(target.name, total);
          for (const [what, n] of result.errors) s.errors.set(what, (s.errors.get(what) ?? 0) + n);
          let deliveryLagMs: number | undefined;
          let deliveredAtEnd: number | undefined;
          if (target.mailboxes && !s.deliveryTimedOut) {
            const d = await waitForDelivery(target.mailboxes, DOMAIN, total, DELIVERY_LIMIT_MS);
            deliveryLagMs = d.lagMs;
            deliveredAtEnd = d.atStart;
            if (d.lagMs === undefined) {
              s.deliveryTimedOut = true;
              note(`${target.name} ${mode}: only ${d.delivered} of ${total} accepted messages in Maildir after ${DELIVERY_LIMIT_MS / 1000} s`);
            }
          }
          s.passes.push({
            msgsPerSec: result.msgsPerSec,
            p50Ms: result.p50Ms,
            p99Ms: result.p99Ms,
            accepted: result.accepted,
            failed: result.failed,
            clientCpuPct: result.clientCpuPct,
            serverCpuPct,
            deliveryLagMs,
            deliveredAtEnd,
          });
          note(
            `${target.name} ${mode} pass ${pass}/${opts.passes}: ${fmt(result.msgsPerSec)} msgs/s, p50 ${fmt(result.p50Ms, 2)} ms, ` +
              `p99 ${fmt(result.p99Ms, 2)} ms, ${result.failed} errors, client CPU ${fmt(result.clientCpuPct)}%` +
              (serverCpuPct !== undefined ? `, server CPU ${fmt(serverCpuPct)}%` : '') +
              (target.mailboxes ? `, delivery lag ${deliveryLagMs === undefined ? 'timeout' : `${fmt(deliveryLagMs)} ms`}` : '') +
              (result.pipelined === 0 ? ', no PIPELINING' : ''),
          );
        }
      }
    }
  } finally {
    await stopAll();
  }
  report(opts, series, greeting);
}

function report(opts: ReturnType<typeof parseOptions>, series: Series[], greeting: Map<TargetName, number>): void {
  const rows = series.map((s) => ({
    target: s.target,
    mode: s.mode,
    msgsPerSec: median(s.passes.map((p) => p.msgsPerSec)),
    p50Ms: median(s.passes.map((p) => p.p50Ms)),
    p99Ms: median(s.passes.map((p) => p.p99Ms)),
    errors: s.passes.reduce((n, p) => n + p.failed, 0),
    clientCpuPct: median(s.passes.map((p) => p.clientCpuPct)),
    serverCpuPct: median(s.passes.map((p) => p.serverCpuPct)),
    deliveryLagMs: s.deliveryTimedOut ? undefined : median(s.passes.map((p) => p.deliveryLagMs)),
    deliveryTimedOut: s.deliveryTimedOut,
  }));
  out('');
  out(
    `smtp-load: ${opts.connections} connections, ${opts.messages} msgs x ${opts.passes} passes (medians), ` +
      `${opts.size} B, node ${process.version}, ${os.cpus().length} cpus`,
  );
  const header = ['target', 'mode', 'msgs/s', 'p50 ms', 'p99 ms', 'errors', 'client CPU', 'server CPU', 'greet ms', 'delivery lag'];
  const table = rows.map((r) => [
    r.target,
    r.mode,
    fmt(r.msgsPerSec),
    fmt(r.p50Ms, 2),
    fmt(r.p99Ms, 2),
    String(r.errors),
    `${fmt(r.clientCpuPct)}%`,
    r.serverCpuPct === undefined ? '-' : `${fmt(r.serverCpuPct)}%`,
    fmt(greeting.get(r.target), 2),
    !r.target.startsWith('sluice') ? '' : r.deliveryTimedOut ? `>${DELIVERY_LIMIT_MS / 1000} s` : `${fmt(r.deliveryLagMs)} ms`,
  ]);
  for (const line of tableLines(header, table, 2)) out(line);

  const ratios: { target: TargetName; mode: LoadMode; msgsPerSec?: number; p50Ms?: number; p99Ms?: number }[] = [];
  for (const r of rows) {
    const base = rows.find((b) => b.target === 'baseline' && b.mode === r.mode);
    if (!base || r.target === 'baseline') continue;
    const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a !== undefined && b ? a / b : undefined);
    const x = { target: r.target, mode: r.mode, msgsPerSec: ratio(r.msgsPerSec, base.msgsPerSec), p50Ms: ratio(r.p50Ms, base.p50Ms), p99Ms: ratio(r.p99Ms, base.p99Ms) };
    ratios.push(x);
    out(`${r.target}/baseline ${r.mode}: msgs/s x${fmt(x.msgsPerSec, 2)}, p50 x${fmt(x.p50Ms, 2)}, p99 x${fmt(x.p99Ms, 2)}`);
  }
  // Against the naive durable server too: what group commit buys over an fsync per message.
  for (const r of rows.filter((row) => row.target === 'sluice')) {
    const durable = rows.find((b) => b.target === 'fsync' && b.mode === r.mode);
    if (durable?.msgsPerSec && r.msgsPerSec !== undefined) out(`sluice/fsync ${r.mode}: msgs/s x${fmt(r.msgsPerSec / durable.msgsPerSec, 2)}`);
  }
  // Issue 3's target: five receive agents cost at most 20% of the no-agent throughput. Besides the
  // ratio of the medians, the ratio within each pass (the two targets ran back to back): drift on
  // the machine between passes cancels out of those, and their spread shows how sure the median is.
  for (const r of rows.filter((row) => row.target === 'sluice-agents')) {
    const plain = rows.find((b) => b.target === 'sluice' && b.mode === r.mode);
    if (!plain?.msgsPerSec || r.msgsPerSec === undefined) continue;
    const agentPasses = series.find((x) => x.target === 'sluice-agents' && x.mode === r.mode)?.passes ?? [];
    const plainPasses = series.find((x) => x.target === 'sluice' && x.mode === r.mode)?.passes ?? [];
    const paired = agentPasses.flatMap((p, k) => (plainPasses[k]?.msgsPerSec ? [p.msgsPerSec / (plainPasses[k]?.msgsPerSec as number)] : []));
    const spread = paired.length > 0 ? `; per pass: median x${fmt(median(paired), 2)}, x${fmt(Math.min(...paired), 2)}-${fmt(Math.max(...paired), 2)}` : '';
    out(`sluice-agents/sluice ${r.mode}: msgs/s x${fmt(r.msgsPerSec / plain.msgsPerSec, 2)}${spread} (target >= 0.8)`);
  }
  for (const s of series) for (const [what, n] of s.errors) out(`error ${s.target} ${s.mode} (${n}x): ${what}`);
  if (opts.targets.includes('sluice') && !opts.stockLimits) out('note: sluice ran with its per-client connection limits raised (--stock-limits keeps the defaults)');
  const clientBound = rows.filter((r) => (r.clientCpuPct ?? 0) > 85);
  if (clientBound.length > 0) out(`note: client CPU above 85% (${clientBound.map((r) => `${r.target} ${r.mode}`).join(', ')}): the generator may be the limit`);

  if (opts.json) {
    console.log(
      JSON.stringify({
        bench: 'smtp-load',
        node: process.version,
        cpus: os.cpus().length,
        options: {
          connections: opts.connections,
          messages: opts.messages,
          size: opts.size,
          passes: opts.passes,
          warmup: opts.warmup,
          modes: opts.modes,
          targets: opts.targets,
          stockLimits: opts.stockLimits,
        },
        greetingMs: Object.fromEntries(greeting),
        results: rows.map((r) => ({ ...r, passes: series.find((s) => s.target === r.target && s.mode === r.mode)?.passes })),
        ratios,
        errors: series.flatMap((s) => [...s.errors].map(([what, count]) => ({ target: s.target, mode: s.mode, what, count }))),
      }),
    );
  }
}

main().catch((err: unknown) => {
  console.error(`smtp-load: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
