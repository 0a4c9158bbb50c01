// Whole-path SMTP load: Sluice receiving, categorizing, routing and relaying to an SMTP sink, next to its receive-only figure from the same run.
// A script of its own, not another target of smtp-load.ts: a pass here ends when the last message reaches a second process (the
// sink), whose arrival records are matched by Message-ID to the client's 250s, not when the client has its last 250.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { fmt, intOption, median, ratio, tableLines } from './figures.ts';
import { directPass, DRAIN_LIMIT_MS, receivePass, SINK_DOMAIN, wholePathPass, type PassFigures, type PassOutcome } from './pipeline-passes.ts';
import type { LoadMode } from './smtp-load-client.ts';
import { SINK_KINDS, startSinkTarget, type RunningSink, type SinkKind } from './sink-target.ts';
import { HOST, sluiceAvailable, startTarget, stopTarget, type RunningTarget } from './smtp-targets.ts';

const USAGE = `usage: node --import tsx bench/pipeline-load.ts [options]
Three paths, passes interleaved, medians reported:
  receive-only  client -> Sluice -> spool -> local Maildir (users at example.com)
  whole path    client -> Sluice -> spool -> categorizer -> router -> smtp connector -> sink
                (users at sink.test, relayed from 127.0.0.1, smart host = the sink)
  sink direct   client -> sink (what the sink takes when nothing stands in between)
Options:
  --connections N      concurrent client connections (16)
  --messages M         messages per pass (4000)
  --size S             message size in bytes (1024)
  --passes P           measured passes per path and mode (3)
  --warmup W           uncounted messages per path and mode before the passes (2000)
  --mode MODE          single (one message per connection) | reuse | both (single)
  --users U            recipients user0..user(U-1) (16)
  --sink KIND          auto (smtp-sink if on PATH, else smtp-server) | smtp-sink | smtp-server (auto)
  --out-connections C  the smtp connector's maxConnections to the sink (8)
  --skip-direct        do not measure the sink on its own
  --keep               keep the temp directories (logs, Sluice's data and config)
  --json               table to stderr, one JSON line to stdout`;

type Options = ReturnType<typeof parseOptions>;
type PathName = 'receive-only' | 'whole path' | 'sink direct';

type Series = { path: PathName; mode: LoadMode; passes: PassFigures[]; errors: Map<string, number> };

function parseOptions(): {
  connections: number;
  messages: number;
  size: number;
  passes: number;
  warmup: number;
  users: number;
  modes: LoadMode[];
  sink: SinkKind;
  outConnections: number;
  direct: boolean;
  keep: boolean;
  json: boolean;
} {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '16' },
      messages: { type: 'string', default: '4000' },
      size: { type: 'string', default: '1024' },
      passes: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '2000' },
      users: { type: 'string', default: '16' },
      mode: { type: 'string', default: 'single' },
      sink: { type: 'string', default: 'auto' },
      'out-connections': { type: 'string', default: '8' },
      'skip-direct': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const mode = values.mode;
  if (mode !== 'single' && mode !== 'reuse' && mode !== 'both') throw new Error(`--mode must be single, reuse or both, got ${mode}`);
  const sink = values.sink;
  if (!(SINK_KINDS as readonly string[]).includes(sink)) throw new Error(`--sink must be one of ${SINK_KINDS.join(', ')}, got ${sink}`);
  if (!sluiceAvailable()) throw new Error('bin/sluice.mjs is missing: this bench measures Sluice');
  return {
    connections: intOption(values, 'connections', 1, 1000),
    messages: intOption(values, 'messages', 1, 1_000_000),
    size: intOption(values, 'size', 256, 50 * 1024 * 1024),
    passes: intOption(values, 'passes', 1, 20),
    warmup: intOption(values, 'warmup', 0, 100_000),
    users: intOption(values, 'users', 1, 10_000),
    modes: mode === 'both' ? ['single', 'reuse'] : [mode],
    sink: sink as SinkKind,
    outConnections: intOption(values, 'out-connections', 1, 1000),
    direct: !values['skip-direct'],
    keep: values.keep,
    json: values.json,
  };
}

