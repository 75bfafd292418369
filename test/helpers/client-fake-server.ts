// A scriptable single-purpose Postgres server for the proposer client tests:
// each accepted connection is handed to a script that reads the client's frames
// and writes whatever bytes the test wants. Isolates the client from the real
// safekeeper server.

import net from 'node:net';
import { FrameReader, BackendSerializer, type Frame } from '../../src/wire/index.js';

export class ServerConn {
  private readonly reader = new FrameReader();
  private queue: Frame[] = [];
  private waiter: ((f: Frame | null) => void) | undefined;
  private ended = false;
  /** Every byte the client sent, in order. */
  readonly received: Buffer[] = [];
  readonly be = new BackendSerializer();

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received.push(Buffer.from(chunk));
      this.reader.push(chunk);
      for (const f of this.reader.frames()) this.deliver(f);
    });
    const end = (): void => {
      this.ended = true;
      const w = this.waiter;
      this.waiter = undefined;
      w?.(null);
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', () => undefined);
  }

  private deliver(f: Frame): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(f);
    } else this.queue.push(f);
  }

  /** Frames received and not yet taken by next(). */
  get pending(): number {
    return this.queue.length;
  }

  /** Next client frame, or null once the client closed. */
  next(): Promise<Frame | null> {
    const f = this.queue.shift();
    if (f) return Promise.resolve(f);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  async expectFrame(tag: string | null): Promise<Frame> {
    const f = await this.next();
    if (f === null) throw new Error(`client closed, expected a frame with tag ${String(tag)}`);
    if (f.tag !== tag) throw new Error(`expected tag ${String(tag)}, got ${String(f.tag)}`);
    return f;
  }

  write(buf: Buffer): void {
    this.socket.write(buf);
  }

  /** AuthOk, three ParameterStatus, ReadyForQuery: what Neon's trust auth sends. */
  sendTrustStartupReply(): void {
    this.write(
      this.be
        .authenticationOk()
        .parameterStatus('client_encoding', 'UTF8')
        .parameterStatus('integer_datetimes', 'on')
        .parameterStatus('server_version', '14.1')
        .readyForQuery()
        .flush(),
    );
  }

  /** Reads the StartupMessage (answering an SSLRequest with 'N' first) and replies as trust auth does. */
  async acceptStartup(): Promise<Frame> {
    let f = await this.expectFrame(null);
    if (f.body.length === 4 && f.body.readUInt32BE(0) === 80877103) {
      this.write(Buffer.from('N'));
      f = await this.expectFrame(null);
    }
    this.sendTrustStartupReply();
    return f;
  }
}

export interface FakeServer {
  port: number;
  connections: ServerConn[];
  close(): Promise<void>;
}

export async function startFakeServer(script: (c: ServerConn) => void | Promise<void>): Promise<FakeServer> {
  const connections: ServerConn[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const c = new ServerConn(socket);
    connections.push(c);
    Promise.resolve()
      .then(() => script(c))
      .catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
