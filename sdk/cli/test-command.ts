/** `sluice-agent test [dir]`: runs events (a JSON list, or a synthetic SMTP session for an .eml) through the real sandbox and reports each verdict. */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as v from 'valibot';
import type { ChainResult } from '../../runtime/sandbox/protocol.ts';
import { EVENTS_BY_KIND } from '../bundle/event-names.ts';
import { agentFromBundle, agentFromProject, type AgentUnderTest } from './agent-under-test.ts';
import { CommandError, EXIT_FAILURE, EXIT_OK, parseCommandLine, stringOption, UsageError, type Command, type CommandIo } from './cli-io.ts';
import { agentStep, describeVerdict } from './describe-result.ts';
import { readJsonFile } from './json-file.ts';
import { configProblem } from '../bundle/agent-config.ts';
import { messageFromEml, sessionForMessage } from './sample-payloads.ts';
import { SandboxedAgent } from './sandboxed-agent.ts';
import { formatTable } from './text-table.ts';

const HELP = `Usage: sluice-agent test [dir] [--events file.json | --eml message.eml] [--bundle file [--pub file.pub]]
                         [--config config.json] [--entry file] [--json]

Loads the agent into the same sandbox host the server uses (the manifest's memory, budgets and
capabilities, failure policy closed) and runs events through it, printing each verdict, the
agent's outcome and its time. Exits 1 when any run's outcome is not ok.

Input (default: <dir>/events/sample.json):
  --events file.json   a JSON array of { "event": "onRcptTo", "payload": { ... } }
  --eml message.eml    one SMTP session delivering the message: onConnect, onEhlo, onMailFrom,
                       onRcptTo per recipient, onData, onEndOfHeaders, onEndOfData (headers parsed
                       from the file; body only if the manifest sets wantsBody). A refused
                       recipient is left out of the envelope; any other refusal ends the session.
  --from address       envelope sender for --eml (default: Return-Path, Sender or From)
  --to address         envelope recipient for --eml, repeatable (default: To, Cc and Bcc)

Agent (default: build <dir> in memory, as "build" would):
  --bundle file        run the code of a bundle instead (every check but the signature)
  --pub file.pub       with --bundle: check the signature too
  --entry file         the agent module (overrides sluice-agent.json)
  --config file.json   the agent's configuration (ctx.config)
  --json               print results as JSON
`;

const EventListSchema = v.array(v.object({ event: v.string(), payload: v.unknown() }));

/** One line of the report. `result` is absent for an event that was not run, with `note` saying why. */
interface Row {
  event: string;
  recipient?: string;
  result?: ChainResult;
  note?: string;
}

async function readEventList(file: string, agent: AgentUnderTest): Promise<{ event: string; payload: unknown }[]> {
  const parsed = v.safeParse(EventListSchema, await readJsonFile(file, '--events'));
  if (!parsed.success) {
    throw new CommandError([`--events ${file}: expected a JSON array of { "event": ..., "payload": ... }:`, ...parsed.issues.map((i) => `  ${v.getDotPath(i) ?? '(root)'}: ${i.message}`)]);
  }
  const known: readonly string[] = EVENTS_BY_KIND[agent.manifest.kind];
  parsed.output.forEach((item, i) => {
    if (!known.includes(item.event)) throw new CommandError(`--events ${file}: [${i}].event: "${item.event}" is not a ${agent.manifest.kind} event (${known.join(', ')})`);
    if (item.payload === null || typeof item.payload !== 'object' || Array.isArray(item.payload)) {
      throw new CommandError(`--events ${file}: [${i}].payload: expected an object`);
    }
  });
  return parsed.output;
}

async function runList(sandbox: SandboxedAgent, events: { event: string; payload: unknown }[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const { event, payload } of events) {
    if (sandbox.budgetFor(event) === undefined) rows.push({ event, note: 'not subscribed (the server would not call it)' });
    else rows.push({ event, result: await sandbox.run(event, payload) });
  }
  return rows;
}

async function runEml(sandbox: SandboxedAgent, file: string, from: string | undefined, to: string[] | undefined): Promise<Row[]> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (error) {
    throw new CommandError(`--eml ${file}: cannot read it: ${(error as Error).message}`);
  }
  const facts = messageFromEml(bytes, { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) });
  if ('error' in facts) throw new CommandError(`--eml ${file}: ${facts.error}`);
  const rows: Row[] = [];
  const accepted: string[] = [];
  let ended: string | undefined;
  for (const step of sessionForMessage(facts, sandbox.agent.manifest.wantsBody)) {
    const row: Row = step.recipient === undefined ? { event: step.event } : { event: step.event, recipient: step.recipient };
    if (ended === undefined && step.event === 'onData' && accepted.length === 0) ended = 'not reached: no recipient was accepted';
    if (ended !== undefined) {
      rows.push({ ...row, note: ended });
      continue;
    }
    const subscribed = sandbox.budgetFor(step.event) !== undefined;
    const result = subscribed ? await sandbox.run(step.event, step.payload(accepted)) : undefined;
    rows.push(result === undefined ? { ...row, note: 'not subscribed' } : { ...row, result });
    const refused = result !== undefined && result.verdict.verdict !== 'continue';
    if (step.event === 'onRcptTo') {
      if (!refused && step.recipient !== undefined) accepted.push(step.recipient);
    } else if (refused) {
      ended = `not reached: the session ended at ${step.event}`;
    }
  }
  return rows;
}

