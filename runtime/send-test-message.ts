/** `sluice send`: one message over SMTP with nodemailer, STARTTLS when offered (unverified only for loopback servers). */
import nodemailer from 'nodemailer';
import { splitHostPort } from './config/load-config.ts';

export interface TestMessage {
  server: string;
  from: string;
  to: string[];
  subject: string;
  body: string;
  auth?: { user: string; pass: string };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Sends and returns the server's final reply. */
export async function sendTestMessage(m: TestMessage): Promise<string> {
  const { host, port } = splitHostPort(m.server);
  const transport = nodemailer.createTransport({
    host,
    port,
    secure: false,
    ...(m.auth ? { auth: m.auth, requireTLS: true } : {}),
    // A self-signed certificate is the default on a fresh server; only trust it blindly on loopback.
    tls: { rejectUnauthorized: !LOOPBACK.test(host) },
  });
  try {
    const info = await transport.sendMail({ from: m.from, to: m.to, subject: m.subject, text: m.body });
    return `${info.response} (accepted: ${info.accepted.join(', ')})`;
  } finally {
    transport.close();
  }
}
