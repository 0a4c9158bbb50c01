/** The `sluice` command line: serve, send, hash-password. Parsing with node:util parseArgs; work in the modules it calls. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { relative } from 'node:path';
import { loadConfig, ConfigError } from './config/load-config.ts';
import { createLogger } from './log/logger.ts';
import { startServer, StartupError, type RunningServer } from './server.ts';
import { hashPassword } from './smtp/password.ts';
import { sendTestMessage } from './send-test-message.ts';
import { runtimeDescription } from './platform/runtime-info.ts';
import { VERSION } from './version.ts';
import { runAdminCommand } from './admin-cli/index.ts';

const USAGE = `Usage: sluice <command> [options]

Commands:
  serve           run the mail server
  send            send a test message over SMTP
  hash-password   read a password on stdin, print its hash for the config file
  agents ...      install, list, enable, disable, configure agents (over the management API)
  keys ...        trusted vendor keys: list, add, remove, revoke
  tokens ...      API tokens: list, create, revoke
  track ...       search message tracking by Message-ID, sender, recipient, time
  queue ...       queues and messages: list, show, export, retry, suspend, resume, delete, release
                  (run "sluice agents --help" etc. for their options)

serve options:
  --smtp HOST:PORT     SMTP listen address (default 127.0.0.1:2525)
  --api HOST:PORT      management API listen address (default 127.0.0.1:8025)
  --no-api             do not start the management API
  --data DIR           data directory (default ./sluice-data, or $SLUICE_DATA)
  --hostname NAME      name used in the greeting and trace headers (default: this host's name)
  --domain D           accepted domain; repeat for several (default localhost)
  --config FILE        JSON configuration file (command-line options override it)
  --log-json           log one JSON object per line
  --dev-allow-unsigned development mode: accept unsigned agent bundles (never in production)

send options:
  --server HOST:PORT   (default 127.0.0.1:2525)
  --from ADDRESS       (default sluice-test@localhost)
  --to ADDRESS         recipient; repeat for several (required)
  --subject TEXT       --body TEXT
  --user NAME --password PW   authenticate (AUTH after STARTTLS)
`;

function parse(argv: string[], options: ParseArgsConfig['options']): ReturnType<typeof parseArgs> | string {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true });
  } catch (err) {
    return (err as Error).message;
  }
}

async function serve(argv: string[]): Promise<number> {
  const args = parse(argv, {
    smtp: { type: 'string' },
    api: { type: 'string' },
    'no-api': { type: 'boolean' },
    data: { type: 'string' },
    hostname: { type: 'string' },
    domain: { type: 'string', multiple: true },
    config: { type: 'string' },
    'log-json': { type: 'boolean' },
    'dev-allow-unsigned': { type: 'boolean' },
  });
  if (typeof args === 'string') return fail(args);
  const v = args.values as Record<string, string | string[] | boolean | undefined>;
  if (v.help) return usage();
  const allowUnsignedAgents = v['dev-allow-unsigned'] === true;
  let config;
  try {
    config = await loadConfig(
      v.config as string | undefined,
      {
        smtp: v.smtp as string | undefined,
        api: v.api as string | undefined,
        dataDir: v.data as string | undefined,
        hostname: v.hostname as string | undefined,
        domains: v.domain as string[] | undefined,
        logJson: v['log-json'] === true,
      },
      process.env,
    );
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message);
    throw err;
  }
  if (v['no-api']) config.api.enabled = false;
  const log = createLogger({ format: config.log.format, level: config.log.level });
  let server: RunningServer;
  try {
    server = await startServer(config, log, { allowUnsignedAgents });
  } catch (err) {
    if (err instanceof StartupError) return fail(err.message);
    throw err;
  }
  process.stdout.write(banner(server, config.domains));
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log('info', 'server.stopping', { signal });
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await server.close();
  log('info', 'server.stopped', {});
  return 0;
}

function banner(s: RunningServer, domains: string[]): string {
  const rel = (p: string): string => (relative(process.cwd(), p).startsWith('..') ? p : relative(process.cwd(), p) || '.');
  const domain = domains[0] ?? 'localhost';
  const smtp = `${s.smtp.host}:${s.smtp.port}`;
  const tls = s.tls.selfSigned ? `STARTTLS with a self-signed certificate (${rel(s.tls.certFile)})` : `STARTTLS (${rel(s.tls.certFile)})`;
  const installed = s.agents.list();
  const driver = s.agents.driver();
  return [
    `Sluice ${VERSION} on ${runtimeDescription()} — mail server ready`,
    `  SMTP     ${smtp}  ${tls}`,
    `  API      ${s.api ? `${s.api.scheme}://${s.api.host}:${s.api.port}/v1  (admin token ${s.api.tokenCreated ? 'created in' : 'in'} ${rel(s.api.tokenFile)})` : 'off'}`,
    `  data     ${s.dataDir}`,
    `  domains  ${domains.join(', ')}`,
    `  queue    ${s.recovered.messages} message(s) recovered, ${s.recovered.quarantined} quarantined`,
    `  agents   ${installed.filter((a) => a.settings.enabled).length} enabled of ${installed.length} installed; sandbox: ${driver.name}`,
    ...driver.guarantees.map((g) => `           - ${g}`),
    ...(s.agents.devMode ? ['  WARNING  development mode: UNSIGNED agent bundles are accepted (--dev-allow-unsigned)'] : []),
    `Send a test message:`,
    `  npx sluice send --server ${smtp} --to you@${domain}`,
    `It is delivered to ${rel(s.mailboxDir)}/${domain}/you/new/`,
    '',
  ].join('\n');
}

async function send(argv: string[]): Promise<number> {
  const args = parse(argv, {
    server: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string', multiple: true },
    subject: { type: 'string' },
    body: { type: 'string' },
    user: { type: 'string' },
    password: { type: 'string' },
  });
  if (typeof args === 'string') return fail(args);
  const v = args.values as Record<string, string | string[] | boolean | undefined>;
  if (v.help) return usage();
  const to = (v.to as string[] | undefined) ?? [];
  if (to.length === 0) return fail('send: --to ADDRESS is required');
  try {
    const result = await sendTestMessage({
      server: (v.server as string | undefined) ?? '127.0.0.1:2525',
      from: (v.from as string | undefined) ?? 'sluice-test@localhost',
      to,
      subject: (v.subject as string | undefined) ?? 'Sluice test message',
      body: (v.body as string | undefined) ?? 'This message was sent by `sluice send`.\n',
      ...(typeof v.user === 'string' && typeof v.password === 'string' ? { auth: { user: v.user, pass: v.password } } : {}),
    });
    process.stdout.write(`${result}\n`);
    return 0;
  } catch (err) {
    return fail(`send failed: ${(err as Error).message}`);
  }
}

async function hashPasswordCommand(): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password.length === 0) return fail('hash-password: give the password on standard input');
  process.stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}

function usage(): number {
  process.stdout.write(USAGE);
  return 0;
}

function fail(message: string): number {
  process.stderr.write(`sluice: ${message}\n`);
  return 2;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'send':
      return send(rest);
    case 'hash-password':
      return hashPasswordCommand();
    case 'agents':
    case 'keys':
    case 'tokens':
    case 'track':
    case 'queue':
      return runAdminCommand(argv, process.env);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      return fail(`unknown command "${command}"\n${USAGE}`);
  }
}
