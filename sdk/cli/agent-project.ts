/** A vendor project on disk: `sluice-agent.json` (the manifest draft plus the CLI's `entry`), validated field by field. */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as v from 'valibot';
import { formatManifestIssues, ManifestSchema, type Manifest, type ManifestDraft } from '../bundle/manifest.ts';
import { CommandError } from './cli-io.ts';

/** The project file every command reads. */
export const PROJECT_FILE = 'sluice-agent.json';
/** Where the agent's source starts unless the project file's `entry` or `--entry` says otherwise. */
export const DEFAULT_ENTRY = 'src/agent.ts';
/** Where `build` writes the code unless `--out` says otherwise, relative to the project. */
export const DEFAULT_CODE_FILE = 'dist/agent.js';

/** A loaded project: its directory, the manifest draft, the same draft validated, and the entry file. */
export interface AgentProject {
  dir: string;
  file: string;
  draft: ManifestDraft;
  /** The draft with defaults applied, as a signed manifest will say (its `code` is a placeholder). */
  manifest: Manifest;
  /** Absolute path of the entry module. */
  entry: string;
}

// Stands in for the code's hash and length, which only the signed bundle knows.
const PLACEHOLDER_CODE = { sha256: '0'.repeat(64), bytes: 0 };

/**
 * Checks a draft as `createSignedBundle` will, before any code exists. Returns one line per problem,
 * each naming its field; empty when the draft is valid.
 */
export function checkDraft(draft: unknown): { ok: true; manifest: Manifest } | { ok: false; issues: string[] } {
  if (draft === null || typeof draft !== 'object' || Array.isArray(draft)) return { ok: false, issues: ['(root): expected a JSON object'] };
  if ('code' in draft) return { ok: false, issues: ['code: unknown field (sign fills it in from the built code)'] };
  const parsed = v.safeParse(ManifestSchema, { ...draft, code: PLACEHOLDER_CODE });
  if (!parsed.success) return { ok: false, issues: formatManifestIssues(parsed.issues) };
  return { ok: true, manifest: parsed.output };
}

/**
 * Reads and validates `<dir>/sluice-agent.json`. `entryOverride` (from `--entry`) is relative to the
 * working directory; the file's `entry` is relative to the project. Throws CommandError naming the
 * file and each bad field.
 */
export async function loadProject(dir: string, entryOverride?: string): Promise<AgentProject> {
  const root = resolve(dir);
  const file = join(root, PROJECT_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CommandError(`no ${PROJECT_FILE} in ${root}: run "sluice-agent init <dir>" first, or name the project directory`);
    }
    throw new CommandError(`cannot read ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CommandError(`${file}: not valid JSON: ${(error as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new CommandError(`${file}: expected a JSON object`);
  // `entry` is for the CLI, not the manifest: it is not signed.
  const { entry, ...rest } = json as Record<string, unknown>;
  if (entry !== undefined && (typeof entry !== 'string' || entry.length === 0)) {
    throw new CommandError(`${file}: entry: expected a path such as "${DEFAULT_ENTRY}"`);
  }
  const checked = checkDraft(rest);
  if (!checked.ok) throw new CommandError([`${file}: invalid manifest draft:`, ...checked.issues.map((issue) => `  ${issue}`)]);
  const entryPath = entryOverride !== undefined ? resolve(entryOverride) : resolve(root, typeof entry === 'string' ? entry : DEFAULT_ENTRY);
  return { dir: root, file, draft: rest as ManifestDraft, manifest: checked.manifest, entry: entryPath };
}