let out: (line: string) => void = (line) => console.log(line);
const note = (line: string): void => console.error(line);

function describePass(path: PathName, mode: LoadMode, pass: string, f: PassFigures): string {
  const parts = [`${fmt(f.acceptedPerSec)} accepted/s`];
  if (f.deliveredPerSec !== undefined) parts.push(`${fmt(f.deliveredPerSec)} delivered/s end to end${path === 'receive-only' ? ' (Maildir)' : ''}`);
  parts.push(`250 p50 ${fmt(f.acceptP50Ms, 2)} ms p99 ${fmt(f.acceptP99Ms, 2)} ms`);
  if (f.deliveryP50Ms !== undefined) parts.push(`250→sink p50 ${fmt(f.deliveryP50Ms, 1)} ms p99 ${fmt(f.deliveryP99Ms, 1)} ms`);
  if (f.tailMs !== undefined) parts.push(`tail ${fmt(f.tailMs)} ms`);
  parts.push(`${f.failed} errors`);
  if (f.missing > 0) parts.push(`${f.missing} MISSING`);
  if (f.duplicates > 0) parts.push(`${f.duplicates} duplicates`);
  parts.push(`client CPU ${fmt(f.clientCpuPct)}%`);
  if (f.serverCpuPct !== undefined) parts.push(`Sluice CPU ${fmt(f.serverCpuPct)}%`);
  if (f.sinkCpuPct !== undefined) parts.push(`sink CPU ${fmt(f.sinkCpuPct)}%`);
  return `${path} ${mode} ${pass}: ${parts.join(', ')}`;
}

