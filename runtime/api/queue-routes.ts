/**
 * The queues and messages resources: queues by next hop with their state, the messages in each, one
 * message with its per-recipient status and tracking history, its raw bytes, and the admin's changes
 * (retry now, suspend, resume, release a held message, delete with or without a non-delivery report).
 */
import * as v from 'valibot';
import type { QueueAdmin } from '../pipeline/queue-admin.ts';
import { MAX_TRACKING_LIMIT } from '../tracking/tracking-query.ts';
import { EmptyBodySchema } from './api-schemas.ts';
import { ApiProblem } from './problem.ts';
import {
  DeleteQuerySchema,
  MessageDetailSchema,
  MessageParamsSchema,
  QueueIdSchema,
  QueueListSchema,
  QueueMessagesQuerySchema,
  QueueMessagesSchema,
  QueueNameSchema,
  QueueParamsSchema,
  QueueSummarySchema,
  RetriedSchema,
  type MessageWithTracking,
} from './queue-schemas.ts';
import { defineRoute, jsonBody, type ApiRoute } from './route.ts';
import type { TrackingSource } from './tracking-routes.ts';

/** What the routes need from the server's queue administration. */
export type QueueSource = Pick<QueueAdmin, 'queues' | 'messages' | 'message' | 'raw' | 'retry' | 'retryQueue' | 'suspend' | 'resume' | 'release' | 'delete'>;

const TAG = 'queues';
const QUEUE = '/v1/queues/:queue';
const MESSAGE = '/v1/messages/:id';
const ok = (json: unknown) => ({ status: 200, json });
const noBody = () => jsonBody(EmptyBodySchema, { optional: true });
const UNAVAILABLE = { description: 'the queue is not available on this server' };
const BUSY = { description: 'the message is being worked on (BUSY, with Retry-After), or it is (not) held as the action needs (NOT_HELD)' };

/** A path parameter checked with its schema: a malformed one is a 400 that names it. */
function checked(field: 'id' | 'queue', schema: v.GenericSchema<string, string>, value: string): string {
  const result = v.safeParse(schema, value);
  if (result.success) return result.output;
  const message = result.issues[0].message;
  throw new ApiProblem(400, field === 'id' ? 'INVALID_ID' : 'INVALID_QUEUE', `${field}: ${message}`, { title: 'Invalid path parameter', errors: [{ field, message }] });
}

