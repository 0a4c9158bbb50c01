/** The vendor SDK: event payloads, verdict helpers and agent definitions (types erase; helpers have no dependencies). */
export type { EnvelopeInfo, HeaderField, MessageSnapshot, ReceiveEvents, RoutingEvents, DeliveryEvents, SessionInfo } from './event-payloads.ts';
export {
  accept,
  reject,
  tempfail,
  disconnect,
  addHeader,
  setHeader,
  removeHeader,
  proceed,
  defer,
  drop,
  quarantine,
  acks,
  delivered,
  deferred,
  failed,
  type DeliveryResult,
  type HeaderEdit,
  type ReceiveVerdict,
  type RecipientAck,
  type RecipientEdit,
  type RoutingVerdict,
} from './verdicts.ts';
export {
  defineReceiveAgent,
  defineRoutingAgent,
  defineDeliveryAgent,
  type AgentDefinition,
  type DeliveryHandlers,
  type ReceiveHandlers,
  type RoutingHandlers,
} from './define-agent.ts';
