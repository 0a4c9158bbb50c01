// One measured pass of each path of bench/pipeline-load.ts: run the load, wait until the pass has fully drained, return its figures.
import { messageIndex, percentile, runLoad, type LoadMode, type LoadResult } from './smtp-load-client.ts';
import type { RunningSink } from './sink-target.ts';
import { HOST, processTreeCpuMs, queuedMessages, sleep, waitForDelivery, type RunningTarget } from './smtp-targets.ts';

export const LOCAL_DOMAIN = 'example.com';
export const SINK_DOMAIN = 'sink.test';
const PASS_DEADLINE_MS = 120_000;
const REPLY_TIMEOUT_MS = 15_000;
/** How long a pass may take to drain (every accepted message at its destination, the queue empty). */
export const DRAIN_LIMIT_MS = 60_000;

/** What the load client needs from the bench's options. */
export type PassSettings = { connections: number; size: number; users: number };

export type PassOutcome = { figures: PassFigures; result: LoadResult };

const note = (line: string): void => console.error(line);

/** One pass of one path. Times in ms, rates per second, CPU as % of one core over the stated window. */
export type PassFigures = {
  /** Messages that got a 250, per second of the client's run. */
  acceptedPerSec: number;
  /** Whole path: messages at the sink per second, first send to last arrival; receive-only: the same to Maildir. */
  deliveredPerSec: number | undefined;
  acceptP50Ms: number;
  acceptP99Ms: number;
  /** Whole path: arrival at the sink minus the 250 at the client, per message. */
  deliveryP50Ms: number | undefined;
  deliveryP99Ms: number | undefined;
  /** Receive-only: the last Maildir file after the client finished; whole path: the last arrival after the last 250. */
  tailMs: number | undefined;
  accepted: number;
  delivered: number | undefined;
  /** Accepted but not at the destination when the drain limit passed. */
  missing: number;
  /** Arrivals of a message already seen (at-least-once delivery). */
  duplicates: number;
  failed: number;
  clientCpuPct: number;
  /** Over the client's run (receive-only) or first send → last arrival (whole path). */
  serverCpuPct: number | undefined;
  sinkCpuPct: number | undefined;
  /** The window the rates and CPU shares are taken over. */
  windowMs: number;
};

const load = (port: number, domain: string, mode: LoadMode, messages: number, opts: PassSettings, tag: string): Promise<LoadResult> =>
  runLoad({
    host: HOST,
    port,
    connections: opts.connections,
    messages,
    size: opts.size,
    mode,
    users: opts.users,
    domain,
    replyTimeoutMs: REPLY_TIMEOUT_MS,
    deadlineMs: PASS_DEADLINE_MS,
    tag,
  });

const cpuPct = (before: number | undefined, after: number | undefined, windowMs: number): number | undefined =>
  before !== undefined && after !== undefined && windowMs > 0 ? ((after - before) / windowMs) * 100 : undefined;

/** Polls /health until the target's queue is empty; false if it is not within `limitMs`. */
async function queueDrained(target: RunningTarget, limitMs: number): Promise<boolean> {
  const t0 = performance.now();
  for (;;) {
    if ((await queuedMessages(target)) === 0) return true;
    if (performance.now() - t0 > limitMs) return false;
    await sleep(20);
  }
}

