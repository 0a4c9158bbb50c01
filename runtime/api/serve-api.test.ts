import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadTlsMaterial } from '../smtp/tls-material.ts';
import { startTestApi } from './api-test-kit.ts';

function httpsGet(url: string, ca: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, servername: 'localhost', headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('with api.tls the API serves HTTPS with that certificate', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-api-tls-'));
  try {
    const material = await loadTlsMaterial(dir, 'localhost');
    const cert = material.certFile;
    const api = await startTestApi({ tls: { cert, key: path.join(path.dirname(cert), 'self-signed.key') } });
    try {
      assert.match(api.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const res = await httpsGet(`${api.url}/v1/agents`, await readFile(cert, 'utf8'), api.adminToken);
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body), { agents: [] });
    } finally {
      await api.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
