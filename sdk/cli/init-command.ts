/** `sluice-agent init <dir>`: scaffolds a vendor project in a new or empty directory. */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VENDOR_PATTERN } from '../bundle/manifest.ts';
import { CommandError, EXIT_OK, parseCommandLine, stringOption, UsageError, type Command } from './cli-io.ts';
import { scaffoldFiles } from './scaffold-files.ts';

const SLUICE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const HELP = `Usage: sluice-agent init <dir> [--name vendor/agent] [--kind receive]

Creates a new agent project in <dir> (which must not exist or be empty): sluice-agent.json (the
manifest draft), src/agent.ts (a small working receive agent), events/sample.json, package.json,
tsconfig.json, README.md and .gitignore.

Options:
  --name vendor/agent   the agent's name; each part [a-z0-9][a-z0-9-]{0,38}
                        (default: example/<directory name>)
  --kind receive        the agent kind (only receive agents can run in the sandbox today)
`;

/** A valid agent part from a directory name, e.g. "My Agent!" → "my-agent". */
function partFrom(text: string): string {
  const part = text.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 39).replace(/-+$/, '');
  return part === '' ? 'agent' : part;
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code === 'ENOTDIR') throw new CommandError(`${dir} is a file, not a directory`);
    throw error;
  }
}

export const initCommand: Command = {
  summary: 'scaffold a new agent project',
  help: HELP,
  async run(argv, io) {
    const args = parseCommandLine(argv, { name: { type: 'string' }, kind: { type: 'string' } }, 1);
    const target = args.positionals[0];
    if (target === undefined) throw new UsageError('init needs the directory to create, e.g. "sluice-agent init my-agent"');
    const dir = resolve(target);
    const name = stringOption(args.values, 'name') ?? `example/${partFrom(basename(dir))}`;
    const [vendor, agent, extra] = name.split('/');
    if (vendor === undefined || agent === undefined || extra !== undefined || !VENDOR_PATTERN.test(vendor) || !VENDOR_PATTERN.test(agent)) {
      throw new UsageError(`--name: expected "vendor/agent" with each part [a-z0-9][a-z0-9-]{0,38}, got "${name}"`);
    }
    const kind = stringOption(args.values, 'kind') ?? 'receive';
    if (kind !== 'receive') {
      throw new UsageError(`--kind: "${kind}" cannot be scaffolded yet; only receive agents run in the sandbox today (routing and delivery come with the pipeline)`);
    }
    if (!(await isEmptyOrMissing(dir))) throw new CommandError(`${dir} is not empty; init only writes into a new or empty directory`);

    const sluicePath = relative(dir, SLUICE_ROOT).split(sep).join('/') || '.';
    const files = scaffoldFiles({ name, kind, sluicePath });
    for (const [path, text] of Object.entries(files)) {
      const file = join(dir, path);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, text, { flag: 'wx' });
    }
    io.out(`created ${name} in ${dir}:\n${Object.keys(files).map((f) => `  ${f}`).join('\n')}\n`);
    io.out(`next: cd ${relative(process.cwd(), dir) || '.'} && sluice-agent build && sluice-agent test\n`);
    return EXIT_OK;
  },
};
