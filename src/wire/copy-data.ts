// CopyData carries every proposer/acceptor message. Writing the 5-byte header
// separately lets the caller writev header + payload without copying a
// 128 KiB WAL payload into a message buffer. The layout is the same in both
// directions.

/** Size of a CopyData frame header: 'd' + int32 length. */
export const COPY_DATA_HEADER_SIZE = 5;

/**
 * Writes the 5-byte CopyData header for a payload of `payloadLength` bytes
 * into `target` at `offset` (or a new Buffer), so the caller can writev
 * header + payload without copying the payload.
 */
export function copyDataHeader(payloadLength: number, target?: Buffer, offset = 0): Buffer {
  const out = target ?? Buffer.allocUnsafe(COPY_DATA_HEADER_SIZE);
  out[offset] = 0x64; // 'd'
  out.writeInt32BE(payloadLength + 4, offset + 1);
  return out;
}
