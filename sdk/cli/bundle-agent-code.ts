/**
 * Bundles an agent module into the one script a sandbox runs: esbuild, ES2022, an IIFE whose effect is
 * `globalThis.agent = <default export>.handlers`. `sluice/sdk` resolves to this package's SDK, so a
 * project builds without installing anything; Node built-ins, Bun/Deno specifiers and the vendor's own
 * use of runtime globals fail the build with the file (and line) that uses them.
 */
import { builtinModules } from 'node:module';
import { readFile, stat } from 'node:fs/promises';
import { extname, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, transform, type Loader, type Message, type Plugin } from 'esbuild';
import { originalPosition, type SourceMapV3 } from './source-map-lookup.ts';

/** The SDK entry agent code imports as `sluice/sdk`: the one of the package this CLI belongs to. */
export const SDK_ENTRY = fileURLToPath(new URL('../index.ts', import.meta.url));

/** Runtime globals that do not exist in the sandbox; the vendor's own files may not use them. */
const RUNTIME_GLOBALS = ['Bun', 'Deno', 'process', 'Buffer', 'global', '__dirname', '__filename'] as const;
const MARK = '__sluice_agent_forbidden_';
const MARK_PATTERN = new RegExp(`${MARK}([A-Za-z_]+)__`, 'g');
const BUILTINS = new Set(builtinModules);
const LOADERS: Record<string, Loader> = { '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.tsx': 'tsx', '.js': 'js', '.mjs': 'js', '.cjs': 'js', '.jsx': 'jsx' };
const ENTRY_NAME = '<sluice-agent entry>';

/** What to bundle. */
export interface AgentBuildInput {
  /** The project directory: relative paths in messages are relative to it. */
  dir: string;
  /** Absolute path of the module whose default export is the agent definition. */
  entry: string;
  /** The manifest's kind; the bundle checks the definition says the same when it loads. */
  kind: string;
  minify?: boolean;
}

/** The bundled code, or one line per problem (`file:line:column: text`). */
export type AgentBuildResult = { ok: true; code: Uint8Array; warnings: string[] } | { ok: false; errors: string[] };

function forbiddenImport(path: string): string | undefined {
  if (path.startsWith('node:') || BUILTINS.has(path)) return `a Node built-in; agent code runs in a sandbox without Node APIs`;
  if (path.startsWith('bun:')) return 'a Bun built-in; agent code runs in a sandbox without Bun APIs';
  if (path.startsWith('npm:') || path.startsWith('jsr:')) return 'a Deno specifier; install the package and import it by its name';
  if (path === 'sluice' || (path.startsWith('sluice/') && path !== 'sluice/sdk')) {
    return 'not for agent code (the server and sluice/sdk/bundle need Node APIs); import helpers from "sluice/sdk"';
  }
  return undefined;
}

function insideNodeModules(path: string): boolean {
  return path.split(sep).includes('node_modules');
}

/** Lines in `file` (the vendor's own, not a dependency's) that use a runtime global, found by esbuild itself (not in strings or comments, not shadowed). */
async function runtimeGlobalUses(file: string, source: string, shown: string): Promise<string[]> {
  const loader = LOADERS[extname(file)];
  if (loader === undefined) return [];
  const define = Object.fromEntries(RUNTIME_GLOBALS.map((name) => [name, `${MARK}${name}__`]));
  const out = await transform(source, { loader, define, sourcemap: 'external', sourcefile: shown, logLevel: 'silent' });
  if (!out.code.includes(MARK)) return [];
  const map = JSON.parse(out.map) as SourceMapV3;
  const problems: string[] = [];
  out.code.split('\n').forEach((text, line) => {
    for (const match of text.matchAll(MARK_PATTERN)) {
      const at = originalPosition(map, line, match.index ?? 0);
      const where = at === undefined ? shown : `${shown}:${at.line}:${at.column}`;
      problems.push(`${where}: uses the ${match[1]} global, which does not exist in the agent sandbox (no Node, Bun or Deno APIs)`);
    }
  });
  return problems;
}

