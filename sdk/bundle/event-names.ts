/** The event names each agent kind may subscribe to, as data a manifest is checked against. */
import type { DeliveryEvents, ReceiveEvents, RoutingEvents } from '../event-payloads.ts';

/**
 * Events of a receive agent (one SMTP session), in the order a session meets them.
 * @example
 * RECEIVE_EVENTS.includes('onRcptTo'); // true
 */
export const RECEIVE_EVENTS = [
  'onConnect',
  'onHelo',
  'onEhlo',
  'onStartTls',
  'onAuth',
  'onEndOfAuthentication',
  'onMailFrom',
  'onRcptTo',
  'onData',
  'onEndOfHeaders',
  'onEndOfData',
  'onRset',
  'onNoop',
  'onHelp',
  'onReject',
  'onDisconnect',
] as const;

/**
 * Events of a routing agent (one message in the categorizer).
 * @example
 * ROUTING_EVENTS[0]; // 'onSubmittedMessage'
 */
export const ROUTING_EVENTS = ['onSubmittedMessage', 'onResolvedMessage', 'onRoutedMessage', 'onCategorizedMessage'] as const;

/**
 * Events of a delivery agent (one connector to a foreign system).
 * @example
 * DELIVERY_EVENTS.length; // 3
 */
export const DELIVERY_EVENTS = ['onOpenConnection', 'onDeliverMailItem', 'onCloseConnection'] as const;

/**
 * The agent kinds a manifest may declare.
 * @example
 * AGENT_KINDS.includes('routing'); // true
 */
export const AGENT_KINDS = ['receive', 'routing', 'delivery'] as const;

/**
 * One agent kind.
 * @example
 * const kind: AgentKind = 'delivery';
 */
export type AgentKind = (typeof AGENT_KINDS)[number];

/**
 * Event names per kind, for lookups by a manifest's `kind`.
 * @example
 * EVENTS_BY_KIND.delivery.includes('onDeliverMailItem'); // true
 */
export const EVENTS_BY_KIND = {
  receive: RECEIVE_EVENTS,
  routing: ROUTING_EVENTS,
  delivery: DELIVERY_EVENTS,
} as const satisfies Record<AgentKind, readonly string[]>;

// Compile-time proof that these lists and the payload interfaces name exactly the same events.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const listsMatchPayloads: [
  Same<(typeof RECEIVE_EVENTS)[number], keyof ReceiveEvents>,
  Same<(typeof ROUTING_EVENTS)[number], keyof RoutingEvents>,
  Same<(typeof DELIVERY_EVENTS)[number], keyof DeliveryEvents>,
] = [true, true, true];
void listsMatchPayloads;
