/** Reads, merges and validates configuration: file (JSON) first, then command-line overrides. */
import { readFile } from 'node:fs/promises';
import * as v from 'valibot';
import { ConfigSchema, type Config } from './schema.ts';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly issues: string[];
  constructor(source: string, issues: string[]) {
    super(`invalid configuration in ${source}:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** One line per issue: the field's dotted path, what was expected, and what was found. */
export function formatIssues(issues: readonly v.BaseIssue<unknown>[]): string[] {
  return issues.map((issue) => {
    const path = v.getDotPath(issue) ?? '(root)';
    if (issue.type === 'strict_object' && issue.expected === 'never') return `${path}: unknown field`;
    // valibot's own messages already say "Expected … but received …"; ours name what is expected.
    if (issue.message.startsWith('Invalid ')) return `${path}: ${issue.message}`;
    return `${path}: ${issue.message} (got ${issue.received})`;
  });
}

export function parseConfig(input: unknown, source: string): Config {
  const result = v.safeParse(ConfigSchema, input);
  if (!result.success) throw new ConfigError(source, formatIssues(result.issues));
  return result.output;
}

export interface Overrides {
  smtp?: string;
  api?: string;
  dataDir?: string;
  hostname?: string;
  domains?: string[];
  logJson?: boolean;
}

/** Loads `file` (if any), applies overrides, validates the whole. */
export async function loadConfig(file: string | undefined, overrides: Overrides, env: Record<string, string | undefined>): Promise<Config> {
  let raw: Record<string, unknown> = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new ConfigError(file, [`cannot read: ${(err as Error).message}`]);
    }
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(file, [`not valid JSON: ${(err as Error).message}`]);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(file, ['(root): expected a JSON object']);
  }
  const merged: Record<string, unknown> = { ...raw };
  const section = (k: string): Record<string, unknown> => ({ ...((merged[k] as Record<string, unknown> | undefined) ?? {}) });
  if (env.SLUICE_DATA && raw.dataDir === undefined) merged.dataDir = env.SLUICE_DATA;
  if (overrides.dataDir !== undefined) merged.dataDir = overrides.dataDir;
  if (overrides.hostname !== undefined) merged.hostname = overrides.hostname;
  if (overrides.domains !== undefined && overrides.domains.length > 0) merged.domains = overrides.domains;
  if (overrides.smtp !== undefined) merged.smtp = { ...section('smtp'), listen: overrides.smtp };
  if (overrides.api !== undefined) merged.api = { ...section('api'), listen: overrides.api };
  if (overrides.logJson) merged.log = { ...section('log'), format: 'json' };
  return parseConfig(merged, file ?? 'command line');
}

/** Splits `host:port` / `[v6]:port`. */
export function splitHostPort(text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  const host = text.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(text.slice(i + 1)) };
}
