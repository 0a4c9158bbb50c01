#!/usr/bin/env node
// Postinstall: make sure isolated-vm's native addon works in this Node, rebuilding it if it does not.
//
// isolated-vm's own install script builds with `node-gyp rebuild -j max`, a parallel build that has
// been seen to fail with a race, and its script is skipped entirely when a package manager does not
// allow it. Either way the addon is missing or stale; one serial rebuild (`-j 1`) fixes it. When the
// addon already works this costs one short Node start and never fails the install.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const say = (line) => console.log(`ensure-native: ${line}`);

// Create an isolate and run code in it, not just require(): a binary built for another Node ABI
// may load and still fail, and Node 20+ needs --no-node-snapshot for isolated-vm.
const PROBE = `
const ivm = require('isolated-vm');
const isolate = new ivm.Isolate({ memoryLimit: 8 });
const result = isolate.compileScriptSync('6 * 7').runSync(isolate.createContextSync());
isolate.dispose();
if (result !== 42) throw new Error('isolated-vm returned ' + result);
`;

function probe() {
  const run = spawnSync(process.execPath, ['--no-node-snapshot', '-e', PROBE], { cwd: ROOT, encoding: 'utf8' });
  if (run.status === 0) return null;
  const lines = `${run.stderr ?? ''}${run.error ? run.error.message : ''}`.split('\n').map((l) => l.trim()).filter(Boolean);
  const reason = lines.find((l) => /Error|error:/.test(l)) ?? lines.at(-1);
  return reason ?? (run.signal ? `killed by ${run.signal}` : `exit code ${run.status}`);
}

function isolatedVmDir() {
  try {
    return path.dirname(createRequire(path.join(ROOT, 'package.json')).resolve('isolated-vm/package.json'));
  } catch {
    return null;
  }
}

/** node-gyp's CLI: the one npm points lifecycle scripts at, else npm's bundled copy, else a local one. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    process.env.npm_execpath && path.join(path.dirname(process.env.npm_execpath), '../node_modules/node-gyp/bin/node-gyp.js'),
    path.join(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
    path.join(path.dirname(process.execPath), 'node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'), // Windows layout
  ];
  try {
    candidates.push(createRequire(path.join(ROOT, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch { /* not installed locally */ }
  return candidates.find((c) => c && c.endsWith('.js') && existsSync(c)) ?? null;
}

/**
 * Outside npm (no npm_config_nodedir), use the headers installed beside this Node when they are
 * for exactly this version, so the rebuild does not need to download them.
 */
function localNodedir() {
  if (process.env.npm_config_nodedir) return null;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const header = path.join(prefix, 'include/node/node_version.h');
  if (!existsSync(header) || !existsSync(path.join(prefix, 'include/node/common.gypi'))) return null;
  const text = readFileSync(header, 'utf8');
  const part = (name) => text.match(new RegExp(`#define NODE_${name}_VERSION (\\d+)`))?.[1];
  const version = `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
  return version === process.versions.node ? prefix : null;
}

function main() {
  // `npm install --package-lock-only` runs this script too, with nothing installed.
  if (process.env.npm_config_package_lock_only === 'true') return 0;
  const dir = isolatedVmDir();
  if (!dir) {
    say('isolated-vm is not installed here; nothing to check');
    return 0;
  }
  const first = probe();
  if (first === null) {
    say(`isolated-vm ${readVersion(dir)} loads in Node ${process.version}; nothing to do`);
    return 0;
  }

  const nodeGyp = findNodeGyp();
  if (!nodeGyp) {
    console.error(`ensure-native: isolated-vm does not load (${first}) and node-gyp was not found to rebuild it.`);
    console.error('ensure-native: install a C++ toolchain and python3, then run `npm rebuild isolated-vm`.');
    return 1;
  }
  say(`isolated-vm does not load (${first}); rebuilding it with node-gyp -j 1 (takes a few minutes)`);
  const nodedir = localNodedir();
  const gyp = (...args) => spawnSync(process.execPath, [nodeGyp, ...args, ...(nodedir ? [`--nodedir=${nodedir}`] : [])], {
    cwd: dir,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const build = gyp('rebuild', '--release', '-j', '1');
  const after = probe();
  if (build.status !== 0 || after !== null) {
    const why = build.status !== 0 ? `node-gyp rebuild exited with ${build.status ?? build.signal}` : after;
    console.error(`ensure-native: isolated-vm still does not load after a rebuild (${why}).`);
    console.error('ensure-native: it needs a C++17 compiler, make and python3 (Debian: build-essential python3);');
    console.error(`ensure-native: node-gyp's log is above; its work is in ${path.join(dir, 'build')}. Sandboxed agents cannot run on Node without it.`);
    return 1;
  }
  gyp('clean'); // as isolated-vm's own install does: the addon lives in out/, build/ is scratch
  say(`rebuilt isolated-vm ${readVersion(dir)} for Node ${process.version}; it loads now`);
  return 0;
}

function readVersion(dir) {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  } catch {
    return '';
  }
}

process.exitCode = main();
