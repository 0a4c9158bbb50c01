/** Structured log lines: `time level event key=value …` for people, one JSON object per line with --log-json. */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;
export type LogFn = (level: LogLevel, event: string, fields?: LogFields) => void;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  format: 'text' | 'json';
  level: LogLevel;
  write?: (line: string) => void;
  now?: () => Date;
}

/** Renders a value for the text format: bare when safe, JSON-quoted otherwise (no raw control chars ever). */
function textValue(value: unknown): string {
  if (Array.isArray(value)) return textValue(value.join(','));
  const s = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return /^[\x21-\x7e]+$/.test(s) && !s.includes('"') && !s.includes('=') ? s : JSON.stringify(s);
}

/**
 * Lines written to stdout in one call per event-loop turn: Node writes to files and pipes
 * synchronously, and a write per line per message costs more than the rest of the logging.
 */
function batchedStdout(): (line: string) => void {
  let pending: string[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    const text = `${pending.join('\n')}\n`;
    pending = [];
    process.stdout.write(text);
  };
  process.once('exit', flush);
  return (line) => {
    if (pending.push(line) === 1) setImmediate(flush);
  };
}

export function createLogger(opts: LoggerOptions): LogFn {
  const write = opts.write ?? batchedStdout();
  const now = opts.now ?? (() => new Date());
  const min = RANK[opts.level];
  return (level, event, fields = {}) => {
    if (RANK[level] < min) return;
    const time = now().toISOString();
    if (opts.format === 'json') return write(JSON.stringify({ time, level, event, ...fields }));
    const parts = [time, level.padEnd(5), event];
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) parts.push(`${k}=${textValue(v)}`);
    write(parts.join(' '));
  };
}
