/**
 * What an agent is given for each event: plain data, copied into its sandbox as JSON. The message
 * body is present only for agents whose manifest sets `wantsBody`.
 */

/**
 * Facts about the SMTP session, as known at the time of the event.
 * @example
 * const fromLocal = event.session.client.address === '127.0.0.1';
 */
export interface SessionInfo {
  /** Unique per connection; stable across the events of one session. */
  id: string;
  client: { address: string; port: number };
  /** The HELO/EHLO name, once given. */
  helo?: string;
  tls?: { protocol: string; cipher: string };
  /** The authenticated user, once AUTH succeeded. */
  user?: string;
}

/**
 * A header field as received: `name` as written, `value` unfolded (CRLF + WSP become the WSP).
 * @example
 * const subject = event.headers.find((h) => h.name.toLowerCase() === 'subject')?.value;
 */
export interface HeaderField {
  name: string;
  value: string;
}

/**
 * The envelope of the current transaction.
 * @example
 * if (event.envelope.sender === '') return tempfail(451, '4.7.1', 'Try again later');
 */
export interface EnvelopeInfo {
  /** The reverse path; '' is the null sender `<>`. */
  sender: string;
  recipients: string[];
  /** ESMTP parameters of MAIL (SIZE, BODY, SMTPUTF8, RET, ENVID). */
  mailParams: { size?: number; body?: '7BIT' | '8BITMIME'; smtputf8: boolean; ret?: 'FULL' | 'HDRS'; envid?: string };
}

/**
 * Receive events (one SMTP session), named as in Exchange's SmtpReceiveAgent, in camelCase.
 * @example
 * const handlers: Partial<{ [K in keyof ReceiveEvents]: (e: ReceiveEvents[K]) => unknown }> = {};
 */
export interface ReceiveEvents {
  onConnect: { session: SessionInfo };
  onHelo: { session: SessionInfo; name: string };
  onEhlo: { session: SessionInfo; name: string };
  onStartTls: { session: SessionInfo };
  onAuth: { session: SessionInfo; mechanism: 'PLAIN' | 'LOGIN' };
  onEndOfAuthentication: { session: SessionInfo; mechanism: 'PLAIN' | 'LOGIN'; user: string; success: boolean };
  onMailFrom: { session: SessionInfo; sender: string; params: EnvelopeInfo['mailParams'] };
  onRcptTo: {
    session: SessionInfo;
    sender: string;
    recipient: string;
    params: { notify?: 'NEVER' | ('SUCCESS' | 'FAILURE' | 'DELAY')[]; orcpt?: { type: string; address: string } };
    /** Recipients accepted so far in this transaction. */
    accepted: string[];
  };
  onData: { session: SessionInfo; envelope: EnvelopeInfo };
  onEndOfHeaders: { session: SessionInfo; envelope: EnvelopeInfo; headers: HeaderField[] };
  onEndOfData: {
    session: SessionInfo;
    envelope: EnvelopeInfo;
    headers: HeaderField[];
    /** Octets of the message as received. */
    size: number;
    /** The message as received (base64), only for agents that asked for it. */
    body?: string;
  };
  onRset: { session: SessionInfo };
  onNoop: { session: SessionInfo };
  onHelp: { session: SessionInfo };
  /** An observer: the server answered a command negatively. Its verdict is ignored. */
  onReject: { session: SessionInfo; command: string; reply: { code: number; enhanced: string; text: string } };
  /** An observer: the session ended. Its verdict is ignored. */
  onDisconnect: { session: SessionInfo; reason: string };
}

/**
 * One message in the categorizer, as of the current stage.
 * @example
 * const big = message.size > 10 * 1024 * 1024;
 */
export interface MessageSnapshot {
  id: string;
  receivedAt: number;
  envelope: EnvelopeInfo;
  /** Per recipient: its state and, after routing, its next hop. */
  recipients: { address: string; status: 'pending' | 'delivered' | 'failed'; nextHop?: string }[];
  headers: HeaderField[];
  size: number;
}

/**
 * Routing events (per message, in the categorizer), as Exchange's RoutingAgent.
 * @example
 * const onRouted = (e: RoutingEvents['onRoutedMessage']) => e.message.recipients.length;
 */
export interface RoutingEvents {
  /** `body`: the whole message (base64), only for agents whose manifest asks for it. */
  onSubmittedMessage: { message: MessageSnapshot; body?: string };
  onResolvedMessage: { message: MessageSnapshot; body?: string };
  onRoutedMessage: { message: MessageSnapshot; body?: string };
  onCategorizedMessage: { message: MessageSnapshot; body?: string };
}

/**
 * Delivery events (per connector to a foreign system), as Exchange's DeliveryAgent.
 * @example
 * const onDeliver = (e: DeliveryEvents['onDeliverMailItem']) => e.item.recipients.map((r) => r.address);
 */
export interface DeliveryEvents {
  onOpenConnection: { connector: string; nextHop: string };
  onDeliverMailItem: {
    connector: string;
    item: { id: string; envelope: EnvelopeInfo; recipients: { address: string }[]; headers: HeaderField[]; size: number };
    /** The whole message (base64), only for agents whose manifest asks for it. */
    body?: string;
  };
  onCloseConnection: { connector: string; nextHop: string };
}