/** Receive-only: the client against Sluice delivering to Maildir; then waits for every message in Maildir and an empty queue. */
export async function receivePass(target: RunningTarget, mode: LoadMode, messages: number, opts: PassSettings, tag: string, expectedTotal: number): Promise<PassOutcome> {
  const pid = target.child.pid as number;
  const cpu0 = processTreeCpuMs(pid);
  const result = await load(target.port, LOCAL_DOMAIN, mode, messages, opts, tag);
  const cpu1 = processTreeCpuMs(pid);
  const total = expectedTotal + result.accepted;
  const d = await waitForDelivery(target.mailboxes as string, LOCAL_DOMAIN, total, DRAIN_LIMIT_MS);
  const drained = d.lagMs !== undefined && (await queueDrained(target, DRAIN_LIMIT_MS));
  if (!drained) note(`receive-only ${mode}: ${d.delivered} of ${total} messages in Maildir, queue ${String(await queuedMessages(target))}, after the drain limit`);
  return {
    result,
    figures: {
      acceptedPerSec: result.msgsPerSec,
      // to Maildir: the last file is seen by polling every 25 ms, a small error over a run of seconds
      deliveredPerSec: d.lagMs === undefined ? undefined : result.accepted / ((result.elapsedMs + d.lagMs) / 1000),
      acceptP50Ms: result.p50Ms,
      acceptP99Ms: result.p99Ms,
      deliveryP50Ms: undefined,
      deliveryP99Ms: undefined,
      tailMs: d.lagMs,
      accepted: result.accepted,
      delivered: undefined,
      missing: Math.max(0, total - d.delivered),
      duplicates: 0,
      failed: result.failed,
      clientCpuPct: result.clientCpuPct,
      serverCpuPct: cpuPct(cpu0, cpu1, result.elapsedMs),
      sinkCpuPct: undefined,
      windowMs: result.elapsedMs,
    },
  };
}

/** Arrivals of one pass's messages (by index), gathered from the sink until `done` says so or the limit passes. */
async function collectArrivals(
  sink: RunningSink,
  tag: string,
  messages: number,
  done: (delivered: number) => Promise<boolean>,
  limitMs: number,
): Promise<{ arrivedAtMs: Float64Array; delivered: number; duplicates: number; strangers: number; timedOut: boolean }> {
  const arrivedAtMs = new Float64Array(messages).fill(Number.NaN);
  let delivered = 0;
  let duplicates = 0;
  let strangers = 0;
  const t0 = performance.now();
  for (;;) {
    for (const a of await sink.take()) {
      const i = messageIndex(tag, a.id);
      if (i === undefined || i >= messages) strangers++;
      else if (Number.isNaN(arrivedAtMs[i] as number)) {
        arrivedAtMs[i] = a.atMs;
        delivered++;
      } else duplicates++;
    }
    if (await done(delivered)) return { arrivedAtMs, delivered, duplicates, strangers, timedOut: false };
    if (performance.now() - t0 > limitMs) return { arrivedAtMs, delivered, duplicates, strangers, timedOut: true };
    await sleep(20);
  }
}

/** Per accepted message, arrival minus 250 (sorted); the last arrival and last 250; accepted messages that never arrived. */
function matchArrivals(result: LoadResult, arrivedAtMs: Float64Array): { sorted: Float64Array; lastArrival: number; lastAccepted: number; missing: number } {
  const latencies: number[] = [];
  let lastArrival = Number.NEGATIVE_INFINITY;
  let lastAccepted = Number.NEGATIVE_INFINITY;
  let missing = 0;
  for (let i = 0; i < arrivedAtMs.length; i++) {
    const at = arrivedAtMs[i] as number;
    const ok = result.acceptedAtMs[i] as number;
    if (!Number.isNaN(at)) lastArrival = Math.max(lastArrival, at);
    if (Number.isNaN(ok)) continue;
    lastAccepted = Math.max(lastAccepted, ok);
    if (Number.isNaN(at)) missing++;
    else latencies.push(at - ok);
  }
  return { sorted: Float64Array.from(latencies).sort(), lastArrival, lastAccepted, missing };
}

