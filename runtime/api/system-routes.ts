/** Health (public), the sandbox driver, Prometheus metrics, and the OpenAPI document. */
import type { AgentAdmin } from '../agents/registry-types.ts';
import { DriverSchema, HealthSchema } from './api-schemas.ts';
import { buildOpenApi } from './openapi.ts';
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from './prometheus-text.ts';
import { defineRoute, type ApiRoute } from './route.ts';

/** What the server reports about itself: version, uptime, SMTP connections, queue size. */
export interface HealthSource {
  version: string;
  startedAt: number;
  smtp: { listen: string; connections(): number };
  queue(): { messages: number; bytes: number };
}

function health(source: HealthSource): Record<string, unknown> {
  return {
    status: 'ok',
    version: source.version,
    uptimeSeconds: Math.round((Date.now() - source.startedAt) / 1000),
    smtp: { listen: source.smtp.listen, connections: source.smtp.connections() },
    queue: source.queue(),
  };
}

export function healthRoutes(source: HealthSource): ApiRoute[] {
  return ['/health', '/v1/health'].map((path) =>
    defineRoute({
      method: 'get',
      path,
      summary: 'Liveness: version, uptime, SMTP connections, queue size (no token needed)',
      tag: 'system',
      access: 'public',
      responses: { 200: { description: 'the server is up', schema: HealthSchema } },
      handle: () => ({ status: 200, json: health(source) }),
    }),
  );
}

export function managementSystemRoutes(source: HealthSource, admin: AgentAdmin, allRoutes: () => readonly ApiRoute[]): ApiRoute[] {
  let openApi: string | undefined;
  return [
    defineRoute({
      method: 'get',
      path: '/v1/driver',
      summary: 'The sandbox driver that runs agents, what it guarantees, and whether development mode accepts unsigned bundles',
      tag: 'system',
      access: 'read',
      responses: { 200: { description: 'the driver', schema: DriverSchema } },
      handle: () => ({ status: 200, json: { ...admin.driver(), devMode: admin.devMode } }),
    }),
    defineRoute({
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus text exposition (0.0.4): per-agent calls, latency, timeouts, errors, crashes, breakers; connections and queue',
      tag: 'system',
      access: 'read',
      responses: { 200: { description: 'the metrics', contentType: PROMETHEUS_CONTENT_TYPE } },
      handle: () => {
        const agents = admin.list().map((info) => ({ info, stats: admin.stats(info.name) }));
        const body = renderMetrics({
          version: source.version,
          uptimeSeconds: Math.round((Date.now() - source.startedAt) / 1000),
          smtpConnections: source.smtp.connections(),
          queue: source.queue(),
          agents,
          sandbox: admin.sandboxStats(),
        });
        return new Response(body, { status: 200, headers: { 'content-type': PROMETHEUS_CONTENT_TYPE } });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/openapi.json',
      summary: 'This API described as OpenAPI 3.1',
      tag: 'system',
      access: 'public',
      responses: { 200: { description: 'the OpenAPI document' } },
      handle: () => {
        openApi ??= JSON.stringify(buildOpenApi(allRoutes(), { version: source.version }));
        return new Response(openApi, { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' } });
      },
    }),
  ];
}
