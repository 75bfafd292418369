// An in-process safekeeper for proposer-client tests: the project's Acceptor
// rules over in-memory storage, behind a TCP listener that speaks the
// handshake and START_WAL_PUSH the way the server does (protocol.md §1–§3,
// acceptor.md §7: no-flush appends, FlushWAL + AppendResponse when the
// connection's queue drains). Not the real server: that is tested elsewhere.

import net from 'node:net';
import { decodeProposerMessage, encodeAcceptorMessage, walByteLength } from '../../src/protocol/index.js';
import { newNode, type Node } from './acceptor-fixtures.js';
import { ServerConn } from './client-fake-server.js';

export { TENANT, TIMELINE } from './acceptor-fixtures.js';

export interface FakeSafekeeperOptions {
  nodeId?: bigint;
  /** Never answer AppendRequests (no FlushWAL), to test flow control and timeouts. */
  mute?: boolean;
}

export class FakeSafekeeper {
  readonly node: Node;
  /** Connections accepted so far. */
  connections = 0;
  /** AppendRequests received (including empty heartbeats). */
  appendRequests = 0;
  emptyAppendRequests = 0;
  /** Messages of every connection, in arrival order: kind names. */
  readonly log: string[] = [];
  mute: boolean;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private portNo = 0;

  constructor(opts: FakeSafekeeperOptions = {}) {
    this.node = newNode({ nodeId: opts.nodeId ?? 1n });
    this.mute = opts.mute ?? false;
  }

  get port(): number {
    return this.portNo;
  }

  get address(): string {
    return `127.0.0.1:${this.portNo}`;
  }

  /** Listens (again, on the same port if it had one). */
  async listen(): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.portNo, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.portNo = (server.address() as net.AddressInfo).port;
  }

  /** Drops every connection (as a crash would) but keeps listening. */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** Stops listening and drops every connection; state is kept for a later listen(). */
  async close(): Promise<void> {
    this.dropConnections();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.connections++;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.sockets.delete(socket));
    const c = new ServerConn(socket);
    this.serve(c).catch((e: Error) => {
      if (!socket.destroyed) {
        socket.end(c.be.errorResponse(e.message).flush());
      }
    });
  }

  private async serve(c: ServerConn): Promise<void> {
    await c.acceptStartup();
    const q = await c.expectFrame('Q');
    if (!q.body.toString('latin1').startsWith('START_WAL_PUSH')) throw new Error(`unsupported command ${q.body.toString()}`);
    c.write(c.be.copyBothResponse().flush());
    let dirty = false;
    const acc = this.node.acc;
    for (;;) {
      const f = await c.next();
      if (f === null || f.tag === 'X' || f.tag === 'c') {
        c.socket.end();
        return;
      }
      if (f.tag !== 'd') throw new Error(`unexpected message '${String(f.tag)}' in copy mode`);
      const msg = decodeProposerMessage(f.body);
      this.log.push(msg.kind);
      if (msg.kind === 'AppendRequest') {
        this.appendRequests++;
        if (walByteLength(msg.wal) === 0) this.emptyAppendRequests++;
        dirty = true;
      }
      const reply = await acc.process(msg);
      if (reply && !(this.mute && reply.kind === 'AppendResponse')) c.write(c.be.copyData(encodeAcceptorMessage(reply)).flush());
      if (dirty && c.pending === 0 && !this.mute) {
        dirty = false;
        const r = await acc.process({ kind: 'FlushWAL' });
        if (r) c.write(c.be.copyData(encodeAcceptorMessage(r)).flush());
      }
    }
  }
}
