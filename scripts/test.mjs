#!/usr/bin/env node
// Runs the whole test suite under Node, Bun and Deno in turn and prints one tally per runtime.
//
//   node scripts/test.mjs [node|bun|deno ...] [--only <substring>] [--timeout <seconds>]
//
// Counts come from each runtime's JUnit report, reduced to leaf test cases so that the same suite
// gives the same numbers everywhere. A runtime that exits non-zero without reporting a failing test
// (crash, type error, a file that failed to load) still counts as a failure. The last line printed
// is always `N passed, N failed`; the exit code is 0 only when every runtime exited 0 with no failure.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TEST_ROOTS = ['runtime', 'sdk', 'plugins', 'examples'];
const RUNTIMES = ['node', 'bun', 'deno'];
const TEST_TIMEOUT_MS = 120_000;
const DEFAULT_WATCHDOG_S = 30 * 60; // Deno has no per-test timeout; a hung suite must still end.

function usage(message) {
  if (message) console.error(`test: ${message}`);
  console.error('usage: node scripts/test.mjs [node|bun|deno ...] [--only <substring>] [--timeout <seconds>]');
  process.exit(2);
}

function parseArgs(argv) {
  const options = { runtimes: [], only: [], watchdogS: DEFAULT_WATCHDOG_S };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === '--only') options.only.push(value());
    else if (flag === '--timeout') {
      const seconds = Number(value());
      if (!(seconds > 0)) usage('--timeout needs a positive number of seconds');
      options.watchdogS = seconds;
    } else if (flag === '-h' || flag === '--help') usage();
    else if (RUNTIMES.includes(arg)) {
      if (!options.runtimes.includes(arg)) options.runtimes.push(arg);
    } else usage(`unknown argument ${JSON.stringify(arg)}`);
  }
  if (options.runtimes.length === 0) options.runtimes = [...RUNTIMES];
  else options.runtimes.sort((a, b) => RUNTIMES.indexOf(a) - RUNTIMES.indexOf(b));
  return options;
}

