/** The trusted vendor keys resource: list, add, remove, revoke. Every change re-checks the installed agents (`trustChanged`). */
import type { AgentAdmin } from '../agents/registry-types.ts';
import type { TrustStore } from '../agents/trust-store.ts';
import { AddKeyBodySchema, EmptyBodySchema, KeyListSchema, KeyParamsSchema, KeySchema } from './api-schemas.ts';
import { defineRoute, jsonBody, type ApiRoute } from './route.ts';

const TAG = 'keys';

/** The parts of the trust store the API uses. */
export type TrustAdmin = Pick<TrustStore, 'list' | 'addKey' | 'removeKey' | 'revokeKey'>;

export function keyRoutes(trust: TrustAdmin, admin: Pick<AgentAdmin, 'trustChanged'>): ApiRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/keys',
      summary: 'Trusted vendor keys',
      tag: TAG,
      access: 'read',
      responses: { 200: { description: 'the keys', schema: KeyListSchema } },
      handle: () => ({ status: 200, json: { keys: trust.list() } }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/keys',
      summary: 'Trust a vendor public key for the given vendor names',
      tag: TAG,
      access: 'admin',
      action: 'keys.add',
      body: jsonBody(AddKeyBodySchema),
      responses: { 201: { description: 'the key, now trusted', schema: KeySchema } },
      handle: async ({ body, audit }) => {
        const key = await trust.addKey(body);
        audit.target(key.keyId);
        audit.details({ vendors: key.vendors.join(',') });
        await admin.trustChanged();
        return { status: 201, json: key, headers: { location: `/v1/keys/${key.keyId}` } };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/keys/:keyId',
      summary: 'Forget a key; agents it signed stop running',
      tag: TAG,
      access: 'admin',
      action: 'keys.remove',
      params: KeyParamsSchema,
      body: jsonBody(EmptyBodySchema, { optional: true }),
      responses: { 204: { description: 'removed' } },
      handle: async ({ params, audit }) => {
        audit.target(params.keyId);
        await trust.removeKey(params.keyId);
        await admin.trustChanged();
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/keys/:keyId/revoke',
      summary: 'Revoke a key but keep it, so bundles it signed are refused by name; agents it signed stop running',
      tag: TAG,
      access: 'admin',
      action: 'keys.revoke',
      params: KeyParamsSchema,
      body: jsonBody(EmptyBodySchema, { optional: true }),
      responses: { 200: { description: 'the key, revoked', schema: KeySchema } },
      handle: async ({ params, audit }) => {
        audit.target(params.keyId);
        const key = await trust.revokeKey(params.keyId);
        await admin.trustChanged();
        return { status: 200, json: key };
      },
    }),
  ];
}
