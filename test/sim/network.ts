// A simulated network of byte-stream connections (the Conn seam, src/transport.ts):
// each direction delivers its writes in order after seeded delays (so
// connections reorder against each other, never within themselves); a link
// can be cut (a partition, a dropped connection, a crashed host), after which
// the peer sees what was already in flight and then a reset: a stream loses
// its tail, never a message in the middle.

import { Duplex } from 'node:stream';
import type { Conn, Connect } from '../../src/transport.js';
import type { Incarnation, Scheduler } from './scheduler.js';

export class SimConn extends Duplex implements Conn {
  peer: SimConn | null = null;
  bytesRead = 0;
  bytesWritten = 0;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  /** Deliveries toward the peer are never scheduled before this (in-order delivery). */
  lastDeliveryAt = 0;
  connected = false;
  cut = false;
  private queued: Buffer[] = [];

  constructor(
    private readonly net: SimNetwork,
    readonly link: Link,
    readonly host: string,
    remote: string,
  ) {
    super({ allowHalfOpen: false });
    this.remoteAddress = remote;
    this.remotePort = 5454;
  }

  setNoDelay(): this {
    return this;
  }

  setTimeout(): this {
    return this;
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.bytesWritten += chunk.length;
    if (!this.connected) this.queued.push(Buffer.from(chunk));
    else this.net.send(this, Buffer.from(chunk));
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.net.sendEnd(this);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.net.cutLink(this.link, 'closed');
    cb(err);
  }

  /** Connection established: what was written before goes out. */
  establish(): void {
    this.connected = true;
    for (const b of this.queued.splice(0)) this.net.send(this, b);
    this.emit('connect');
  }
}

export interface Link {
  id: number;
  a: SimConn;
  b: SimConn | null;
  /** The hosts at each end. */
  hosts: [string, string];
  broken: boolean;
}

type Accept = (conn: SimConn) => void;

export class SimNetwork {
  private readonly listeners = new Map<string, { accept: Accept; owner: Incarnation }>();
  private readonly links = new Set<Link>();
  private nextLink = 1;
  /** Pairs of hosts that cannot talk ("a|b", both orders). */
  private readonly partitions = new Set<string>();
  /** Messages delivered (for the trace). */
  delivered = 0;

  constructor(
    private readonly sched: Scheduler,
    private readonly maxDelayMs = 2,
  ) {}

  listen(address: string, owner: Incarnation, accept: Accept): void {
    this.listeners.set(address, { accept, owner });
  }

  unlisten(address: string): void {
    this.listeners.delete(address);
  }

  /** A connect function for the process on `host` (the proposer client's seam). */
  connector(host: string): Connect {
    return (toHost, port) => this.connect(host, `${toHost}:${port}`);
  }

  connect(fromHost: string, address: string): SimConn {
    const toHost = address.split(':')[0]!;
    const link: Link = { id: this.nextLink++, a: null!, b: null, hosts: [fromHost, toHost], broken: false };
    const client = new SimConn(this, link, fromHost, toHost);
    link.a = client;
    this.links.add(link);
    this.sched.at(this.delay(), () => {
      const l = this.listeners.get(address);
      if (link.broken) return;
      if (!l || !l.owner.alive || this.partitioned(fromHost, toHost)) {
        link.broken = true;
        this.links.delete(link);
        const err = Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: 'ECONNREFUSED', syscall: 'connect' });
        client.destroy(err);
        return;
      }
      const server = new SimConn(this, link, toHost, fromHost);
      server.connected = true;
      link.b = server;
      client.peer = server;
      server.peer = client;
      l.accept(server);
      client.establish();
    });
    return client;
  }

  private delay(): number {
    return this.sched.rng.next() * this.maxDelayMs;
  }

  send(from: SimConn, chunk: Buffer): void {
    const to = from.peer;
    if (!to || from.link.broken) return;
    const at = Math.max(from.lastDeliveryAt, this.sched.now + this.delay());
    from.lastDeliveryAt = at;
    this.sched.at(at - this.sched.now, () => {
      if (to.destroyed) return;
      to.bytesRead += chunk.length;
      this.delivered++;
      to.push(chunk);
    });
  }

  sendEnd(from: SimConn): void {
    const to = from.peer;
    if (!to || from.link.broken) return;
    const at = Math.max(from.lastDeliveryAt, this.sched.now + this.delay());
    from.lastDeliveryAt = at;
    this.sched.at(at - this.sched.now, () => {
      if (!to.destroyed) to.push(null);
    });
  }

  /** Cuts a link: each end gets what was in flight toward it, then a reset. */
  cutLink(link: Link, why: string): void {
    if (link.broken) return;
    link.broken = true;
    this.links.delete(link);
    for (const [end, other] of [
      [link.a, link.b],
      [link.b, link.a],
    ] as const) {
      if (!end || end.destroyed) continue;
      const after = Math.max(other?.lastDeliveryAt ?? 0, this.sched.now) - this.sched.now + this.delay();
      this.sched.at(after, () => {
        if (!end.destroyed) end.destroy(Object.assign(new Error(`read ECONNRESET (${why})`), { code: 'ECONNRESET' }));
      });
    }
  }

  /** A host crashed: its ends vanish at once; peers see a reset after what was in flight. */
  crashHost(host: string): void {
    for (const link of [...this.links]) {
      if (!link.hosts.includes(host)) continue;
      const mine = link.hosts[0] === host ? link.a : link.b;
      this.cutLink(link, `${host} crashed`);
      mine?.destroy();
    }
    for (const [addr] of this.listeners) if (addr.startsWith(`${host}:`)) this.listeners.delete(addr);
  }

  partition(a: string, b: string): void {
    this.partitions.add(`${a}|${b}`);
    this.partitions.add(`${b}|${a}`);
    for (const link of [...this.links]) {
      if ((link.hosts[0] === a && link.hosts[1] === b) || (link.hosts[0] === b && link.hosts[1] === a)) this.cutLink(link, 'partition');
    }
  }

  heal(): void {
    this.partitions.clear();
  }

  partitioned(a: string, b: string): boolean {
    return this.partitions.has(`${a}|${b}`);
  }

  /** Drops one random established connection. */
  dropRandom(): boolean {
    const live = [...this.links].filter((l) => l.b !== null && !l.broken);
    if (live.length === 0) return false;
    this.cutLink(this.sched.rng.pick(live), 'dropped');
    return true;
  }
}