/** Every `*.test.ts` under the test roots, as sorted POSIX paths relative to the project root. */
function discover() {
  const found = [];
  const walk = (rel) => {
    let entries;
    try {
      entries = readdirSync(path.join(ROOT, rel), { withFileTypes: true });
    } catch (error) {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return;
      throw error;
    }
    for (const entry of entries) {
      const child = `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && !entry.name.startsWith('.')) walk(child);
      } else if (entry.isFile() && entry.name.endsWith('.test.ts')) {
        found.push(child);
      }
    }
  };
  for (const root of TEST_ROOTS) walk(root);
  return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function command(runtime, files, xml) {
  const bin = (name) => path.join(ROOT, 'node_modules', '.bin', name);
  switch (runtime) {
    case 'node':
      return [process.execPath, [
        '--import', 'tsx', '--test', `--test-timeout=${TEST_TIMEOUT_MS}`,
        '--test-reporter=spec', '--test-reporter-destination=stdout',
        '--test-reporter=junit', `--test-reporter-destination=${xml}`,
        ...files,
      ]];
    case 'bun':
      // Bun runs every file in one process; --isolate gives each file a fresh global, as Node's
      // process per file and Deno's isolate per file do. Paths need ./ or Bun treats them as filters.
      return [bin('bun'), [
        'test', '--isolate', '--timeout', String(TEST_TIMEOUT_MS),
        '--reporter=junit', `--reporter-outfile=${xml}`,
        ...files.map((f) => `./${f}`),
      ]];
    case 'deno':
      // The dot reporter prints one dot per line when stdout is not a terminal; pretty is readable.
      return [bin('deno'), ['test', '-A', '--reporter=pretty', `--junit-path=${xml}`, ...files]];
    default:
      throw new Error(`unknown runtime ${runtime}`);
  }
}

// ---------------------------------------------------------------------------------------------
// JUnit XML: a small tag scanner is enough for the three reporters' output.

const ENTITIES = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
function decode(text) {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, body) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[body] ?? whole;
  });
}

function* tags(xml) {
  let i = 0;
  while ((i = xml.indexOf('<', i)) !== -1) {
    const skipTo = (end) => {
      const at = xml.indexOf(end, i);
      i = at === -1 ? xml.length : at + end.length;
    };
    if (xml.startsWith('<!--', i)) { skipTo('-->'); continue; }
    if (xml.startsWith('<![CDATA[', i)) { skipTo(']]>'); continue; }
    if (xml.startsWith('<?', i)) { skipTo('?>'); continue; }
    if (xml.startsWith('<!', i)) { skipTo('>'); continue; }
    // Find the closing '>' outside quoted attribute values.
    let j = i + 1;
    let quote = '';
    for (; j < xml.length; j++) {
      const c = xml[j];
      if (quote) { if (c === quote) quote = ''; } else if (c === '"' || c === "'") quote = c;
      else if (c === '>') break;
    }
    let body = xml.slice(i + 1, j);
    i = j + 1;
    const closing = body.startsWith('/');
    if (closing) body = body.slice(1);
    const selfClosing = body.endsWith('/');
    if (selfClosing) body = body.slice(0, -1);
    const name = /^[^\s/>]+/.exec(body)?.[0];
    if (!name) continue;
    const attrs = {};
    for (const m of body.slice(name.length).matchAll(/([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
      attrs[m[1]] = decode(m[2] ?? m[3] ?? '');
    }
    yield { name, attrs, closing, selfClosing };
  }
}

/** Test cases in a JUnit report: name, suite path, and whether each failed or was skipped. */
function readJUnit(xml) {
  const cases = [];
  const suites = [];
  let current = null;
  for (const tag of tags(xml)) {
    if (tag.name === 'testsuite') {
      if (tag.closing) suites.pop();
      else if (!tag.selfClosing) suites.push(tag.attrs.name ?? '');
    } else if (tag.name === 'testcase') {
      if (tag.closing) { current = null; continue; }
      const testCase = {
        name: tag.attrs.name ?? '',
        suites: [...suites],
        failed: 'failure' in tag.attrs,
        skipped: false,
      };
      cases.push(testCase);
      current = tag.selfClosing ? null : testCase;
    } else if (current && !tag.closing && (tag.name === 'failure' || tag.name === 'error')) {
      current.failed = true;
    } else if (current && !tag.closing && tag.name === 'skipped') {
      current.skipped = true;
    }
  }
  return cases;
}

/**
 * Leaf test cases only. Node and Bun already report a describe() or a test with subtests as a
 * <testsuite>; Deno reports it as a <testcase> and its steps as further test cases named
 * `group > step` (describe steps under a suite named after Deno's node:test shim, not the file),
 * so any Deno case that prefixes another is a group, not a test.
 */
function leaves(runtime, cases) {
  if (runtime !== 'deno') return cases;
  const groups = new Set();
  for (const c of cases) {
    const parts = c.name.split(' > ');
    for (let k = 1; k < parts.length; k++) groups.add(parts.slice(0, k).join(' > '));
  }
  return cases.filter((c) => !groups.has(c.name));
}

function tally(cases) {
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for (const c of cases) {
    if (c.failed) counts.failed++;
    else if (c.skipped) counts.skipped++;
    else counts.passed++;
  }
  return counts;
}

// Errors that happen outside any test case are missing from the JUnit reports of Bun (a file that
// fails to load, a throwing before() hook) and Deno (an uncaught error in a module); their human
// output still says so.
// eslint-disable-next-line no-control-regex
const stripAnsi = (text) => text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
function failuresOutsideTests(runtime, output, junitFailed) {
  const text = stripAnsi(output);
  if (runtime === 'bun') {
    const last = (re) => {
      const all = [...text.matchAll(re)];
      return all.length ? Number(all[all.length - 1][1]) : 0;
    };
    const fail = last(/^\s*(\d+) fail\s*$/gm);
    const errors = last(/^\s*(\d+) errors?\s*$/gm);
    return Math.max(fail - junitFailed, errors, 0);
  }
  if (runtime === 'deno') {
    return new Set([...text.matchAll(/^(\S+) \(uncaught error\)\s*$/gm)].map((m) => m[1])).size;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------

let activeChild = null;
let reportDir = null;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (activeChild) killGroup(activeChild, signal);
    if (reportDir) rmSync(reportDir, { recursive: true, force: true });
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    try { child.kill(signal); } catch { /* already gone */ }
  }
}

function childEnv(runtime) {
  const env = { ...process.env, SLUICE_TEST_RUNTIME: runtime };
  if (!('NO_COLOR' in env) && !('FORCE_COLOR' in env)) {
    if (process.stdout.isTTY) env.FORCE_COLOR = '1';
    else env.NO_COLOR = '1';
  }
  return env;
}

/** Runs one runtime, streaming its output live; resolves with its exit status and output. */
function run(runtime, files, xml, watchdogS) {
  const [bin, args] = command(runtime, files, xml);
  return new Promise((resolve) => {
    let output = '';
    let settled = false;
    let timedOut = false;
    let watchdog;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      activeChild = null;
      resolve({ ...result, output, timedOut });
    };
    let child;
    try {
      // Its own process group, so that a timeout or Ctrl-C also ends the per-file processes it spawns.
      child = spawn(bin, args, { cwd: ROOT, env: childEnv(runtime), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    } catch (error) {
      finish({ code: null, signal: null, spawnError: error });
      return;
    }
    activeChild = child;
    watchdog = setTimeout(() => {
      timedOut = true;
      process.stdout.write(`\n${runtime}: still running after ${watchdogS} s, stopping it\n`);
      killGroup(child, 'SIGTERM');
      setTimeout(() => killGroup(child, 'SIGKILL'), 5_000).unref();
    }, watchdogS * 1000);
    const forward = (chunk) => {
      output += chunk.toString('utf8');
      if (output.length > 4_000_000) output = output.slice(-2_000_000); // only the summary is parsed
      process.stdout.write(chunk);
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    child.on('error', (error) => finish({ code: null, signal: null, spawnError: error }));
    child.on('exit', (code, signal) => {
      // End what the run left behind (a server a test forgot to close): it could hold the pipes
      // open, and it must not outlive the run. Wait briefly for the last output first.
      const done = () => {
        killGroup(child, 'SIGKILL');
        finish({ code, signal });
      };
      const grace = setTimeout(done, 2_000);
      child.on('close', () => { clearTimeout(grace); done(); });
    });
  });
}

function describeExit(result) {
  if (result.spawnError) return `could not start: ${result.spawnError.message}`;
  if (result.timedOut) return 'timed out and was stopped';
  if (result.signal) return `was killed by ${result.signal}`;
  return `exited with code ${result.code}`;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  let files = discover();
  if (options.only.length) files = files.filter((f) => options.only.some((s) => f.includes(s)));
  if (files.length === 0) {
    const where = TEST_ROOTS.map((r) => `${r}/`).join(', ');
    const filter = options.only.length ? ` matching ${options.only.map((s) => JSON.stringify(s)).join(' or ')}` : '';
    console.log(`test: no *.test.ts files${filter} under ${where}; a run without tests is not a pass`);
    console.log('0 passed, 1 failed');
    process.exitCode = 1;
    return;
  }

  const tmp = (reportDir = mkdtempSync(path.join(tmpdir(), 'sluice-test-')));
  const results = [];
  try {
    for (const runtime of options.runtimes) {
      console.log(`== ${runtime} ==`);
      const xml = path.join(tmp, `${runtime}.xml`);
      const started = performance.now();
      const result = await run(runtime, files, xml, options.watchdogS);
      const seconds = (performance.now() - started) / 1000;
      const problems = [];
      const exitedOk = result.code === 0 && !result.timedOut;
      const report = existsSync(xml) ? readFileSync(xml, 'utf8') : null;
      const counts = report === null ? { passed: 0, failed: 0, skipped: 0 } : tally(leaves(runtime, readJUnit(report)));
      const outside = failuresOutsideTests(runtime, result.output, counts.failed);
      if (outside > 0) {
        counts.failed += outside;
        problems.push(`${outside} error${outside === 1 ? '' : 's'} outside any test (a file that failed to load, a failing hook, an uncaught error)`);
      }
      if (!exitedOk) {
        if (result.timedOut || result.signal || result.spawnError) problems.push(describeExit(result));
        else if (counts.failed === 0) problems.push(`${describeExit(result)} without reporting a failing test (a crash, a type error, or a file that failed to load)`);
        counts.failed = Math.max(counts.failed, 1);
      } else if (report === null) {
        counts.failed = 1;
        problems.push('exited 0 but wrote no JUnit report');
      } else if (counts.passed + counts.failed === 0) {
        counts.failed = 1;
        problems.push('exited 0 but ran no tests');
      }
      results.push({ runtime, counts, seconds, problems, exitedOk });
      console.log('');
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  console.log(`${files.length} test file${files.length === 1 ? '' : 's'}`);
  for (const { runtime, counts, seconds, problems } of results) {
    const skipped = counts.skipped ? `, ${counts.skipped} skipped` : '';
    console.log(`${runtime}: ${counts.passed} passed, ${counts.failed} failed${skipped} (${seconds.toFixed(1)} s)`);
    for (const problem of problems) console.log(`  ${runtime} ${problem}`);
  }
  const sizes = new Set(results.map((r) => r.counts.passed + r.counts.failed + r.counts.skipped));
  if (sizes.size > 1 && results.every((r) => r.exitedOk && r.counts.failed === 0)) {
    // On a green run the suites must be the same; the usual cause is a t.test() subtest, which Bun
    // runs but does not report, so it counts its parent once where Node and Deno count each subtest.
    console.log('note: the runtimes counted different numbers of tests; use describe/it rather than t.test() subtests');
  }
  const passed = results.reduce((n, r) => n + r.counts.passed, 0);
  const failed = results.reduce((n, r) => n + r.counts.failed, 0);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && results.every((r) => r.exitedOk) ? 0 : 1;
}

await main();
