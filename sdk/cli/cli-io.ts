/** What every sluice-agent command shares: argument parsing with --help, its two error classes, exit codes and output. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Process exit codes: success, a failure of the work itself, a command line that was wrong. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The command line is wrong (unknown option, missing or malformed value): exit 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The work failed (a build error, a bad manifest, a refused bundle): exit 1. `lines` are printed one per line. */
export class CommandError extends Error {
  readonly code = 'FAILED';
  readonly lines: string[];
  constructor(lines: string | string[]) {
    const all = typeof lines === 'string' ? [lines] : lines;
    super(all.join('\n'));
    this.name = 'CommandError';
    this.lines = all;
  }
}

/** Where a command writes: standard output for results, standard error for diagnostics. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
}

/** One sub-command: its help text and its body (which throws UsageError / CommandError). */
export interface Command {
  summary: string;
  help: string;
  run(argv: string[], io: CommandIo): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** The parsed command line: option values by name (strings, booleans, string arrays) and positionals. */
export interface ParsedCommandLine {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** True when the arguments ask for help; main answers it before the command runs. */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** Strict parseArgs with at most `maxPositionals` positionals. Every problem is a UsageError whose message names the option. */
export function parseCommandLine(argv: string[], options: Options, maxPositionals: number): ParsedCommandLine {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (parsed.positionals.length > maxPositionals) throw new UsageError(`unexpected argument "${parsed.positionals[maxPositionals] ?? ''}"`);
  return { values: parsed.values as ParsedCommandLine['values'], positionals: parsed.positionals };
}

/** A string option's value, or undefined. */
export function stringOption(values: ParsedCommandLine['values'], name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A positive integer option (`--iterations 200`), or `fallback` when absent; anything else is a UsageError. */
export function positiveIntegerOption(values: ParsedCommandLine['values'], name: string, fallback: number, max: number): number {
  const text = stringOption(values, name);
  if (text === undefined) return fallback;
  if (!/^[0-9]{1,9}$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw new UsageError(`--${name}: expected a whole number from 1 to ${max}, got "${text}"`);
  }
  return Number(text);
}
