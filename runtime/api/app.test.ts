import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
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

/** A raw GET with an explicit Host header (fetch may not set one). */
function getWithHost(port: number, path: string, host: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('on loopback the API answers only to loopback host names (DNS rebinding) and sends secure headers', async () => {
  await withTestServer(
    async (s) => {
      const port = s.api!.port;
      const good = await getWithHost(port, '/health', `localhost:${port}`);
      assert.equal(good.status, 200);
      assert.equal(good.headers['x-content-type-options'], 'nosniff');
      assert.equal(good.headers['x-frame-options'], 'SAMEORIGIN');
      assert.equal((await getWithHost(port, '/health', `127.0.0.1:${port}`)).status, 200);
      const rebound = await getWithHost(port, '/health', `attacker.example:${port}`);
      assert.equal(rebound.status, 421);
      const problem = JSON.parse(rebound.body) as { field: string; detail: string };
      assert.equal(problem.field, 'host');
      assert.match(problem.detail, /not to host "attacker\.example"/);
    },
    { api: { enabled: true, listen: '127.0.0.1:0' } },
  );
});
