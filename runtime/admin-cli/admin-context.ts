/** What every admin command shares: where the API is, which token to send, where output goes, and the usage error. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ApiClient, type FetchFn } from './api-client.ts';

/** Output sinks and the working directory; injected by tests, the process's own by default. */
export interface AdminIo {
  stdout(text: string): void;
  stderr(text: string): void;
  cwd: string;
  fetch?: FetchFn;
}

/** A mistake in the command line: exit code 2 with this message. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const DEFAULT_API = '127.0.0.1:8025';

/** The options every admin command takes. */
export const GLOBAL_OPTIONS = {
  api: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `HOST:PORT`, `[v6]:PORT` or an http(s) URL → the base URL. */
export function apiBase(text: string): string {
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new UsageError(`--api: ${JSON.stringify(text)} is not a URL`);
    }
    return `${url.protocol}//${url.host}`;
  }
  if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(text)) {
    throw new UsageError(`--api: expected HOST:PORT (e.g. ${DEFAULT_API}) or an http(s):// URL, not ${JSON.stringify(text)}`);
  }
  return `http://${text}`;
}

async function readToken(file: string, what: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${what}: cannot read ${file}: ${(error as { code?: string }).code ?? (error as Error).message}`);
  }
  const token = text.trim();
  if (token === '') throw new UsageError(`${what}: ${file} is empty`);
  return token;
}

/**
 * The API client from `--api`/`$SLUICE_API` and the first token found in: `--token`, `--token-file`,
 * `$SLUICE_TOKEN`, then `$SLUICE_DATA/admin.token` (default `./sluice-data/admin.token`).
 */
export async function connect(values: { api?: string; token?: string; 'token-file'?: string }, env: Record<string, string | undefined>, io: AdminIo): Promise<ApiClient> {
  const base = apiBase(values.api ?? env.SLUICE_API ?? DEFAULT_API);
  let token: string;
  if (values.token !== undefined) token = values.token;
  else if (values['token-file'] !== undefined) token = await readToken(path.resolve(io.cwd, values['token-file']), '--token-file');
  else if (env.SLUICE_TOKEN !== undefined && env.SLUICE_TOKEN !== '') token = env.SLUICE_TOKEN;
  else {
    const file = path.resolve(io.cwd, env.SLUICE_DATA ?? 'sluice-data', 'admin.token');
    token = await readToken(file, 'no API token given (--token, --token-file or $SLUICE_TOKEN) and the default token file');
  }
  if (token === '' || /\s/.test(token)) throw new UsageError('the API token is empty or contains whitespace');
  return new ApiClient(base, token, io.fetch);
}

/** `vendor/agent` → its API path. */
export function agentPath(name: string | undefined): string {
  if (name === undefined) throw new UsageError('expected an agent name (vendor/agent)');
  const m = /^([a-z0-9][a-z0-9-]{0,38})\/([a-z0-9][a-z0-9-]{0,38})$/.exec(name);
  if (m === null) throw new UsageError(`${JSON.stringify(name)} is not an agent name: expected vendor/agent, e.g. acme/greylist`);
  return `/v1/agents/${m[1]}/${m[2]}`;
}
