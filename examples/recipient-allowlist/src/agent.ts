/**
 * example/recipient-allowlist: for the domains it guards, accepts only the local parts on its
 * allow-list (550 5.1.1 for the rest) and stamps accepted messages with an X-Allowlist header.
 * Configuration (checked by the server against the manifest's configSchema):
 *   { "domains": ["example.com"], "allow": ["alice", "bob"] }
 */
import { accept, addHeader, defineReceiveAgent, reject, type AgentContext } from 'sluice/sdk';

interface Config {
  domains: string[];
  allow: string[];
}

function guarded(address: string, config: AgentContext<Config>['config']): { local: string; domain: string } | null {
  const at = address.lastIndexOf('@');
  if (at < 0) return null;
  const domain = address.slice(at + 1).toLowerCase();
  return config.domains.some((d) => d.toLowerCase() === domain) ? { local: address.slice(0, at).toLowerCase(), domain } : null;
}

export default defineReceiveAgent({
  onRcptTo(event, ctx: AgentContext<Config>) {
    const target = guarded(event.recipient, ctx.config);
    if (target === null) return; // not ours to judge
    if (ctx.config.allow.some((local) => local.toLowerCase() === target.local)) return;
    ctx.log.info('recipient refused', { recipient: event.recipient });
    return reject(550, '5.1.1', `No such user here: ${event.recipient}`);
  },

  onEndOfData(event, ctx: AgentContext<Config>) {
    const checked = event.envelope.recipients.filter((r) => guarded(r, ctx.config) !== null).length;
    return accept([addHeader('X-Allowlist', `checked ${checked} of ${event.envelope.recipients.length} recipients`)]);
  },
});
