import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withTestServer } from '../testing/test-server.ts';

test('GET /health reports status, the SMTP listener and the queue, on loopback', async () => {
  await withTestServer(
    async (s) => {
      assert.ok(s.api, 'API started');
      assert.equal(s.api.host, '127.0.0.1');
      const res = await fetch(`http://127.0.0.1:${s.api.port}/health`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(body.status, 'ok');
      assert.deepEqual(body.smtp, { listen: `127.0.0.1:${s.port}`, connections: 0 });
      assert.deepEqual(body.queue, { messages: 0, bytes: 0 });
    },
    { api: { enabled: true, listen: '127.0.0.1:0' } },
  );
});

test('an unknown route is a problem+json 404 that names it', async () => {
  await withTestServer(
    async (s) => {
      const res = await fetch(`http://127.0.0.1:${s.api!.port}/nope`);
      assert.equal(res.status, 404);
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      const body = (await res.json()) as { detail: string };
      assert.equal(body.detail, 'no route for GET /nope');
    },
    { api: { enabled: true, listen: '127.0.0.1:0' } },
  );
});
