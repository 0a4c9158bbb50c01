import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestApi } from '../api/api-test-kit.ts';
import type { TrackingEntry } from '../tracking/tracking-entry.ts';
import { withTrackingApi } from '../tracking/tracking-api-test-kit.ts';
import { runAdminCommand } from './run-admin-command.ts';

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs `sluice track …` in-process against `api`, finding the admin token through SLUICE_DATA. */
function track(api: TestApi) {
  return async (...argv: string[]): Promise<Run> => {
    let out = '';
    let err = '';
    const code = await runAdminCommand(['track', ...argv], { SLUICE_API: api.url.replace('http://', ''), SLUICE_DATA: api.dataDir }, {
      stdout: (t) => (out += t),
      stderr: (t) => (err += t),
      cwd: api.dataDir,
    });
    return { code, out, err };
  };
}

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);

const ENTRIES: TrackingEntry[] = [
  { at: T0, event: 'RECEIVE', queueId: 'Q1', messageId: 'one@example.com', sender: 'alice@example.net', recipients: ['bob@example.com', 'carol@example.com'], reply: '250 2.0.0 OK: queued as Q1' },
  { at: T0 + 1000, event: 'AGENT', queueId: 'Q1', agent: 'acme/greylist', agentEvent: 'onRoutedMessage', verdict: 'continue', ms: 1.5 },
  { at: T0 + 2000, event: 'DELIVER', queueId: 'Q1', recipients: ['bob@example.com'], nextHop: 'smtp:example.com', reply: '250 2.0.0 Ok\r\n' },
  { at: T0 + 3000, event: 'RECEIVE', queueId: 'Q2', messageId: 'two@example.com', sender: '', recipients: ['a@x.org', 'b@x.org', 'c@x.org', 'd@x.org'] },
  { at: T0 + 4000, event: 'DSN', queueId: 'Q2', detail: { action: 'failed', status: '5.1.1' } },
];

test('sluice track prints every step as an aligned table, oldest first', async () => {
  await withTrackingApi(async (api, tracking) => {
    for (const e of ENTRIES) tracking.append(e);
    const r = await track(api)();
    assert.equal(r.code, 0, r.err);
    assert.equal(
      r.out,
      [
        'TIME                  EVENT    QUEUE ID  SENDER → RECIPIENTS                                    NEXT HOP          REPLY',
        '2024-05-01T12:00:00Z  RECEIVE  Q1        alice@example.net → bob@example.com,carol@example.com  -                 250 2.0.0 OK: queued as Q1',
        '2024-05-01T12:00:01Z  AGENT    Q1        -                                                      -                 acme/greylist onRoutedMessage: continue (1.5 ms)',
        '2024-05-01T12:00:02Z  DELIVER  Q1        ? → bob@example.com                                    smtp:example.com  250 2.0.0 Ok',
        '2024-05-01T12:00:03Z  RECEIVE  Q2        <> → a@x.org,b@x.org,c@x.org +1                        -                 -',
        '2024-05-01T12:00:04Z  DSN      Q2        -                                                      -                 action=failed status=5.1.1',
        '',
      ].join('\n'),
    );
  });
});

test('sluice track filters by each option and says when older matches were left out', async () => {
  await withTrackingApi(async (api, tracking) => {
    const now = Date.now();
    for (const e of ENTRIES) tracking.append(e);
    tracking.append({ at: now - 3 * 3_600_000, event: 'DEFER', queueId: 'Q3', recipients: ['bob@example.com'], reply: '451 4.7.1 later' });
    tracking.append({ at: now - 60_000, event: 'DELIVER', queueId: 'Q3', recipients: ['bob@example.com'], reply: '250 ok' });
    const run = track(api);
    const queueIds = async (...argv: string[]): Promise<string[]> => {
      const r = await run(...argv, '--json');
      assert.equal(r.code, 0, `${argv.join(' ')}: ${r.err}`);
      return (JSON.parse(r.out) as { entries: TrackingEntry[] }).entries.map((e) => `${e.queueId}:${e.event}`);
    };
    assert.deepEqual(await queueIds('--message-id', '<two@example.com>'), ['Q2:RECEIVE']);
    assert.deepEqual(await queueIds('--sender', 'alice@Example.NET'), ['Q1:RECEIVE']);
    assert.deepEqual(await queueIds('--sender', ''), ['Q2:RECEIVE'], 'the null sender');
    assert.deepEqual(await queueIds('--sender', '<>'), ['Q2:RECEIVE']);
    assert.deepEqual(await queueIds('--recipient', 'bob@example.com'), ['Q1:RECEIVE', 'Q1:DELIVER', 'Q3:DEFER', 'Q3:DELIVER']);
    assert.deepEqual(await queueIds('--queue-id', 'Q1', '--event', 'deliver'), ['Q1:DELIVER']);
    assert.deepEqual(await queueIds('--since', '2h'), ['Q3:DELIVER']);
    assert.deepEqual(await queueIds('--since', '4h', '--until', '1h'), ['Q3:DEFER']);
    assert.deepEqual(await queueIds('--since', '2024-05-01T12:00:03Z', '--until', String(T0 + 4000)), ['Q2:RECEIVE', 'Q2:DSN']);

    const limited = await run('--limit', '2');
    assert.equal(limited.code, 0);
    assert.match(limited.out, /^TIME +EVENT/);
    assert.match(limited.out, /Q3 .*451 4\.7\.1 later\n.*Q3 .*250 ok\n\(the newest 2 shown; older entries matched too: narrow the search or raise --limit\)\n$/);
    assert.equal(JSON.parse((await run('--limit', '2', '--json')).out).truncated, true);
    assert.equal((await run('--queue-id', 'nothing')).out, 'no matching tracking entries\n');
  });
});

test('sluice track: usage mistakes exit 2 before the API; refusals exit 1 with the field; --help prints usage', async () => {
  await withTrackingApi(async (api) => {
    const run = track(api);
    const usage: [string[], RegExp][] = [
      [['--limit', '0'], /--limit "0": expected a whole number from 1 to 1000/],
      [['--limit', '5000'], /--limit "5000"/],
      [['--since', 'yesterday'], /--since "yesterday": expected a duration such as 2h/],
      [['--until', '2024-05-01T10:00'], /--until "2024-05-01T10:00": .*with a zone/],
      [['--event', 'shipped'], /--event "shipped": expected one of RECEIVE, AGENT/],
      [['--since', '1h', '--until', '2h'], /--until is before --since/],
      [['Q1'], /takes options only, not "Q1"/],
      [['--grant', 'kv'], /Unknown option '--grant'/],
    ];
    for (const [argv, message] of usage) {
      const r = await run(...argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.match(r.err, message, argv.join(' '));
      assert.equal(r.out, '');
    }
    const refused = await run('--queue-id', 'not a queue id');
    assert.equal(refused.code, 1);
    assert.match(refused.err, /^sluice: Invalid query parameter: queueId: expected a queue id/);
    assert.match(refused.err, /^ {2}field queueId: /m);
    const help = await run('--help');
    assert.equal(help.code, 0);
    assert.match(help.out, /^Usage: sluice track \[options\]/);
  });
  await withTrackingApi(
    async (api) => {
      const r = await track(api)();
      assert.equal(r.code, 1);
      assert.match(r.err, /message tracking is not running on this server/);
    },
    { tracking: false },
  );
});
