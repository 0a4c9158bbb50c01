// The spool's public pieces: the contract, its errors, the envelope schema, the journal store, queue ids.
export { ClientInfoSchema, EnvelopeSchema, NotifySchema, RecipientSchema } from './envelope.ts';
export type { ClientInfo, Envelope, Notify, Recipient } from './envelope.ts';
export type { Claim, DeliveryState, Lease, RecipientStatus, RecoveryReport, SpoolStats, SpoolStore } from './store.ts';
export { SpoolError, spoolErrorFrom } from './spool-error.ts';
export type { SpoolErrorCode } from './spool-error.ts';
export { DeliveryStateSchema, RecipientStatusSchema } from './delivery-state-schema.ts';
export { JournalStore } from './journal-store.ts';
export type { JournalStats } from './journal-store.ts';
export { DEFAULT_SEGMENT_BYTES } from './journal-options.ts';
export type { JournalStoreOptions, SpoolLog } from './journal-options.ts';
export { newQueueId, QUEUE_ID_LENGTH, queueIdGenerator, queueIdTime } from './queue-id.ts';