/** Whole path: the client against Sluice relaying to the sink; waits until every accepted message is at the sink and the queue is empty. */
export async function wholePathPass(target: RunningTarget, sink: RunningSink, mode: LoadMode, messages: number, opts: PassSettings, tag: string): Promise<PassOutcome> {
  const strays = (await sink.take()).length;
  if (strays > 0) note(`whole path ${mode}: ${strays} messages reached the sink between passes`);
  const pid = target.child.pid as number;
  const sinkPid = sink.child.pid as number;
  const cpu0 = processTreeCpuMs(pid);
  const sinkCpu0 = processTreeCpuMs(sinkPid);
  const result = await load(target.port, SINK_DOMAIN, mode, messages, opts, tag);
  const got = await collectArrivals(sink, tag, messages, async (n) => n >= result.accepted && (await queuedMessages(target)) === 0, DRAIN_LIMIT_MS);
  const cpu1 = processTreeCpuMs(pid);
  const sinkCpu1 = processTreeCpuMs(sinkPid);
  if (got.timedOut) note(`whole path ${mode}: ${got.delivered} of ${result.accepted} accepted messages at the sink, queue ${String(await queuedMessages(target))}, after ${DRAIN_LIMIT_MS / 1000} s`);
  if (got.strangers > 0) note(`whole path ${mode}: ${got.strangers} messages at the sink that the client did not send in this pass (bounces?)`);

  const { sorted, lastArrival, lastAccepted, missing } = matchArrivals(result, got.arrivedAtMs);
  const windowMs = got.delivered > 0 ? lastArrival - result.startedAtMs : result.elapsedMs;
  return {
    result,
    figures: {
      acceptedPerSec: result.msgsPerSec,
      deliveredPerSec: got.delivered > 0 ? got.delivered / (windowMs / 1000) : 0,
      acceptP50Ms: result.p50Ms,
      acceptP99Ms: result.p99Ms,
      deliveryP50Ms: percentile(sorted, 0.5),
      deliveryP99Ms: percentile(sorted, 0.99),
      tailMs: got.delivered > 0 && Number.isFinite(lastAccepted) ? lastArrival - lastAccepted : undefined,
      accepted: result.accepted,
      delivered: got.delivered,
      missing,
      duplicates: got.duplicates,
      failed: result.failed,
      clientCpuPct: result.clientCpuPct,
      serverCpuPct: cpuPct(cpu0, cpu1, windowMs),
      sinkCpuPct: cpuPct(sinkCpu0, sinkCpu1, windowMs),
      windowMs,
    },
  };
}

/** Sink direct: the client against the sink itself. */
export async function directPass(sink: RunningSink, mode: LoadMode, messages: number, opts: PassSettings, tag: string): Promise<PassOutcome> {
  await sink.take();
  const sinkPid = sink.child.pid as number;
  const sinkCpu0 = processTreeCpuMs(sinkPid);
  const result = await load(sink.port, SINK_DOMAIN, mode, messages, opts, tag);
  const sinkCpu1 = processTreeCpuMs(sinkPid);
  // A 250 from the sink means it has the message; collecting only empties its records for the next pass.
  const got = await collectArrivals(sink, tag, messages, async (n) => n >= result.accepted, DRAIN_LIMIT_MS);
  // The sink notes a message just before its 250, so here arrival minus 250 is about minus half a round
  // trip: a check on the two clocks (and on the sink's time stamps) that every run repeats.
  const { sorted, missing } = matchArrivals(result, got.arrivedAtMs);
  return {
    result,
    figures: {
      acceptedPerSec: result.msgsPerSec,
      deliveredPerSec: undefined,
      acceptP50Ms: result.p50Ms,
      acceptP99Ms: result.p99Ms,
      deliveryP50Ms: percentile(sorted, 0.5),
      deliveryP99Ms: percentile(sorted, 0.99),
      tailMs: undefined,
      accepted: result.accepted,
      delivered: got.delivered,
      missing,
      duplicates: got.duplicates,
      failed: result.failed,
      clientCpuPct: result.clientCpuPct,
      serverCpuPct: undefined,
      sinkCpuPct: cpuPct(sinkCpu0, sinkCpu1, result.elapsedMs),
      windowMs: result.elapsedMs,
    },
  };
}
