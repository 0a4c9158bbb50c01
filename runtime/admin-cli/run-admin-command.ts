/**
 * The entry the `sluice` CLI calls for `sluice agents …`, `sluice keys …`, `sluice tokens …`, `sluice track …` and `sluice queue …`:
 * parses the command line, talks to the management API, prints tables or JSON, and returns the exit
 * code: 0 ok, 1 the API refused (its problem printed), 2 usage, 3 the API cannot be reached.
 */
import { parseArgs } from 'node:util';
import { ApiError, ApiUnreachable, type ApiClient } from './api-client.ts';
import { connect, GLOBAL_OPTIONS, UsageError } from './admin-context.ts';
import { AGENTS_OPTIONS, AGENTS_USAGE, agentsCommand, type AgentsArgs } from './agents-command.ts';
import { KEYS_OPTIONS, KEYS_USAGE, keysCommand, type KeysArgs } from './keys-command.ts';
import { QUEUE_ALLOWED, QUEUE_OPTIONS, QUEUE_USAGE, queueCommand, type QueueArgs, type QueueIo } from './queue-command.ts';
import { TOKENS_OPTIONS, TOKENS_USAGE, tokensCommand, type TokensArgs } from './tokens-command.ts';
import { TRACK_OPTIONS, TRACK_USAGE, trackCommand, type TrackArgs } from './track-command.ts';

/** The command groups this module handles (`sluice <group> …`). */
export const ADMIN_GROUPS = ['agents', 'keys', 'tokens', 'track', 'queue'] as const;

/** Which command-specific options each subcommand takes; the rest are refused. */
const ALLOWED: Record<string, Record<string, readonly string[]>> = {
  agents: { install: ['force'], enable: ['grant', 'fetch-origin'], policy: ['budget', 'failure'] },
  keys: { add: ['vendor'] },
  tokens: { create: ['role'] },
  queue: QUEUE_ALLOWED,
};

const GROUPS = {
  agents: { usage: AGENTS_USAGE, options: AGENTS_OPTIONS },
  keys: { usage: KEYS_USAGE, options: KEYS_OPTIONS },
  tokens: { usage: TOKENS_USAGE, options: TOKENS_OPTIONS },
  track: { usage: TRACK_USAGE, options: TRACK_OPTIONS },
  queue: { usage: QUEUE_USAGE, options: QUEUE_OPTIONS },
} as const;

function defaultIo(): QueueIo {
  return { stdout: (t) => process.stdout.write(t), stdoutBytes: (b) => process.stdout.write(b), stderr: (t) => process.stderr.write(t), cwd: process.cwd() };
}

function describeProblem(error: ApiError): string {
  const lines = [`sluice: ${error.title}: ${error.message}`];
  const fields = error.errors.length > 0 ? error.errors : error.field !== undefined ? [{ field: error.field, message: '' }] : [];
  for (const f of fields) lines.push(`  field ${f.field}${f.message ? `: ${f.message}` : ''}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Runs `argv` (starting with the group: `['agents', 'list']`); resolves to the exit code.
 * `io` defaults to this process's stdout, stderr and working directory.
 */
export async function runAdminCommand(argv: string[], env: Record<string, string | undefined>, io: QueueIo = defaultIo()): Promise<number> {
  const [group, ...rest] = argv;
  if (group !== 'agents' && group !== 'keys' && group !== 'tokens' && group !== 'track' && group !== 'queue') {
    io.stderr(`sluice: unknown command group ${JSON.stringify(group ?? '')}; expected ${ADMIN_GROUPS.join(', ')}\n`);
    return 2;
  }
  const { usage, options } = GROUPS[group];
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    const all = { ...GLOBAL_OPTIONS, ...options };
    parsed = parseArgs({ args: dashWordsAsPositionals(rest, all), options: all, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (error) {
    io.stderr(`sluice ${group}: ${(error as Error).message}\n${usage}`);
    return 2;
  }
  const [sub, ...positionals] = parsed.positionals;
  const values = parsed.values;
  if (values.help === true || sub === 'help') {
    io.stdout(usage);
    return 0;
  }
  try {
    // `track` has no subcommands: every one of its options applies.
    const allowed = group === 'track' ? Object.keys(TRACK_OPTIONS) : (ALLOWED[group]?.[sub ?? ''] ?? []);
    for (const name of Object.keys(options)) {
      if (values[name] !== undefined && !allowed.includes(name)) throw new UsageError(`--${name} does not apply to "${group} ${sub ?? ''}"`);
    }
    let client: ApiClient | undefined;
    const where = values as { api?: string; token?: string; 'token-file'?: string };
    const getClient = async (): Promise<ApiClient> => (client ??= await connect(where, env, io));
    switch (group) {
      case 'agents':
        return await agentsCommand(sub, { positionals, values: values as AgentsArgs['values'] }, getClient, io);
      case 'keys':
        return await keysCommand(sub, { positionals, values: values as KeysArgs['values'] }, getClient, io);
      case 'tokens':
        return await tokensCommand(sub, { positionals, values: values as TokensArgs['values'] }, getClient, io);
      case 'track':
        return await trackCommand({ positionals: parsed.positionals, values: values as TrackArgs['values'] }, getClient, io);
      case 'queue':
        return await queueCommand(sub, { positionals, values: values as QueueArgs['values'] }, getClient, io, (fetchFn) => connect(where, env, { ...io, fetch: fetchFn }));
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`sluice ${group}: ${error.message}\n`);
      return 2;
    }
    if (error instanceof ApiError) {
      io.stderr(describeProblem(error));
      return 1;
    }
    if (error instanceof ApiUnreachable) {
      io.stderr(`sluice: ${error.message} (is the server running? set --api HOST:PORT or $SLUICE_API)\n`);
      return 3;
    }
    throw error;
  }
}

/**
 * Key ids are base64url and one in 64 starts with `-` (`sluice keys revoke -eBup8z…`). There are no
 * short options but `-h`, so a single-dash word of three or more characters that is not an option's
 * value is an argument: it moves behind a `--`, keeping its order among the arguments after it.
 */
function dashWordsAsPositionals(args: readonly string[], options: Record<string, { type: string; short?: string }>): string[] {
  const head: string[] = [];
  const tail: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      tail.push(...args.slice(i + 1));
      break;
    }
    const prev = args[i - 1];
    const takesValue = prev !== undefined && prev.startsWith('--') && !prev.includes('=') && options[prev.slice(2)]?.type === 'string';
    if (!takesValue && /^-[^-].{1,}$/.test(arg)) tail.push(arg);
    else if (tail.length > 0 && !arg.startsWith('-') && !takesValue) tail.push(arg);
    else head.push(arg);
  }
  return tail.length > 0 ? [...head, '--', ...tail] : head;
}
