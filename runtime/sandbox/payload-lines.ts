/**
 * A run's payload as the JSON lines the sandbox host hands to agents unparsed: serialized once, by
 * the server (or, in-process, by the driver). The body goes only to agents that asked for it: the
 * first line is for those agents, the last for the others. chain-runner.ts hands each agent its line.
 */
import type { ChainLink } from './protocol.ts';

/** One line when every agent gets the same text, two when some get the body and some must not. */
export function payloadLines(payload: unknown, chain: readonly ChainLink[]): [string] | [string, string] {
  const full = (): string => JSON.stringify(payload ?? null) ?? 'null';
  if (payload === null || typeof payload !== 'object' || !('body' in payload)) return [full()];
  const withoutBody = (): string => JSON.stringify({ ...(payload as Record<string, unknown>), body: undefined });
  const someWant = chain.some((link) => link.body === true);
  const someNot = chain.some((link) => link.body !== true);
  if (someWant && someNot) return [full(), withoutBody()];
  return [someWant ? full() : withoutBody()];
}

/** The line `link`'s agent gets. */
export function payloadLineFor(link: ChainLink, lines: readonly string[]): string {
  return (link.body === true ? lines[0] : lines[lines.length - 1]) ?? 'null';
}
