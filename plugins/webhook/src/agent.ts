/**
 * sluice/webhook: a first-party delivery agent. Each mail item routed to its connector is POSTed as
 * JSON (envelope, headers, the whole message in base64) to the configured URL, with an
 * Idempotency-Key so that the receiver can drop the duplicate of a retried request. 2xx delivers
 * every recipient of the item; 401, 408, 425, 429, 5xx, redirects and network errors defer them;
 * other 4xx fail them (see outcome.ts for the codes). Configuration:
 *   { "url": "https://hooks.example.com/mail", "authorization": "Bearer …" }
 */
import { CONTEXT_LIMITS, defineDeliveryAgent } from 'sluice/sdk';
import { acksFor } from './outcome.ts';
import { webhookRequest, type WebhookConfig } from './request.ts';

export default defineDeliveryAgent<WebhookConfig>({
  async onDeliverMailItem(event, ctx) {
    const recipients = event.item.recipients.map((r) => r.address);
    if (ctx.fetch === undefined) return acksFor(recipients, { kind: 'no-fetch' });
    if (event.body === undefined) return acksFor(recipients, { kind: 'no-body' });
    const request = webhookRequest(event, event.body, ctx.config);
    if (request.bytes > CONTEXT_LIMITS.fetchRequestBytes) {
      return acksFor(recipients, { kind: 'too-large', bytes: request.bytes, limit: CONTEXT_LIMITS.fetchRequestBytes });
    }
    try {
      const response = await ctx.fetch(ctx.config.url, request.init);
      if (response.status < 200 || response.status > 299) ctx.log.warn('webhook refused', { id: event.item.id, status: response.status });
      return acksFor(recipients, { kind: 'response', status: response.status, text: response.text });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      ctx.log.warn('webhook not reached', { id: event.item.id, error: message });
      return acksFor(recipients, { kind: 'error', message });
    }
  },
});
