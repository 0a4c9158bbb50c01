/** The connectors the router can name, built from the config: the local Maildir, SMTP (MX, smart hosts, the implicit `direct`) and delivery agents. */
import type { Connector } from '../delivery/connector.ts';
import { MaildirConnector } from '../delivery/maildir-connector.ts';
import { SmtpConnector } from '../delivery/smtp-connector.ts';
import { AgentConnector } from '../delivery/agent-connector.ts';
import { MxResolver } from '../routing/mx-resolver.ts';
import type { Router } from '../routing/router.ts';
import type { ChainSource } from '../agents/run-recorded.ts';
import type { SandboxDriver } from '../sandbox/protocol.ts';
import type { LogFn } from '../log/logger.ts';

export interface ConnectorDeps {
  router: Router;
  mailboxDir: string;
  /** Our name in EHLO and Received fields. */
  hostname: string;
  dnsServers: readonly string[] | undefined;
  agents: ChainSource;
  driver: SandboxDriver;
  log: LogFn;
}

export function buildConnectors(deps: ConnectorDeps): Connector[] {
  const resolver = new MxResolver(deps.dnsServers !== undefined ? { servers: deps.dnsServers } : {});
  const out: Connector[] = [new MaildirConnector(deps.mailboxDir, deps.hostname)];
  for (const c of deps.router.connectors()) {
    if (c.type === 'smtp') out.push(new SmtpConnector({ config: c, hostname: deps.hostname, resolver, log: deps.log }));
    else out.push(new AgentConnector({ name: c.name, agent: c.agent, chains: deps.agents, driver: deps.driver, log: deps.log }));
  }
  return out;
}
