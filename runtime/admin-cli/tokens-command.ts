/** `sluice tokens …`: list, create (the token is printed once), revoke API tokens. */
import type { TokenInfo } from '../api/token-store.ts';
import type { ApiClient } from './api-client.ts';
import { UsageError, type AdminIo } from './admin-context.ts';
import { formatTable } from './table.ts';

export const TOKENS_USAGE = `Usage: sluice tokens <command> [options]

  list                                   API tokens: ids, names, roles (never the tokens)
  create <name> [--role read-only|admin] make a token (read-only by default); it is printed once
  revoke <id>                            revoke a token

Options: --api HOST:PORT, --token T | --token-file F, --json (see sluice agents --help)
`;

export const TOKENS_OPTIONS = { role: { type: 'string' } } as const;

export interface TokensArgs {
  positionals: string[];
  values: { role?: string; json?: boolean };
}

export async function tokensCommand(sub: string | undefined, args: TokensArgs, client: () => Promise<ApiClient>, io: AdminIo): Promise<number> {
  const [arg] = args.positionals;
  const json = args.values.json === true;
  const print = (value: unknown, human: string): void => io.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : human);
  switch (sub) {
    case 'list': {
      if (args.positionals.length !== 0) throw new UsageError('expected: sluice tokens list');
      const { tokens } = (await (await client()).request('GET', '/v1/tokens')) as { tokens: TokenInfo[] };
      const rows = tokens.map((t) => [t.id, t.name, t.role, new Date(t.createdAt).toISOString().replace(/\.\d+Z$/, 'Z')]);
      print({ tokens }, formatTable(['ID', 'NAME', 'ROLE', 'CREATED'], rows));
      return 0;
    }
    case 'create': {
      if (args.positionals.length !== 1) throw new UsageError('expected: sluice tokens create <name> [--role read-only|admin]');
      const role = args.values.role ?? 'read-only';
      if (role !== 'read-only' && role !== 'admin') throw new UsageError(`--role: expected read-only or admin, not ${JSON.stringify(role)}`);
      const made = (await (await client()).request('POST', '/v1/tokens', { json: { name: arg, role } })) as TokenInfo & { token: string };
      print(made, `${made.token}\n`);
      if (!json) io.stderr(`created ${made.role} token "${made.name}" (${made.id}); it is shown only this once\n`);
      return 0;
    }
    case 'revoke': {
      if (args.positionals.length !== 1) throw new UsageError('expected: sluice tokens revoke <id>');
      await (await client()).request('DELETE', `/v1/tokens/${encodeURIComponent(arg!)}`);
      print({ revoked: arg }, `revoked token ${arg}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub === undefined ? `missing command\n${TOKENS_USAGE}` : `unknown command "tokens ${sub}"\n${TOKENS_USAGE}`);
  }
}