export function queueRoutes(queue: QueueSource | undefined, tracking: TrackingSource | undefined): ApiRoute[] {
  const admin = (): QueueSource => {
    if (queue === undefined) throw new ApiProblem(503, 'QUEUE_UNAVAILABLE', 'the queue is not available on this server');
    return queue;
  };
  const queueName = (p: { queue: string }): string => checked('queue', QueueNameSchema, p.queue);
  const messageId = (p: { id: string }): string => checked('id', QueueIdSchema, p.id);

  return [
    defineRoute({
      method: 'get',
      path: '/v1/queues',
      summary: 'The queues: submission, each next hop (connector:destination), poison and quarantine, with counts, state and next retry',
      tag: TAG,
      access: 'read',
      responses: { 200: { description: 'the queues that hold messages, and suspended or down ones', schema: QueueListSchema }, 503: UNAVAILABLE },
      handle: () => ok({ queues: admin().queues() }),
    }),
    defineRoute({
      method: 'get',
      path: `${QUEUE}/messages`,
      summary: 'The messages in a queue, oldest first',
      tag: TAG,
      access: 'read',
      params: QueueParamsSchema,
      query: QueueMessagesQuerySchema,
      responses: { 200: { description: '`total` in the queue and the page asked for', schema: QueueMessagesSchema }, 503: UNAVAILABLE },
      handle: ({ params, query }) => ok(admin().messages(queueName(params), query.limit, query.offset)),
    }),
    defineRoute({
      method: 'post',
      path: `${QUEUE}/retry`,
      summary: 'Make every message waiting in a queue due now (held messages excepted)',
      tag: TAG,
      access: 'admin',
      action: 'queues.retry',
      params: QueueParamsSchema,
      body: noBody(),
      responses: { 200: { description: 'how many messages became due', schema: RetriedSchema }, 503: UNAVAILABLE },
      handle: async ({ params, audit }) => {
        const name = queueName(params);
        audit.target(name);
        const retried = await admin().retryQueue(name);
        audit.details({ retried });
        return ok({ retried });
      },
    }),
    defineRoute({
      method: 'post',
      path: `${QUEUE}/suspend`,
      summary: 'Suspend delivery to a next hop (kept across restarts); its messages wait until it is resumed',
      tag: TAG,
      access: 'admin',
      action: 'queues.suspend',
      params: QueueParamsSchema,
      body: noBody(),
      responses: {
        200: { description: 'the queue, now suspended', schema: QueueSummarySchema },
        400: { description: 'not a delivery queue (NO_SUCH_QUEUE, field queue)' },
        503: UNAVAILABLE,
      },
      handle: async ({ params, audit }) => {
        const name = queueName(params);
        audit.target(name);
        const q = admin();
        await q.suspend(name);
        const summary = q.queues().find((s) => s.queue === name);
        if (summary === undefined) throw new Error(`queue ${name} was suspended but is not listed`);
        return ok(summary);
      },
    }),
    defineRoute({
      method: 'post',
      path: `${QUEUE}/resume`,
      summary: "Lift a next hop's suspension; its messages are tried again at once",
      tag: TAG,
      access: 'admin',
      action: 'queues.resume',
      params: QueueParamsSchema,
      body: noBody(),
      responses: {
        200: { description: 'how many messages became due', schema: RetriedSchema },
        400: { description: 'not a delivery queue (NO_SUCH_QUEUE, field queue)' },
        503: UNAVAILABLE,
      },
      handle: async ({ params, audit }) => {
        const name = queueName(params);
        audit.target(name);
        const retried = await admin().resume(name);
        audit.details({ retried });
        return ok({ retried });
      },
    }),
    defineRoute({
      method: 'get',
      path: MESSAGE,
      summary: 'One message: envelope, client, per-recipient status and next hop, hold, and its tracking history',
      tag: TAG,
      access: 'read',
      params: MessageParamsSchema,
      responses: { 200: { description: 'the message', schema: MessageDetailSchema }, 400: { description: 'a malformed id (field id)' }, 503: UNAVAILABLE },
      handle: async ({ params }) => {
        const id = messageId(params);
        const detail = admin().message(id);
        const history = tracking === undefined ? null : (await tracking.find({ queueId: id, limit: MAX_TRACKING_LIMIT })).entries;
        return ok({ ...detail, tracking: history } satisfies MessageWithTracking);
      },
    }),
    defineRoute({
      method: 'get',
      path: `${MESSAGE}/raw`,
      summary: 'The message as stored (trace header included), as a message/rfc822 download',
      tag: TAG,
      access: 'read',
      params: MessageParamsSchema,
      responses: { 200: { description: 'the message bytes', contentType: 'message/rfc822' }, 400: { description: 'a malformed id (field id)' }, 503: UNAVAILABLE },
      handle: async ({ params }) => {
        const id = messageId(params);
        const bytes = await admin().raw(id);
        return new Response(bytes as Uint8Array<ArrayBuffer>, {
          status: 200,
          headers: { 'content-type': 'message/rfc822', 'content-disposition': `attachment; filename="${id}.eml"`, 'content-length': String(bytes.byteLength) },
        });
      },
    }),
    defineRoute({
      method: 'post',
      path: `${MESSAGE}/retry`,
      summary: 'Make a waiting message due now (a held one must be released instead)',
      tag: TAG,
      access: 'admin',
      action: 'messages.retry',
      params: MessageParamsSchema,
      body: noBody(),
      responses: { 204: { description: 'due now' }, 409: BUSY, 503: UNAVAILABLE },
      handle: async ({ params, audit }) => {
        const id = messageId(params);
        audit.target(id);
        await admin().retry(id);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'post',
      path: `${MESSAGE}/release`,
      summary: 'Release a poison or quarantined message into the pipeline again',
      tag: TAG,
      access: 'admin',
      action: 'messages.release',
      params: MessageParamsSchema,
      body: noBody(),
      responses: { 204: { description: 'released' }, 409: BUSY, 503: UNAVAILABLE },
      handle: async ({ params, audit }) => {
        const id = messageId(params);
        audit.target(id);
        await admin().release(id);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'delete',
      path: MESSAGE,
      summary: 'Delete a message; with ndr=true its undelivered recipients get a non-delivery report first (default false: no report)',
      tag: TAG,
      access: 'admin',
      action: 'messages.delete',
      params: MessageParamsSchema,
      query: DeleteQuerySchema,
      body: noBody(),
      responses: { 204: { description: 'deleted' }, 409: BUSY, 503: { description: 'the queue is not available, or the spool failed (SPOOL)' } },
      handle: async ({ params, query, audit }) => {
        const id = messageId(params);
        audit.target(id);
        audit.details({ ndr: query.ndr });
        await admin().delete(id, query.ndr);
        return { status: 204 };
      },
    }),
  ];
}
