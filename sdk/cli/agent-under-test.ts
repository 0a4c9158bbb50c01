/** The agent `test` and `bench` run: a project built in memory (as `build` would) or the code of a bundle file, with its manifest. */
import { readFile } from 'node:fs/promises';
import type { Manifest } from '../bundle/manifest.ts';
import { loadProject } from './agent-project.ts';
import { bundleAgentCode } from './bundle-agent-code.ts';
import { claimedVendor, openIgnoringSignature, readPublicKey, trustOneKey } from './bundle-trust.ts';
import { CommandError } from './cli-io.ts';
import { openBundle } from '../bundle/verify-bundle.ts';

/** Code to load and the manifest that says how (memory, budgets, events, body, capabilities). */
export interface AgentUnderTest {
  manifest: Manifest;
  code: string;
  /** Where it came from, for the report's first line. */
  origin: string;
}

/** Builds the project in `dir` in memory; build errors become a CommandError, one line each. */
export async function agentFromProject(dir: string, entry?: string): Promise<AgentUnderTest> {
  const project = await loadProject(dir, entry);
  const built = await bundleAgentCode({ dir: project.dir, entry: project.entry, kind: project.manifest.kind });
  if (!built.ok) throw new CommandError(['build failed:', ...built.errors.map((e) => `  ${e}`)]);
  return { manifest: project.manifest, code: new TextDecoder().decode(built.code), origin: `${project.dir} (built from source)` };
}

/**
 * Reads a bundle file. With `pubFile` the signature is verified (any vendor the manifest names);
 * without it, every other check still runs and the origin says the signature was not checked.
 */
export async function agentFromBundle(file: string, pubFile?: string): Promise<AgentUnderTest> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (error) {
    throw new CommandError(`--bundle ${file}: cannot read it: ${(error as Error).message}`);
  }
  let opened;
  if (pubFile !== undefined) {
    const publicKey = await readPublicKey(pubFile);
    opened = openBundle(bytes, trustOneKey(publicKey, [claimedVendor(bytes) ?? '']), { allowUnsigned: true });
  } else {
    opened = openIgnoringSignature(bytes);
  }
  if (!opened.ok) throw new CommandError(`--bundle ${file}: refused: ${opened.error.code}: ${opened.error.message}`);
  const how = pubFile === undefined ? 'signature not checked; pass --pub to check it' : opened.signed ? `signed by key ${opened.keyId}` : 'unsigned';
  return { manifest: opened.manifest, code: new TextDecoder().decode(opened.code), origin: `${file} (${how})` };
}
