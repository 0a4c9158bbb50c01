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

export function createLogger(opts: LoggerOptions): LogFn {
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
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
