/**
 * The management API's hono app: health always; with `management` deps, the agents, keys, tokens,
 * tracking, queues, driver, metrics and OpenAPI resources behind bearer tokens, every change written to the audit log.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import type { AgentAdmin } from '../agents/registry-types.ts';
import type { LogFn } from '../log/logger.ts';
import { agentRoutes } from './agent-routes.ts';
import type { AuditLog } from './audit-log.ts';
import { problemFor } from './error-mapping.ts';
import { keyRoutes, type TrustAdmin } from './key-routes.ts';
import { ApiProblem, problemResponse } from './problem.ts';
import { queueRoutes, type QueueSource } from './queue-routes.ts';
import { auditStep, gateStep, handlerStep, sizeStep, type ApiEnv } from './request-pipeline.ts';
import type { ApiRoute } from './route.ts';
import { healthRoutes, managementSystemRoutes, type HealthSource } from './system-routes.ts';
import { tokenRoutes } from './token-routes.ts';
import type { TokenStore } from './token-store.ts';
import { trackingRoutes, type TrackingSource } from './tracking-routes.ts';

export type { HealthSource } from './system-routes.ts';

export const DEFAULT_MAX_BUNDLE_BYTES = 16 * 1024 * 1024;

/** What the agents, keys and tokens resources need from the server. */
export interface ManagementDeps {
  /** The agent registry. */
  admin: AgentAdmin;
  /** The trusted vendor keys (the registry's trust store). */
  trust: TrustAdmin;
  tokens: TokenStore;
  audit: AuditLog;
  /** `config.api.maxBundleBytes`; 16 MiB when absent. */
  maxBundleBytes?: number;
  /** Where unexpected (500) errors are logged. */
  log?: LogFn;
  /** The message tracking log; without it `GET /v1/tracking` answers 503. */
  tracking?: TrackingSource;
  /** The queue administration; without it the queue and message routes answer 503. */
  queue?: QueueSource;
}

export interface ApiDeps extends HealthSource {
  /** Without it the API serves health only. */
  management?: ManagementDeps;
  /**
   * Host names (without port) the API answers to; others get 421. The server sets the loopback
   * names when it listens on loopback, so a DNS-rebound page cannot reach the API by another name.
   */
  allowedHosts?: readonly string[];
}

/** The host name of a Host header (`name:port`, `[v6]:port`), lower case. */
function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/** Every route the app serves, in registration order. */
export function apiRoutes(deps: ApiDeps): ApiRoute[] {
  const routes: ApiRoute[] = healthRoutes(deps);
  const m = deps.management;
  if (m !== undefined) {
    routes.push(
      ...agentRoutes(m.admin),
      ...keyRoutes(m.trust, m.admin),
      ...tokenRoutes(m.tokens),
      ...trackingRoutes(m.tracking),
      ...queueRoutes(m.queue, m.tracking),
      ...managementSystemRoutes(deps, m.admin, () => routes),
    );
  }
  return routes;
}

export function createApiApp(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const m = deps.management;
  app.use('*', secureHeaders());
  const allowed = deps.allowedHosts && new Set(deps.allowedHosts.map((h) => h.toLowerCase()));
  if (allowed !== undefined) {
    app.use('*', async (c, next) => {
      const host = hostName(c.req.header('host') ?? '');
      if (!allowed.has(host)) {
        return problemResponse(new ApiProblem(421, 'MISDIRECTED', `this API answers to ${[...allowed].join(', ')}, not to host "${host}"`, { field: 'host' }));
      }
      await next();
    });
  }
  for (const route of apiRoutes(deps)) {
    const steps: MiddlewareHandler<ApiEnv>[] = [];
    if (route.action !== undefined && m !== undefined) steps.push(auditStep(route, m.audit));
    steps.push(gateStep(route, m?.tokens));
    if (route.body !== undefined) steps.push(sizeStep(route, m?.maxBundleBytes ?? DEFAULT_MAX_BUNDLE_BYTES));
    // hono's typed overloads have fixed arity; a route's steps vary in number.
    const on = app.on.bind(app) as (method: string, path: string, ...handlers: MiddlewareHandler<ApiEnv>[]) => unknown;
    on(route.method.toUpperCase(), route.path, ...steps, handlerStep(route));
  }
  app.notFound((c) => problemResponse(new ApiProblem(404, 'NO_ROUTE', `no route for ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => {
    const problem =
      error instanceof HTTPException && !(error instanceof ApiProblem)
        ? new ApiProblem(error.status, `HTTP_${error.status}`, error.message || 'the request could not be handled')
        : problemFor(error);
    if (problem.status >= 500) {
      m?.log?.('error', 'api.error', { method: c.req.method, path: c.req.path, code: problem.code, error: String((error as Error).stack ?? error) });
    }
    return problemResponse(problem);
  });
  return app;
}
