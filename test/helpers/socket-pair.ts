// Loopback TCP socket pairs for tests that hand a socket's fd to the WAL I/O thread.

import net from 'node:net';

export interface SocketPair {
  /** The accepted side (the safekeeper's). */
  server: net.Socket;
  /** The peer. */
  client: net.Socket;
  close(): void;
}

/** A connected loopback pair. */
export async function socketPair(): Promise<SocketPair> {
  const listener = net.createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => listener.once('connection', r));
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  const server = await accepted;
  listener.close();
  return { server, client, close: () => (server.destroy(), client.destroy()) };
}

/** Runs `body` with a fresh socket pair, closed afterwards whatever happens. */
export async function withPair(body: (pair: SocketPair) => Promise<void>): Promise<void> {
  const pair = await socketPair();
  try {
    await body(pair);
  } finally {
    pair.close();
  }
}

/** A Node TCP socket's file descriptor. */
export function fdOf(socket: net.Socket): number {
  return (socket as unknown as { _handle: { fd: number } })._handle.fd;
}
