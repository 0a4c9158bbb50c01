/** The connectors the router can name, built from the config: the local Maildir, SMTP (MX, smart hosts, the implicit `direct`) and delivery agents. */
import type { Connector } from '../delivery/connector.ts';
import { MaildirConnector } from '../delivery/maildir-connector.ts';
import type { Router } from '../routing/router.ts';
import type { ChainSource } from '../agents/receive-dispatcher.ts';
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
  return [new MaildirConnector(deps.mailboxDir, deps.hostname)];
}
