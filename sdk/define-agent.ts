/**
 * Typed entry points for agent authors: an agent module default-exports the result of one of these,
 * and `sluice-agent build` makes it the bundle's agent.
 */
import type { DeliveryEvents, ReceiveEvents, RoutingEvents } from './event-payloads.ts';
import type { DeliveryResult, ReceiveVerdict, RoutingVerdict } from './verdict-schema.ts';

type Awaitable<T> = T | Promise<T>;

/** Observers (onReject, onDisconnect) cannot change anything; every other receive handler may. */
type ReceiveObserver = 'onReject' | 'onDisconnect';

/**
 * Receive handlers: return a verdict, or nothing to continue.
 * @example
 * const h: ReceiveHandlers = { onRcptTo: (e) => (e.recipient.endsWith('@example.com') ? undefined : reject(550, '5.7.1', 'no')) };
 */
export type ReceiveHandlers = {
  [K in keyof ReceiveEvents]?: K extends ReceiveObserver ? (event: ReceiveEvents[K]) => Awaitable<void> : (event: ReceiveEvents[K]) => Awaitable<ReceiveVerdict | void>;
};

/**
 * Routing handlers: return a verdict, or nothing to continue unchanged.
 * @example
 * const h: RoutingHandlers = { onRoutedMessage: (e) => (e.message.size > 5e7 ? quarantine('too large') : undefined) };
 */
export type RoutingHandlers = { [K in keyof RoutingEvents]?: (event: RoutingEvents[K]) => Awaitable<RoutingVerdict | void> };

/**
 * Delivery handlers: `onDeliverMailItem` must acknowledge every recipient of the item.
 * @example
 * const h: DeliveryHandlers = { onDeliverMailItem: (e) => acks(...e.item.recipients.map((r) => delivered(r.address))) };
 */
export type DeliveryHandlers = {
  onOpenConnection?: (event: DeliveryEvents['onOpenConnection']) => Awaitable<void>;
  onDeliverMailItem: (event: DeliveryEvents['onDeliverMailItem']) => Awaitable<DeliveryResult>;
  onCloseConnection?: (event: DeliveryEvents['onCloseConnection']) => Awaitable<void>;
};

export type AgentDefinition =
  | { kind: 'receive'; handlers: ReceiveHandlers }
  | { kind: 'routing'; handlers: RoutingHandlers }
  | { kind: 'delivery'; handlers: DeliveryHandlers };

/**
 * Defines an SMTP Receive agent.
 * @example
 * import { defineReceiveAgent, reject } from 'sluice/sdk';
 * export default defineReceiveAgent({
 *   onRcptTo(event) {
 *     if (!event.recipient.endsWith('@example.com')) return reject(550, '5.7.1', 'Recipient not allowed');
 *   },
 * });
 */
export function defineReceiveAgent(handlers: ReceiveHandlers): Extract<AgentDefinition, { kind: 'receive' }> {
  return { kind: 'receive', handlers };
}

/**
 * Defines a Routing agent (categorizer events).
 * @example
 * export default defineRoutingAgent({ onSubmittedMessage: (e) => proceed({ headers: [addHeader('X-Seen', '1')] }) });
 */
export function defineRoutingAgent(handlers: RoutingHandlers): Extract<AgentDefinition, { kind: 'routing' }> {
  return { kind: 'routing', handlers };
}

/**
 * Defines a Delivery agent for a foreign system.
 * @example
 * export default defineDeliveryAgent({ onDeliverMailItem: (e) => acks(...e.item.recipients.map((r) => delivered(r.address))) });
 */
export function defineDeliveryAgent(handlers: DeliveryHandlers): Extract<AgentDefinition, { kind: 'delivery' }> {
  return { kind: 'delivery', handlers };
}
