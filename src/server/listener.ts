// Accept: the Postgres-protocol listener. Each socket gets a conn_id and a
// ClientConnection (./client.ts), which runs the startup handshake and the
// query phase until a command takes the socket over (START_WAL_PUSH).

import net from 'node:net';
import { ClientConnection, SOCKET_READ_TIMEOUT_MS } from './client.js';
import type { ListenerAuth } from './auth.js';
import type { ServerDeps } from './deps.js';
import type { Conn } from '../transport.js';

export class PgServer {
  private readonly servers: net.Server[] = [];
  /** Sockets still in the query phase; a socket taken over by a stream endpoint leaves this set. */
  private readonly sockets = new Set<Conn>();
  private nextConnId = 1;
  private accepting = true;

  constructor(private readonly deps: ServerDeps) {}

  /** A listener; with `auth`, its clients log in with a JWT (./auth.ts). */
  async listen(host: string, port: number, auth: ListenerAuth | null = null): Promise<net.AddressInfo> {
    const server = net.createServer({ noDelay: true }, (socket) => this.accept(socket, auth));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.servers.push(server);
    return server.address() as net.AddressInfo;
  }

  /** Stops accepting; connections already handed to actors are stopped through the root actor. */
  async stopAccepting(): Promise<void> {
    this.accepting = false;
    // close() stops listening at once. Its callback waits for every connection to end, including
    // WAL push connections, which only end after the root actor is told to shut down, i.e. after
    // this returns: awaiting it here would hang shutdown until the 600 s socket timeout.
    for (const s of this.servers) s.close();
    // Sockets still in the query phase have nothing to flush.
    for (const socket of this.sockets) socket.destroy();
  }

  /** A new connection: conn_id, timeouts, and the query phase (./client.ts). */
  accept(socket: Conn, auth: ListenerAuth | null = null): void {
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    const connId = this.nextConnId;
    this.nextConnId = this.nextConnId >= 0xffffffff ? 1 : this.nextConnId + 1; // u32, wraps as in Neon
    socket.setNoDelay(true);
    socket.setTimeout(SOCKET_READ_TIMEOUT_MS);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    new ClientConnection(this.deps, socket, connId, () => this.sockets.delete(socket), auth);
  }
}
