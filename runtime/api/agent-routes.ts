/** The agents resource: install (bundle upload), list, show, enable, disable, priority, config, policy, breaker reset, stats, uninstall. */
import type * as v from 'valibot';
import type { AgentAdmin, AgentInfo } from '../agents/registry-types.ts';
import {
  AgentInfoSchema,
  AgentListSchema,
  AgentParamsSchema,
  AgentStatsSchema,
  ConfigBodySchema,
  EmptyBodySchema,
  EnableBodySchema,
  InstallQuerySchema,
  InstallResultSchema,
  PolicyBodySchema,
  PriorityBodySchema,
} from './api-schemas.ts';
import { ApiProblem } from './problem.ts';
import { defineRoute, jsonBody, type ApiRoute } from './route.ts';

const TAG = 'agents';
const ITEM = '/v1/agents/:vendor/:agent';
const nameOf = (p: { vendor: string; agent: string }): string => `${p.vendor}/${p.agent}`;
const ok = (json: unknown) => ({ status: 200, json });

export function agentRoutes(admin: AgentAdmin): ApiRoute[] {
  /** A change to one agent that answers with its new state. */
  const change = <S extends v.GenericSchema<unknown, unknown>>(spec: {
    method: 'post' | 'put';
    suffix: string;
    action: string;
    summary: string;
    body: S;
    optional?: boolean;
    run: (name: string, body: v.InferOutput<S>) => Promise<AgentInfo>;
  }): ApiRoute =>
    defineRoute({
      method: spec.method,
      path: `${ITEM}/${spec.suffix}`,
      summary: spec.summary,
      tag: TAG,
      access: 'admin',
      action: spec.action,
      params: AgentParamsSchema,
      body: jsonBody(spec.body, { optional: spec.optional ?? false }),
      responses: { 200: { description: 'the agent after the change', schema: AgentInfoSchema } },
      handle: async ({ params, body, audit }) => {
        const name = nameOf(params);
        audit.target(name);
        return ok(await spec.run(name, body as v.InferOutput<S>));
      },
    });

  return [
    defineRoute({
      method: 'post',
      path: '/v1/agents',
      summary: 'Install or upgrade an agent from a signed bundle (a new agent is installed disabled)',
      tag: TAG,
      access: 'admin',
      action: 'agents.install',
      query: InstallQuerySchema,
      body: { kind: 'bundle' },
      responses: {
        201: { description: 'installed (disabled until enabled)', schema: InstallResultSchema },
        200: { description: 'upgraded, force-downgraded, or already installed (noop)', schema: InstallResultSchema },
      },
      handle: async ({ query, body, audit }) => {
        const force = query.force ?? false;
        audit.details({ bytes: body.byteLength, force });
        const result = await admin.install(body, { force });
        audit.target(result.agent.name);
        audit.details({ version: result.agent.version, result: result.action });
        const location = `/v1/agents/${result.agent.name}`;
        return { status: result.action === 'install' ? 201 : 200, json: result, headers: { location } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/agents',
      summary: 'Installed agents, in the order they run (priority, then name)',
      tag: TAG,
      access: 'read',
      responses: { 200: { description: 'the agents', schema: AgentListSchema } },
      handle: () => ok({ agents: admin.list() }),
    }),
    defineRoute({
      method: 'get',
      path: ITEM,
      summary: 'One agent: manifest, settings, breaker, why it is blocked',
      tag: TAG,
      access: 'read',
      params: AgentParamsSchema,
      responses: { 200: { description: 'the agent', schema: AgentInfoSchema } },
      handle: ({ params }) => {
        const agent = admin.get(nameOf(params));
        if (agent === undefined) throw new ApiProblem(404, 'NOT_FOUND', `no agent named ${nameOf(params)} is installed`);
        return ok(agent);
      },
    }),
    change({
      method: 'post',
      suffix: 'enable',
      action: 'agents.enable',
      summary: 'Enable an agent, granting capabilities (a subset of what it requests) and fetch origins',
      body: EnableBodySchema,
      optional: true,
      run: (name, grant) => admin.enable(name, grant),
    }),
    change({
      method: 'post',
      suffix: 'disable',
      action: 'agents.disable',
      summary: 'Disable an agent',
      body: EmptyBodySchema,
      optional: true,
      run: (name) => admin.disable(name),
    }),
    change({
      method: 'put',
      suffix: 'priority',
      action: 'agents.priority',
      summary: 'Set where an agent runs among its kind (lower first)',
      body: PriorityBodySchema,
      run: (name, body) => admin.setPriority(name, body.priority),
    }),
    change({
      method: 'put',
      suffix: 'config',
      action: 'agents.config',
      summary: "Replace an agent's configuration (checked against its manifest's configSchema)",
      body: ConfigBodySchema,
      run: (name, body) => admin.setConfig(name, body.config),
    }),
    change({
      method: 'put',
      suffix: 'policy',
      action: 'agents.policy',
      summary: "Lower an agent's per-event budgets and/or set its failure policy",
      body: PolicyBodySchema,
      run: (name, body) => admin.setPolicy(name, body),
    }),
    change({
      method: 'post',
      suffix: 'breaker/reset',
      action: 'agents.breaker-reset',
      summary: "Close an agent's open breaker now",
      body: EmptyBodySchema,
      optional: true,
      run: (name) => admin.resetBreaker(name),
    }),
    defineRoute({
      method: 'get',
      path: `${ITEM}/stats`,
      summary: 'Per-event call counts, latency quantiles, timeouts, errors, crashes and verdicts',
      tag: TAG,
      access: 'read',
      params: AgentParamsSchema,
      responses: { 200: { description: 'the statistics', schema: AgentStatsSchema } },
      handle: ({ params }) => ok(admin.stats(nameOf(params))),
    }),
    defineRoute({
      method: 'delete',
      path: ITEM,
      summary: 'Uninstall an agent',
      tag: TAG,
      access: 'admin',
      action: 'agents.uninstall',
      params: AgentParamsSchema,
      body: jsonBody(EmptyBodySchema, { optional: true }),
      responses: { 204: { description: 'uninstalled' } },
      handle: async ({ params, audit }) => {
        audit.target(nameOf(params));
        await admin.uninstall(nameOf(params));
        return { status: 204 };
      },
    }),
  ];
}
