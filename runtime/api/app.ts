/** The management API's routes (hono). This first cut serves health; the agents and queue resources build on it. */
import { Hono } from 'hono';

export interface HealthSource {
  version: string;
  startedAt: number;
  smtp: { listen: string; connections(): number };
  queue(): { messages: number; bytes: number };
}

export function createApiApp(source: HealthSource): Hono {
  const app = new Hono();
  app.get('/health', (c) =>
    c.json({
      status: 'ok',
      version: source.version,
      uptimeSeconds: Math.round((Date.now() - source.startedAt) / 1000),
      smtp: { listen: source.smtp.listen, connections: source.smtp.connections() },
      queue: source.queue(),
    }),
  );
  app.notFound((c) =>
    c.json({ type: 'about:blank', title: 'Not Found', status: 404, detail: `no route for ${c.req.method} ${c.req.path}` }, 404, {
      'content-type': 'application/problem+json',
    }),
  );
  return app;
}
