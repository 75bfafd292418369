// A minimal WAL receiver, run as its own process by the CPU baseline: it
// accepts one TCP connection, checks every byte with the server's WalDecoder
// (page headers + record CRC-32C, as the server does on every write) and writes
// it into segment files without syncing — the unavoidable work of a
// --no-sync safekeeper, with no protocol, no state machines, no replies.
//
//   node raw-sink.js <startLsn X/Y> <bytes>[,<bytes>…] <dir>
// prints {"port":N} once listening. The input comes in phases (a warm-up, then
// the timed part): each time a phase's bytes are all written it answers the
// sender with "OK <end of last record>\n" (or "ERR <message>\n"); after the
// last phase it closes and exits.

import net from 'node:net';
import { parseLsn, formatLsn } from '../../src/lsn.js';
import { WalDecoder } from '../../src/storage/wal-decoder.js';
import { SegmentFiles } from './segment-files.js';

/** Pause the socket while this much is waiting for the disk (the server batches 4 MiB writes too). */
const HIGH_WATER = 4 * 1024 * 1024;

function main(): void {
  const [startText, phasesText, dir] = process.argv.slice(2);
  if (!startText || !phasesText || !dir) throw new Error('usage: raw-sink <startLsn X/Y> <bytes>[,<bytes>…] <dir>');
  const startLsn = parseLsn(startText);
  // Cumulative byte counts at which a phase ends.
  const marks: number[] = [];
  for (const p of phasesText.split(',')) marks.push((marks[marks.length - 1] ?? 0) + Number(p));

  const server = net.createServer({ noDelay: true }, (sock) => {
    server.close();
    const decoder = new WalDecoder({ pgMajor: 15, startLsn });
    const files = new SegmentFiles({ dir, syncEveryBytes: null });
    let queue: Buffer[] = [];
    let queued = 0;
    let writing = false;
    let written = 0;
    const answer = () => (decoder.error ? `ERR ${decoder.errorMessage}\n` : `OK ${formatLsn(decoder.lastRecordEnd)}\n`);
    const drain = async () => {
      if (writing) return;
      writing = true;
      while (queue.length > 0) {
        const bufs = queue;
        queue = [];
        queued = 0;
        sock.resume();
        await files.write(bufs);
        for (const b of bufs) written += b.length;
        while (marks.length > 0 && written >= marks[0]!) {
          marks.shift();
          if (marks.length > 0) {
            sock.write(answer());
          } else {
            await files.close();
            sock.end(answer(), () => process.exit(0));
          }
        }
      }
      writing = false;
    };
    sock.on('data', (b: Buffer) => {
      decoder.feed(b);
      queue.push(b);
      queued += b.length;
      if (queued >= HIGH_WATER) sock.pause();
      void drain();
    });
    sock.on('error', (e) => {
      process.stderr.write(`raw-sink: ${e.message}\n`);
      process.exit(1);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address() as net.AddressInfo;
    process.stdout.write(JSON.stringify({ port: addr.port }) + '\n');
  });
}

main();
