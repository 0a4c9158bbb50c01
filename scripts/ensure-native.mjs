#!/usr/bin/env node
// Postinstall: make sure isolated-vm's native addon works in this Node, building it if it does not,
// and build our own small one (runtime/sandbox/native: the sandbox host's shared black box page).
//
// isolated-vm's own install script (`prebuild-install || node-gyp rebuild -j max`) is denied in
// package.json's allowScripts: its parallel build has been seen to fail with a race, and a failing
// dependency script aborts and rolls back the whole `npm install` before this script could repair
// anything. So this script does that install itself, the same way but with a serial build: try
// isolated-vm's prebuilt binary, else `node-gyp rebuild --release -j 1`. When the addon already
// works (a repeated install, or another package manager built it), it costs one short Node start.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PREBUILD_TIMEOUT_MS = 60_000;
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

/** null when isolated-vm works, else the reason it does not. */
function probe() {
  const run = spawnSync(process.execPath, ['--no-node-snapshot', '-e', PROBE], { cwd: ROOT, encoding: 'utf8' });
  if (run.status === 0) return null;
  const lines = `${run.stderr ?? ''}${run.error ? run.error.message : ''}`.split('\n').map((l) => l.trim()).filter(Boolean);
  const reason = lines.find((l) => /Error|error:/.test(l)) ?? lines.at(-1);
  return reason ?? (run.signal ? `killed by ${run.signal}` : `exit code ${run.status}`);
}

function resolveFrom(dir, request) {
  try {
    return createRequire(path.join(dir, 'package.json')).resolve(request);
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
    resolveFrom(ROOT, 'node-gyp/bin/node-gyp.js'),
  ];
  return candidates.find((c) => c && c.endsWith('.js') && existsSync(c)) ?? null;
}

/**
 * Outside npm (no npm_config_nodedir), use the headers installed beside this Node when they are
 * for exactly this version, so that the build does not need to download them.
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

function readVersion(dir) {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  } catch {
    return '';
  }
}

/** isolated-vm's published binary for this platform and Node ABI, if there is one and it can be fetched. */
function tryPrebuilt(dir) {
  if (process.env.npm_config_build_from_source === 'true') return false;
  const bin = resolveFrom(dir, 'prebuild-install/bin.js');
  if (!bin) return false;
  const run = spawnSync(process.execPath, [bin], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'], timeout: PREBUILD_TIMEOUT_MS });
  return run.status === 0 && probe() === null;
}

const SHARED_PAGE_DIR = path.join(ROOT, 'runtime/sandbox/native');
const SHARED_PAGE = path.join(SHARED_PAGE_DIR, 'build/Release/shared_page.node');

/** null when our shared-page addon loads and maps a file, else the reason it does not. */
function probeSharedPage() {
  const code = `const { mapFile } = require(${JSON.stringify(SHARED_PAGE)});
const fs = require('fs'), os = require('os'), path = require('path');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-page-'));
const file = path.join(dir, 'probe');
fs.writeFileSync(file, '');
Buffer.from(mapFile(file, 4096)).write('ok', 0);
const read = fs.readFileSync(file, 'utf8').slice(0, 2);
fs.rmSync(dir, { recursive: true });
if (read !== 'ok') throw new Error('the mapping did not reach the file');`;
  const run = spawnSync(process.execPath, ['-e', code], { cwd: ROOT, encoding: 'utf8' });
  if (run.status === 0) return null;
  const lines = `${run.stderr ?? ''}`.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => /Error/.test(l)) ?? lines.at(-1) ?? `exit code ${run.status}`;
}

/**
 * The sandbox host's black box addon (runtime/sandbox/native): built here, serially, when it does not
 * load. Not fatal: without it the host writes its black box with a system call per agent instead.
 */
function ensureSharedPage(nodeGyp) {
  if (probeSharedPage() === null) {
    say('the shared-page addon loads; nothing to do');
    return;
  }
  if (!nodeGyp) {
    say('the shared-page addon is not built and node-gyp was not found: the sandbox host will write its black box with pwrite');
    return;
  }
  const nodedir = localNodedir();
  const build = spawnSync(process.execPath, [nodeGyp, 'rebuild', '--release', '-j', '1', ...(nodedir ? [`--nodedir=${nodedir}`] : [])], {
    cwd: SHARED_PAGE_DIR,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const after = build.status === 0 ? probeSharedPage() : `node-gyp rebuild exited with ${build.status ?? build.signal}`;
  if (after === null) {
    say('built the shared-page addon (the sandbox host\'s black box)');
    return;
  }
  process.stderr.write(`${build.stdout ?? ''}${build.stderr ?? ''}`);
  say(`the shared-page addon did not build (${after}): the sandbox host will write its black box with pwrite`);
}

function main() {
  // `npm install --package-lock-only` runs this script too, with nothing installed.
  if (process.env.npm_config_package_lock_only === 'true') return 0;
  ensureSharedPage(findNodeGyp());
  const manifest = resolveFrom(ROOT, 'isolated-vm/package.json');
  const dir = manifest && path.dirname(manifest);
  if (!dir) {
    say('isolated-vm is not installed here; nothing to check');
    return 0;
  }
  const version = `isolated-vm ${readVersion(dir)}`;
  const first = probe();
  if (first === null) {
    say(`${version} loads in Node ${process.version}; nothing to do`);
    return 0;
  }
  const built = existsSync(path.join(dir, 'out/isolated_vm.node'));
  const state = built ? `does not load (${first})` : 'is not built yet';

  if (tryPrebuilt(dir)) {
    say(`${version} ${state}; installed its prebuilt binary for Node ${process.version}`);
    return 0;
  }
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) {
    console.error(`ensure-native: ${version} ${state}, and node-gyp was not found to build it.`);
    console.error('ensure-native: install npm (it bundles node-gyp), a C++ compiler, make and python3, then run `node scripts/ensure-native.mjs`.');
    return 1;
  }
  say(`${version} ${state}; building it with node-gyp -j 1 (a few minutes)`);
  const nodedir = localNodedir();
  const gyp = (...args) => spawnSync(process.execPath, [nodeGyp, ...args, ...(nodedir ? [`--nodedir=${nodedir}`] : [])], {
    cwd: dir,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const build = gyp('rebuild', '--release', '-j', '1');
  const after = build.status === 0 ? probe() : `node-gyp rebuild exited with ${build.status ?? build.signal}`;
  if (after !== null) {
    console.error(`ensure-native: ${version} still does not load after building it (${after}).`);
    console.error('ensure-native: building needs a C++17 compiler, make and python3 (Debian: build-essential python3).');
    console.error(`ensure-native: node-gyp's log is above; its work is in ${path.join(dir, 'build')}. Sandboxed agents cannot run on Node without it.`);
    return 1;
  }
  gyp('clean'); // as isolated-vm's own install does: the addon lives in out/, build/ is scratch
  say(`built ${version} for Node ${process.version}; it loads now`);
  return 0;
}

process.exitCode = main();
