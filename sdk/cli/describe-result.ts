/** Short human text for what a chain run produced: the verdict with its reply or header edits, and a failed step's outcome. */
import type { ChainResult } from '../../runtime/sandbox/protocol.ts';

/**
 * `continue`, `continue +X-Tag: v -X-Old +rcpt:a@example.com`, `reject 550 5.7.1 text`, `disconnect text`,
 * `defer 60000ms reason`, `delete reason`, `ack a@example.com=delivered b@example.com=failed 550 5.1.1 text`.
 */
export function describeVerdict(result: ChainResult): string {
  const v = result.verdict;
  switch (v.verdict) {
    case 'continue': {
      const edits = (result.headers ?? []).map((e) => (e.op === 'remove' ? `-${e.name}` : `${e.op === 'add' ? '+' : '='}${e.name}: ${e.value}`));
      const rcpts = (result.recipients ?? []).map((e) =>
        e.op === 'add' ? `+rcpt:${e.address}` : e.op === 'remove' ? `-rcpt:${e.address}` : e.op === 'fork' ? `fork:${e.addresses.join(',')}` : e.op === 'rewrite' ? `rcpt:${e.address}=>${e.to}` : `rcpt:${e.address}->${e.route}`,
      );
      return ['continue', ...edits, ...rcpts].join(' ');
    }
    case 'reject':
    case 'tempfail':
      return `${v.verdict} ${v.code} ${v.enhanced} ${v.text}`;
    case 'disconnect':
      return v.text === undefined ? 'disconnect' : `disconnect ${v.text}`;
    case 'defer':
      return `defer ${v.delayMs}ms ${v.reason}`;
    case 'delete':
    case 'quarantine':
      return `${v.verdict} ${v.reason}`;
    case 'ack':
      return ['ack', ...v.recipients.map((r) => (r.status === 'failed' ? `${r.address}=failed ${r.code} ${r.enhanced} ${r.reason}` : r.status === 'deferred' ? `${r.address}=deferred ${r.reason}` : `${r.address}=delivered`))].join(' ');
  }
}

/** The agent's own step: its outcome (`ok`, `timeout`, `error`, `bad-result`, `crash`), time and error. */
export function agentStep(result: ChainResult): { outcome: string; ms: number | null; error?: string } {
  const step = result.steps[0];
  if (step === undefined) return { outcome: 'crash', ms: null, error: 'the sandbox host answered without running the agent' };
  return step.error === undefined ? { outcome: step.outcome, ms: step.ms } : { outcome: step.outcome, ms: step.ms, error: step.error };
}
