/** Test fixtures for agents: signed (or unsigned) bundles from a handler object's source, and a trusted vendor key. */
import { createHash } from 'node:crypto';
import { createSignedBundle, canonicalJson } from '../../sdk/bundle/build-bundle.ts';
import { encodeBundle } from '../../sdk/bundle/bundle-format.ts';
import type { ManifestDraft } from '../../sdk/bundle/manifest.ts';
import { generateKeyPair, type VendorKeyPair } from '../../sdk/bundle/signing.ts';
import type { TrustStore } from '../agents/trust-store.ts';
import type { AgentRegistry } from '../agents/registry.ts';

export interface TestAgent {
  name: string;
  version?: string;
  /** Event → budget in ms. */
  budgets: Record<string, number>;
  /** The inside of the handler object literal, e.g. `onRcptTo(e) { return … }`. */
  handlers: string;
  manifest?: Record<string, unknown>;
}

export function agentSource(handlers: string): Uint8Array {
  return new TextEncoder().encode(`globalThis.agent = { ${handlers} };\n`);
}

function draftOf(agent: TestAgent): ManifestDraft {
  return {
    name: agent.name,
    version: agent.version ?? '1.0.0',
    kind: 'receive',
    events: Object.keys(agent.budgets),
    budgets: agent.budgets,
    memoryMiB: 32,
    capabilities: ['log'],
    sdk: '^0.1.0',
    ...agent.manifest,
  } as ManifestDraft;
}

export function signedAgent(agent: TestAgent, key: VendorKeyPair): Uint8Array {
  return createSignedBundle({ manifest: draftOf(agent), code: agentSource(agent.handlers), privateKey: key.privateKey });
}

/** A bundle without a signature, as `sluice-agent` would build for development mode. */
export function unsignedAgent(agent: TestAgent): Uint8Array {
  const code = agentSource(agent.handlers);
  const manifest = { wantsBody: false, ...draftOf(agent), code: { sha256: createHash('sha256').update(code).digest('hex'), bytes: code.byteLength } };
  return encodeBundle({ manifestBytes: new TextEncoder().encode(canonicalJson(manifest)), code, signature: null });
}

/** A fresh vendor key trusted for `vendors` in the server's trust store. */
export async function trustedVendor(trust: TrustStore, registry: AgentRegistry, vendors: string[]): Promise<VendorKeyPair> {
  const key = generateKeyPair();
  await trust.addKey({ publicKey: key.publicKey, vendors });
  await registry.trustChanged();
  return key;
}

/** Installs, then enables, a signed agent. */
export async function installEnabled(registry: AgentRegistry, agent: TestAgent, key: VendorKeyPair, priority?: number): Promise<void> {
  await registry.install(signedAgent(agent, key));
  if (priority !== undefined) await registry.setPriority(agent.name, priority);
  await registry.enable(agent.name);
}
