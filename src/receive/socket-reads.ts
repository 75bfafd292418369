// Reading an accepted socket into one reused buffer. Node offers this as the
// documented `onread` option of `new net.Socket()`, but not for sockets a
// net.Server accepts, which are the ones we have. So this sets the same two
// fields that option sets and asks the handle to use the buffer, exactly as
// Node's own socket setup does for `onread` (lib/net.js initSocketHandle).
// Those fields are Node internals: they are looked up by name, and if any is
// missing (another Node version) this returns false and the caller keeps
// reading through 'data' events, which is correct, only slower.

import type { Conn } from '../transport.js';

interface UserBufferHandle {
  useUserBuffer(buf: Uint8Array): void;
}

function internalSymbol(socket: Conn, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(socket).find((s) => s.description === description);
}

/** Whether readIntoBuffers() can work on this socket (a TCP socket of a Node that has the fields). */
export function canReadIntoBuffers(socket: Conn): boolean {
  const handle = (socket as unknown as { _handle?: Partial<UserBufferHandle> | null })._handle;
  return (
    internalSymbol(socket, 'kBuffer') !== undefined &&
    internalSymbol(socket, 'kBufferCb') !== undefined &&
    internalSymbol(socket, 'kBufferGen') !== undefined &&
    !!handle &&
    typeof handle.useUserBuffer === 'function'
  );
}

/**
 * From now on every read of `socket` lands in a buffer `nextBuffer()` returned (asked again after
 * every read, as Node's `onread.buffer` function is) and is handed to `onRead(bytes)`, a view of
 * that buffer; returning false pauses the socket (resume() restarts). No 'data' events follow.
 * Bytes the socket had already read are passed to `onRead` first, in fresh buffers. Call it while
 * the socket is paused. Returns false (nothing changed) when this Node does not support it.
 */
export function readIntoBuffers(socket: Conn, nextBuffer: () => Buffer, onRead: (bytes: Buffer) => boolean): boolean {
  const kBuffer = internalSymbol(socket, 'kBuffer');
  const kBufferCb = internalSymbol(socket, 'kBufferCb');
  const kBufferGen = internalSymbol(socket, 'kBufferGen');
  const handle = (socket as unknown as { _handle?: Partial<UserBufferHandle> | null })._handle;
  if (!kBuffer || !kBufferCb || !kBufferGen || !handle || typeof handle.useUserBuffer !== 'function') return false;
  // Whatever the stream buffered while paused comes first.
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) onRead(chunk);
  const first = nextBuffer();
  const target = socket as unknown as Record<symbol, unknown>;
  target[kBuffer] = first;
  target[kBufferGen] = nextBuffer;
  target[kBufferCb] = (n: number, buf: Buffer) => onRead(buf.subarray(0, n));
  handle.useUserBuffer(first);
  return true;
}

/** readIntoBuffers with one buffer reused for every read: `onRead` must copy what it keeps. */
export function readIntoBuffer(socket: Conn, buffer: Buffer, onRead: (bytes: Buffer) => boolean): boolean {
  return readIntoBuffers(socket, () => buffer, onRead);
}
