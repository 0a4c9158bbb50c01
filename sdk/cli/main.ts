/** The `sluice-agent` command line for vendors: init, build, keygen, sign, verify, test, bench. Each command lives in its own module. */
import { benchCommand } from './bench-command.ts';
import { buildCommand } from './build-command.ts';
import { CommandError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, wantsHelp, type Command, type CommandIo } from './cli-io.ts';
import { initCommand } from './init-command.ts';
import { keygenCommand } from './keygen-command.ts';
import { signCommand } from './sign-command.ts';
import { testCommand } from './test-command.ts';
import { verifyCommand } from './verify-command.ts';

const COMMANDS: Record<string, Command> = {
  init: initCommand,
  build: buildCommand,
  keygen: keygenCommand,
  sign: signCommand,
  verify: verifyCommand,
  test: testCommand,
  bench: benchCommand,
};

const USAGE = `Usage: sluice-agent <command> [options]

Build, sign and try Sluice transport agents.

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(8)}${c.summary}`)
  .join('\n')}

"sluice-agent <command> --help" describes a command. Exit codes: 0 ok, 1 failure, 2 usage error.
`;

const processIo: CommandIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/**
 * Runs the CLI with `argv` (without the program name); resolves to the exit code.
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: string[], io: CommandIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const about = name === 'help' && rest[0] !== undefined ? COMMANDS[rest[0]] : undefined;
    io.out(about?.help ?? USAGE);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    io.err(`sluice-agent: unknown command "${name}"\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (wantsHelp(rest)) {
    io.out(command.help);
    return EXIT_OK;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`sluice-agent ${name}: ${error.message}\n(see "sluice-agent ${name} --help")\n`);
      return EXIT_USAGE;
    }
    if (error instanceof CommandError) {
      io.err(`sluice-agent ${name}: ${error.lines.join('\n')}\n`);
      return EXIT_FAILURE;
    }
    io.err(`sluice-agent ${name}: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT_FAILURE;
  }
}
