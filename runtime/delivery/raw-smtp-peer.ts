/**
 * For tests: a bare-bones receiving SMTP server on 127.0.0.1 (node:net) that keeps the exact
 * bytes a client sends after DATA, so a test can check what went over the wire.
 */
import { createServer, type Socket } from 'node:net';

export interface RawSmtpPeer {
  port: number;
  /** Everything between the 354 and the end of the data, terminating `.<CRLF>` included. */
  data: Buffer[];
  /** Command lines received, in order. */
  commands: string[];
  close(): Promise<void>;
}

const END_OF_DATA = Buffer.from('\r\n.\r\n');

function serve(socket: Socket, peer: RawSmtpPeer): void {
  let buffer = Buffer.alloc(0);
  let inData = false;
  socket.write('220 raw.test ESMTP\r\n');
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (inData) {
        // The data may also be empty: then its end is `.<CRLF>` right after the 354.
        const end = buffer.subarray(0, 3).equals(Buffer.from('.\r\n')) ? 0 : buffer.indexOf(END_OF_DATA);
        if (end === -1) return;
        const length = end === 0 ? 3 : end + END_OF_DATA.length;
        peer.data.push(Buffer.from(buffer.subarray(0, length)));
        buffer = buffer.subarray(length);
        inData = false;
        socket.write('250 2.0.0 kept\r\n');
        continue;
      }
      const eol = buffer.indexOf('\r\n');
      if (eol === -1) return;
      const line = buffer.subarray(0, eol).toString('latin1');
      buffer = buffer.subarray(eol + 2);
      peer.commands.push(line);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') socket.write('250-raw.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n');
      else if (verb === 'DATA') {
        inData = true;
        socket.write('354 go ahead\r\n');
      } else if (verb === 'QUIT') {
        socket.end('221 2.0.0 bye\r\n');
        return;
      } else socket.write('250 2.0.0 ok\r\n');
    }
  });
}

export async function startRawSmtpPeer(): Promise<RawSmtpPeer> {
  const sockets = new Set<Socket>();
  const peer: RawSmtpPeer = { port: 0, data: [], commands: [], close: async () => {} };
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serve(socket, peer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  peer.port = typeof address === 'object' && address !== null ? address.port : 0;
  peer.close = () =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return peer;
}
