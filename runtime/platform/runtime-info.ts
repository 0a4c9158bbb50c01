/** The one place that knows which JavaScript runtime we are on and how to start another copy of ourselves. */
import { fileURLToPath } from 'node:url';

export type RuntimeName = 'node' | 'bun' | 'deno';

const g = globalThis as { Bun?: unknown; Deno?: unknown };

export const runtimeName: RuntimeName = g.Deno !== undefined ? 'deno' : g.Bun !== undefined ? 'bun' : 'node';

/** `name version`, for banners and health. */
export function runtimeDescription(): string {
  const versions = process.versions as Record<string, string | undefined>;
  return `${runtimeName} ${versions[runtimeName] ?? process.version}`;
}

/**
 * The argv that runs TypeScript module `entry` in a child process on the current runtime
 * (Node: through the tsx loader; Bun and Deno run TypeScript natively).
 */
export function tsEntryCommand(entry: string | URL): { command: string; args: string[] } {
  const file = entry instanceof URL ? fileURLToPath(entry) : entry;
  switch (runtimeName) {
    case 'node':
      return { command: process.execPath, args: ['--import', 'tsx', file] };
    case 'bun':
      return { command: process.execPath, args: [file] };
    case 'deno':
      return { command: process.execPath, args: ['run', '-A', file] };
  }
}