/** Checks every import and every file of the vendor's own; global uses are collected in `problems` so that import errors still surface. */
function guardPlugin(dir: string, problems: string[]): Plugin {
  return {
    name: 'sluice-agent-guard',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === 'entry-point') return undefined;
        if (args.path === 'sluice/sdk') return { path: SDK_ENTRY };
        const why = forbiddenImport(args.path);
        if (why === undefined) return undefined;
        // esbuild puts the importing file, line and column in front of this text.
        return { errors: [{ text: `cannot import "${args.path}": ${why}` }] };
      });
      b.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, async (args) => {
        if (insideNodeModules(args.path)) return undefined;
        const source = await readFile(args.path, 'utf8');
        problems.push(...(await runtimeGlobalUses(args.path, source, relative(dir, args.path))));
        return { contents: source, loader: LOADERS[extname(args.path)] ?? 'js' };
      });
    },
  };
}

/** The entry esbuild starts from: imports the vendor's module and installs its handlers as `globalThis.agent`. */
function entrySource(input: AgentBuildInput): string {
  const shown = relative(input.dir, input.entry);
  const notAgent = `the default export of ${shown} is not an agent definition: write "export default defineReceiveAgent({ ... })" with defineReceiveAgent from "sluice/sdk"`;
  return [
    `import definition from ${JSON.stringify(input.entry)};`,
    `if (definition === null || typeof definition !== 'object' || definition.handlers === null || typeof definition.handlers !== 'object') {`,
    `  throw new TypeError(${JSON.stringify(notAgent)});`,
    `}`,
    `if (definition.kind !== ${JSON.stringify(input.kind)}) {`,
    `  throw new TypeError(${JSON.stringify(`${shown} defines a `)} + String(definition.kind) + ${JSON.stringify(` agent, but the manifest's kind is "${input.kind}"`)});`,
    `}`,
    `globalThis.agent = definition.handlers;`,
    '',
  ].join('\n');
}

function describe(message: Message, input: AgentBuildInput): string {
  const shown = relative(input.dir, input.entry);
  if (/^No matching export in .* for import "default"$/.test(message.text)) {
    return `${shown}: has no default export; the agent module must "export default defineReceiveAgent({ ... })"`;
  }
  const at = message.location;
  if (at === null || at.file === ENTRY_NAME || at.file === '') return message.text;
  return `${at.file}:${at.line}:${at.column}: ${message.text}`;
}

/**
 * Bundles `input.entry`. Never throws for a problem in the vendor's code: each one comes back as a
 * line in `errors`.
 */
export async function bundleAgentCode(input: AgentBuildInput): Promise<AgentBuildResult> {
  const problems: string[] = [];
  const isFile = await stat(input.entry).then((s) => s.isFile(), () => false);
  if (!isFile) return { ok: false, errors: [`${relative(input.dir, input.entry)}: the agent module does not exist (set "entry" in sluice-agent.json or pass --entry)`] };
  try {
    const result = await build({
      stdin: { contents: entrySource(input), resolveDir: input.dir, sourcefile: ENTRY_NAME, loader: 'js' },
      absWorkingDir: input.dir,
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'neutral',
      target: 'es2022',
      // Neutral platform resolves no main fields by default; ordinary npm packages need these.
      mainFields: ['module', 'main'],
      // Libraries branch on this; the sandbox has no `process`.
      define: { 'process.env.NODE_ENV': '"production"' },
      minify: input.minify === true,
      legalComments: 'eof',
      logLevel: 'silent',
      plugins: [guardPlugin(input.dir, problems)],
    });
    if (problems.length > 0) return { ok: false, errors: problems };
    const file = result.outputFiles[0];
    if (file === undefined) return { ok: false, errors: ['esbuild produced no output'] };
    return { ok: true, code: file.contents, warnings: result.warnings.map((w) => describe(w, input)) };
  } catch (error) {
    const errors = (error as { errors?: Message[] }).errors;
    if (!Array.isArray(errors) || errors.length === 0) return { ok: false, errors: [...problems, error instanceof Error ? error.message : String(error)] };
    return { ok: false, errors: [...errors.map((e) => describe(e, input)), ...problems] };
  }
}
