/** Per-agent, per-event call metrics: counters and a sliding window of latencies for p50/p99/max. */
import type { Step } from '../sandbox/protocol.ts';
import type { EventStats } from './registry-types.ts';

/** Latencies kept per agent and event for the percentiles (the most recent calls). */
const WINDOW = 1024;

class Series {
  readonly #samples = new Float64Array(WINDOW);
  #next = 0;
  #filled = 0;
  calls = 0;
  max = 0;
  timeouts = 0;
  errors = 0;
  badResults = 0;
  crashes = 0;
  readonly verdicts: Record<string, number> = {};

  add(step: Step, decided: string | undefined): void {
    this.calls++;
    this.#samples[this.#next] = step.ms;
    this.#next = (this.#next + 1) % WINDOW;
    if (this.#filled < WINDOW) this.#filled++;
    if (step.ms > this.max) this.max = step.ms;
    if (step.outcome === 'timeout') this.timeouts++;
    else if (step.outcome === 'error') this.errors++;
    else if (step.outcome === 'bad-result') this.badResults++;
    else if (step.outcome === 'crash') this.crashes++;
    if (decided !== undefined) this.verdicts[decided] = (this.verdicts[decided] ?? 0) + 1;
  }

  snapshot(): EventStats {
    const sorted = this.#samples.slice(0, this.#filled).sort();
    const at = (q: number): number => (sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number));
    return {
      calls: this.calls,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      maxMs: this.max,
      timeouts: this.timeouts,
      errors: this.errors,
      badResults: this.badResults,
      crashes: this.crashes,
      verdicts: { ...this.verdicts },
    };
  }
}

export class AgentMetrics {
  readonly #byAgent = new Map<string, Map<string, Series>>();

  /** Records one step of a chain; `decided` names the verdict when this agent ended the chain with it. */
  record(agent: string, event: string, step: Step, decided?: string): void {
    let events = this.#byAgent.get(agent);
    if (events === undefined) this.#byAgent.set(agent, (events = new Map()));
    let series = events.get(event);
    if (series === undefined) events.set(event, (series = new Series()));
    series.add(step, decided);
  }

  stats(agent: string): Record<string, EventStats> {
    const out: Record<string, EventStats> = {};
    for (const [event, series] of this.#byAgent.get(agent) ?? []) out[event] = series.snapshot();
    return out;
  }

  forget(agent: string): void {
    this.#byAgent.delete(agent);
  }
}