async function main(): Promise<void> {
  const opts = parseOptions();
  if (opts.json) out = (line) => console.error(line);
  const runId = Date.now().toString(36);
  let sink: RunningSink | undefined;
  const running: RunningTarget[] = [];
  const stopAll = async (): Promise<void> => {
    for (const t of running.splice(0)) await stopTarget(t, 5000, opts.keep);
    await sink?.stop(opts.keep);
    sink = undefined;
  };
  const interrupted = (): void => {
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  const series: Series[] = [];
  try {
    sink = await startSinkTarget(opts.sink);
    note(`sink: ${sink.label} on ${HOST}:${sink.port}`);
    const common = { connections: opts.connections, stockLimits: false, api: true };
    const local = await startTarget('sluice', common);
    running.push(local);
    const relay = await startTarget('sluice', {
      ...common,
      outbound: { domain: SINK_DOMAIN, smartHost: `${HOST}:${sink.port}`, maxConnections: opts.outConnections },
    });
    running.push(relay);
    if (opts.keep) note(`kept: receive-only Sluice in ${local.workDir}, whole-path Sluice in ${relay.workDir}, sink in ${sink.workDir}`);
    const activeSink = sink;
    let inMaildir = 0;

    const record = (s: Series, label: string, pass: PassOutcome): void => {
      for (const [what, n] of pass.result.errors) s.errors.set(what, (s.errors.get(what) ?? 0) + n);
      s.passes.push(pass.figures);
      note(describePass(s.path, s.mode, label, pass.figures));
    };

    for (const mode of opts.modes) {
      const recv: Series = { path: 'receive-only', mode, passes: [], errors: new Map() };
      const whole: Series = { path: 'whole path', mode, passes: [], errors: new Map() };
      const direct: Series = { path: 'sink direct', mode, passes: [], errors: new Map() };
      series.push(recv, whole, ...(opts.direct ? [direct] : []));
      if (opts.warmup > 0) {
        const r = await receivePass(local, mode, opts.warmup, opts, `${runId}.${mode}.rw`, inMaildir);
        inMaildir += r.result.accepted;
        note(describePass('receive-only', mode, 'warm-up', r.figures));
        note(describePass('whole path', mode, 'warm-up', (await wholePathPass(relay, activeSink, mode, opts.warmup, opts, `${runId}.${mode}.ww`)).figures));
        if (opts.direct) note(describePass('sink direct', mode, 'warm-up', (await directPass(activeSink, mode, opts.warmup, opts, `${runId}.${mode}.dw`)).figures));
      }
      // Passes interleave the paths so that drift on the machine hits all of them alike.
      for (let pass = 1; pass <= opts.passes; pass++) {
        const label = `pass ${pass}/${opts.passes}`;
        const r = await receivePass(local, mode, opts.messages, opts, `${runId}.${mode}.r${pass}`, inMaildir);
        inMaildir += r.result.accepted;
        record(recv, label, r);
        record(whole, label, await wholePathPass(relay, activeSink, mode, opts.messages, opts, `${runId}.${mode}.w${pass}`));
        if (opts.direct) record(direct, label, await directPass(activeSink, mode, opts.messages, opts, `${runId}.${mode}.d${pass}`));
      }
    }
    const sinkLabel = activeSink.label;
    await stopAll();
    report(opts, series, sinkLabel);
  } finally {
    await stopAll();
  }
}

type Row = {
  path: PathName;
  mode: LoadMode;
  acceptedPerSec: number | undefined;
  deliveredPerSec: number | undefined;
  acceptP50Ms: number | undefined;
  acceptP99Ms: number | undefined;
  deliveryP50Ms: number | undefined;
  deliveryP99Ms: number | undefined;
  tailMs: number | undefined;
  errors: number;
  missing: number;
  duplicates: number;
  clientCpuPct: number | undefined;
  serverCpuPct: number | undefined;
  sinkCpuPct: number | undefined;
};

function report(opts: Options, series: Series[], sinkLabel: string): void {
  const med = (s: Series, pick: (p: PassFigures) => number | undefined): number | undefined => median(s.passes.map(pick));
  const rows: Row[] = series.map((s) => ({
    path: s.path,
    mode: s.mode,
    acceptedPerSec: med(s, (p) => p.acceptedPerSec),
    deliveredPerSec: med(s, (p) => p.deliveredPerSec),
    acceptP50Ms: med(s, (p) => p.acceptP50Ms),
    acceptP99Ms: med(s, (p) => p.acceptP99Ms),
    deliveryP50Ms: med(s, (p) => p.deliveryP50Ms),
    deliveryP99Ms: med(s, (p) => p.deliveryP99Ms),
    tailMs: med(s, (p) => p.tailMs),
    errors: s.passes.reduce((n, p) => n + p.failed, 0),
    missing: s.passes.reduce((n, p) => n + p.missing, 0),
    duplicates: s.passes.reduce((n, p) => n + p.duplicates, 0),
    clientCpuPct: med(s, (p) => p.clientCpuPct),
    serverCpuPct: med(s, (p) => p.serverCpuPct),
    sinkCpuPct: med(s, (p) => p.sinkCpuPct),
  }));
  out('');
  out(
    `pipeline-load: ${opts.connections} connections, ${opts.messages} msgs x ${opts.passes} passes (medians), ${opts.size} B, ` +
      `connector maxConnections ${opts.outConnections}, node ${process.version}, ${os.cpus().length} cpus`,
  );
  out(`sink: ${sinkLabel}`);
  const header = ['path', 'mode', 'accepted/s', 'delivered/s', '250 p50', '250 p99', '250→sink p50', '250→sink p99', 'tail', 'errors', 'client CPU', 'Sluice CPU', 'sink CPU'];
  const pct = (x: number | undefined): string => (x === undefined ? '-' : `${fmt(x)}%`);
  const msOr = (x: number | undefined, digits: number): string => (x === undefined ? '-' : `${fmt(x, digits)} ms`);
  const table = rows.map((r) => [
    r.path,
    r.mode,
    fmt(r.acceptedPerSec),
    fmt(r.deliveredPerSec),
    msOr(r.acceptP50Ms, 2),
    msOr(r.acceptP99Ms, 2),
    msOr(r.deliveryP50Ms, 1),
    msOr(r.deliveryP99Ms, 1),
    msOr(r.tailMs, 0),
    String(r.errors + r.missing),
    pct(r.clientCpuPct),
    pct(r.serverCpuPct),
    pct(r.sinkCpuPct),
  ]);
  for (const line of tableLines(header, table, 2)) out(line);
  out('accepted/s: 250s per second of the client run. delivered/s: messages at the sink / (last arrival - first send); for');
  out('receive-only the same into Maildir (last file seen by polling, ±25 ms). 250→sink: arrival at the sink minus the 250 at the');
  out('client, per message (for sink direct it checks the clocks: about minus half a round trip). tail: last Maildir file after');
  out('the client run (receive-only), last arrival after the last 250 (whole path).');
  out('CPU: % of one core; Sluice over the client run (receive-only) or first send → last arrival (whole path).');

  const ratios: { mode: LoadMode; endToEnd?: number; accepting?: number; deliveredVsMaildir?: number; ofSink?: number }[] = [];
  for (const mode of opts.modes) {
    const recv = rows.find((r) => r.path === 'receive-only' && r.mode === mode);
    const whole = rows.find((r) => r.path === 'whole path' && r.mode === mode);
    const direct = rows.find((r) => r.path === 'sink direct' && r.mode === mode);
    const x = {
      mode,
      endToEnd: ratio(whole?.deliveredPerSec, recv?.acceptedPerSec),
      accepting: ratio(whole?.acceptedPerSec, recv?.acceptedPerSec),
      deliveredVsMaildir: ratio(whole?.deliveredPerSec, recv?.deliveredPerSec),
      ofSink: ratio(whole?.deliveredPerSec, direct?.acceptedPerSec),
    };
    ratios.push(x);
    out(
      `whole-path/receive-only ${mode}: x${fmt(x.endToEnd, 2)} (whole-path delivered/s over receive-only accepted/s); ` +
        `accepted/s x${fmt(x.accepting, 2)}; delivered/s x${fmt(x.deliveredVsMaildir, 2)} (sink over Maildir)` +
        (direct ? `; whole-path delivered/s = x${fmt(x.ofSink, 2)} of sink direct` : ''),
    );
  }
  for (const r of rows) {
    if (r.missing > 0) out(`MISSING ${r.path} ${r.mode}: ${r.missing} accepted messages never reached their destination within ${DRAIN_LIMIT_MS / 1000} s`);
    if (r.duplicates > 0) out(`note ${r.path} ${r.mode}: ${r.duplicates} messages arrived twice`);
  }
  for (const s of series) for (const [what, n] of s.errors) out(`error ${s.path} ${s.mode} (${n}x): ${what}`);
  const clientBound = rows.filter((r) => (r.clientCpuPct ?? 0) > 85);
  if (clientBound.length > 0) out(`note: client CPU above 85% (${clientBound.map((r) => `${r.path} ${r.mode}`).join(', ')}): the generator may be the limit`);

  if (opts.json) {
    console.log(
      JSON.stringify({
        bench: 'pipeline-load',
        node: process.version,
        cpus: os.cpus().length,
        sink: sinkLabel,
        options: { ...opts, json: undefined, keep: undefined },
        results: rows.map((r) => ({ ...r, passes: series.find((s) => s.path === r.path && s.mode === r.mode)?.passes })),
        ratios,
        errors: series.flatMap((s) => [...s.errors].map(([what, count]) => ({ path: s.path, mode: s.mode, what, count }))),
      }),
    );
  }
  if (rows.some((r) => r.missing > 0)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`pipeline-load: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
