/**
 * Typed entry points for agent authors: an agent module default-exports the result of one of these,
 * and `sluice-agent build` makes it the bundle's agent. Every handler is called as
 * `handler(event, ctx)`; `ctx` (see `context.ts`) carries the agent's config, log and granted capabilities.
 */
import type { AgentContext } from './context.ts';
import type { DeliveryEvents, ReceiveEvents, RoutingEvents } from './event-payloads.ts';
import type { DeliveryResult, ReceiveVerdict, RoutingVerdict } from './verdict-schema.ts';

/** What opening or closing a delivery connection may answer: go on, or refuse for now. */
export type ConnectionVerdict = Extract<ReceiveVerdict, { verdict: 'continue' | 'tempfail' }>;

type Awaitable<T> = T | Promise<T>;

/** Observers (onReject, onDisconnect) cannot change anything; every other receive handler may. */
type ReceiveObserver = 'onReject' | 'onDisconnect';

/**
 * Receive handlers: return a verdict, or nothing to continue. `Config` types `ctx.config`.
 * @example
 * const h: ReceiveHandlers = { onRcptTo: (e, ctx) => (e.recipient.endsWith('@example.com') ? undefined : reject(550, '5.7.1', 'no')) };
 */
export type ReceiveHandlers<Config = unknown> = {
  [K in keyof ReceiveEvents]?: K extends ReceiveObserver
    ? (event: ReceiveEvents[K], ctx: AgentContext<Config>) => Awaitable<void>
    : (event: ReceiveEvents[K], ctx: AgentContext<Config>) => Awaitable<ReceiveVerdict | void>;
};

/**
 * Routing handlers: return a verdict, or nothing to continue unchanged. `Config` types `ctx.config`.
 * @example
 * const h: RoutingHandlers = { onRoutedMessage: (e, ctx) => (e.message.size > 5e7 ? quarantine('too large') : undefined) };
 */
export type RoutingHandlers<Config = unknown> = {
  [K in keyof RoutingEvents]?: (event: RoutingEvents[K], ctx: AgentContext<Config>) => Awaitable<RoutingVerdict | void>;
};

/**
 * Delivery handlers: `onDeliverMailItem` must acknowledge every recipient of the item. `Config` types `ctx.config`.
 * @example
 * const h: DeliveryHandlers = { onDeliverMailItem: (e, ctx) => acks(...e.item.recipients.map((r) => delivered(r.address))) };
 */
export type DeliveryHandlers<Config = unknown> = {
  /** May refuse the connection for now: every item is deferred with the tempfail's reply. */
  onOpenConnection?: (event: DeliveryEvents['onOpenConnection'], ctx: AgentContext<Config>) => Awaitable<ConnectionVerdict | void>;
  onDeliverMailItem: (event: DeliveryEvents['onDeliverMailItem'], ctx: AgentContext<Config>) => Awaitable<DeliveryResult>;
  onCloseConnection?: (event: DeliveryEvents['onCloseConnection'], ctx: AgentContext<Config>) => Awaitable<ConnectionVerdict | void>;
};

/**
 * What `defineReceiveAgent`, `defineRoutingAgent` and `defineDeliveryAgent` return.
 * @example
 * const definition: AgentDefinition = defineReceiveAgent({ onConnect: () => undefined });
 */
export type AgentDefinition<Config = unknown> =
  | { kind: 'receive'; handlers: ReceiveHandlers<Config> }
  | { kind: 'routing'; handlers: RoutingHandlers<Config> }
  | { kind: 'delivery'; handlers: DeliveryHandlers<Config> };

/**
 * Defines an SMTP Receive agent. `Config` types `ctx.config`.
 * @example
 * import { defineReceiveAgent, reject } from 'sluice/sdk';
 * export default defineReceiveAgent<{ domain: string }>({
 *   onRcptTo(event, ctx) {
 *     if (!event.recipient.endsWith('@' + ctx.config.domain)) return reject(550, '5.7.1', 'Recipient not allowed');
 *   },
 * });
 */
export function defineReceiveAgent<Config = unknown>(handlers: ReceiveHandlers<Config>): Extract<AgentDefinition<Config>, { kind: 'receive' }> {
  return { kind: 'receive', handlers };
}

/**
 * Defines a Routing agent (categorizer events). `Config` types `ctx.config`.
 * @example
 * export default defineRoutingAgent({ onSubmittedMessage: (e, ctx) => proceed({ headers: [addHeader('X-Seen', '1')] }) });
 */
export function defineRoutingAgent<Config = unknown>(handlers: RoutingHandlers<Config>): Extract<AgentDefinition<Config>, { kind: 'routing' }> {
  return { kind: 'routing', handlers };
}

/**
 * Defines a Delivery agent for a foreign system. `Config` types `ctx.config`.
 * @example
 * export default defineDeliveryAgent({ onDeliverMailItem: (e, ctx) => acks(...e.item.recipients.map((r) => delivered(r.address))) });
 */
export function defineDeliveryAgent<Config = unknown>(handlers: DeliveryHandlers<Config>): Extract<AgentDefinition<Config>, { kind: 'delivery' }> {
  return { kind: 'delivery', handlers };
}
