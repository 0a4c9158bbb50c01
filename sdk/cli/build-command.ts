/** `sluice-agent build [dir]`: bundles the project's entry into the one script the sandbox runs, and says its size and hash. */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { DEFAULT_CODE_FILE, loadProject } from './agent-project.ts';
import { bundleAgentCode } from './bundle-agent-code.ts';
import { CommandError, EXIT_OK, parseCommandLine, stringOption, type Command } from './cli-io.ts';

const HELP = `Usage: sluice-agent build [dir] [--out file] [--entry file] [--minify]

Bundles the agent module (sluice-agent.json "entry", default src/agent.ts) with esbuild into one
ES2022 script whose effect is globalThis.agent = <default export>.handlers. "sluice/sdk" resolves to
this Sluice's SDK, so nothing needs installing. Node built-ins, Bun/Deno specifiers and the use of
process, Buffer, Bun or Deno in the project's own files fail the build, naming file and line.

Options:
  --out file      where to write the code (default <dir>/dist/agent.js)
  --entry file    the module whose default export is the agent (overrides sluice-agent.json)
  --minify        minify the output
`;

/** The project's default output path, or `--out`. */
export function codeFileFor(projectDir: string, out: string | undefined): string {
  return out !== undefined ? resolve(out) : resolve(projectDir, DEFAULT_CODE_FILE);
}

export const buildCommand: Command = {
  summary: 'bundle src/agent.ts into dist/agent.js',
  help: HELP,
  async run(argv, io) {
    const args = parseCommandLine(argv, { out: { type: 'string' }, entry: { type: 'string' }, minify: { type: 'boolean' } }, 1);
    const project = await loadProject(args.positionals[0] ?? '.', stringOption(args.values, 'entry'));
    const built = await bundleAgentCode({ dir: project.dir, entry: project.entry, kind: project.manifest.kind, minify: args.values.minify === true });
    if (!built.ok) throw new CommandError([`build of ${project.manifest.name} failed:`, ...built.errors.map((e) => `  ${e}`)]);
    for (const warning of built.warnings) io.err(`warning: ${warning}\n`);
    const out = codeFileFor(project.dir, stringOption(args.values, 'out'));
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, built.code);
    const sha256 = createHash('sha256').update(built.code).digest('hex');
    io.out(`built ${project.manifest.name} ${project.manifest.version} → ${relative(process.cwd(), out) || out}\n`);
    io.out(`  ${built.code.byteLength} bytes, sha256 ${sha256}\n`);
    return EXIT_OK;
  },
};