function report(rows: Row[], agent: AgentUnderTest, sandbox: SandboxedAgent, io: CommandIo): void {
  const table = rows.map((row, i) => {
    const event = row.recipient === undefined ? row.event : `${row.event} <${row.recipient}>`;
    if (row.result === undefined) return [String(i + 1), event, `— ${row.note ?? ''}`, '', '', ''];
    const step = agentStep(row.result);
    return [String(i + 1), event, describeVerdict(row.result), step.outcome, step.ms === null ? '' : step.ms.toFixed(2), String(sandbox.budgetFor(row.event) ?? '')];
  });
  const { manifest } = agent;
  io.out(`${manifest.name} ${manifest.version} (${manifest.kind}, ${manifest.memoryMiB} MiB) from ${agent.origin}\n`);
  io.out(`${formatTable(['#', 'event', 'verdict', 'outcome', 'ms', 'budget ms'], table, ['right', 'left', 'left', 'left', 'right', 'right']).join('\n')}\n`);
  const ran = rows.filter((r) => r.result !== undefined);
  const failed = ran.filter((r) => r.result !== undefined && agentStep(r.result).outcome !== 'ok');
  rows.forEach((row, i) => {
    if (row.result === undefined) return;
    const step = agentStep(row.result);
    if (step.error !== undefined) io.out(`#${i + 1} ${row.event}: ${step.outcome}: ${step.error}\n`);
  });
  io.out(`${ran.length} event${ran.length === 1 ? '' : 's'} run: ${ran.length - failed.length} ok, ${failed.length} failed\n`);
}

export const testCommand: Command = {
  summary: 'run events through the agent in the real sandbox',
  help: HELP,
  async run(argv, io) {
    const args = parseCommandLine(
      argv,
      {
        events: { type: 'string' },
        eml: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string', multiple: true },
        bundle: { type: 'string' },
        pub: { type: 'string' },
        entry: { type: 'string' },
        config: { type: 'string' },
        json: { type: 'boolean' },
      },
      1,
    );
    const dir = resolve(args.positionals[0] ?? '.');
    const eventsFile = stringOption(args.values, 'events');
    const emlFile = stringOption(args.values, 'eml');
    const bundleFile = stringOption(args.values, 'bundle');
    const pubFile = stringOption(args.values, 'pub');
    if (eventsFile !== undefined && emlFile !== undefined) throw new UsageError('give --events or --eml, not both');
    if (pubFile !== undefined && bundleFile === undefined) throw new UsageError('--pub checks a bundle\'s signature: use it with --bundle');
    if (emlFile === undefined && (args.values.from !== undefined || args.values.to !== undefined)) throw new UsageError('--from and --to set the envelope of --eml');
    if (bundleFile !== undefined && args.values.entry !== undefined) throw new UsageError('--entry builds from source; a --bundle already has its code');

    const agent = bundleFile !== undefined ? await agentFromBundle(bundleFile, pubFile) : await agentFromProject(dir, stringOption(args.values, 'entry'));
    const configFile = stringOption(args.values, 'config');
    const config = configFile === undefined ? {} : await readJsonFile(configFile, '--config');
    const badConfig = configProblem(agent.manifest, config);
    if (badConfig !== null) throw new CommandError(`--config ${configFile ?? '(none)'}: ${badConfig.message}`);
    const events = emlFile === undefined ? await readEventList(eventsFile ?? join(dir, 'events', 'sample.json'), agent) : undefined;

    const sandbox = await SandboxedAgent.load(agent, config, (line) => io.err(`[sandbox] ${line}\n`));
    let rows: Row[];
    try {
      rows = events !== undefined ? await runList(sandbox, events) : await runEml(sandbox, emlFile ?? '', stringOption(args.values, 'from'), args.values.to as string[] | undefined);
    } finally {
      await sandbox.close();
    }
    const failed = rows.some((r) => r.result !== undefined && agentStep(r.result).outcome !== 'ok');
    if (args.values.json === true) {
      const results = rows.map((r) => {
        const base = { event: r.event, ...(r.recipient !== undefined ? { recipient: r.recipient } : {}) };
        if (r.result === undefined) return { ...base, ran: false, note: r.note };
        return { ...base, ran: true, verdict: r.result.verdict, headers: r.result.headers ?? [], ...agentStep(r.result) };
      });
      io.out(`${JSON.stringify({ agent: { name: agent.manifest.name, version: agent.manifest.version, origin: agent.origin }, ok: !failed, results }, null, 2)}\n`);
    } else {
      report(rows, agent, sandbox, io);
    }
    return failed ? EXIT_FAILURE : EXIT_OK;
  },
};
