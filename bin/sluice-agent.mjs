#!/usr/bin/env node
// The `sluice-agent` command for vendors (init, build, keygen, sign, verify, test, bench). The CLI is
// TypeScript run unbundled: on Node, tsx's loader is registered first; Bun and Deno run TypeScript themselves.
if (!('Bun' in globalThis) && !('Deno' in globalThis)) {
  const { register } = await import('tsx/esm/api');
  register();
}

try {
  const { main } = await import('../sdk/cli/main.ts');
  const code = await main(process.argv.slice(2));
  process.exitCode = Number.isInteger(code) ? code : 1;
} catch (error) {
  console.error('sluice-agent: unexpected error:', error);
  process.exitCode = 1;
}
