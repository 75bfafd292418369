// Streaming WAL validator: finds record boundaries and checks page headers and
// record CRCs, the way Neon's WalStreamDecoder does (storage.md §3.6). It does not
// keep record contents: a record inside one fed chunk and one page is checked with
// two CRC calls over subarrays; any other record is CRC'd piecewise as its bytes
// arrive (crc32c continues a finished CRC), so only its 24-byte header is copied.

import { crcAny, crcRange } from './wal-crc.js';
import { formatLsn, type Lsn } from '../lsn.js';
import {
  RECORD_CRC_OFFSET,
  SIZE_OF_LONG_PAGE_HEADER,
  SIZE_OF_RECORD_HEADER,
  SIZE_OF_SHORT_PAGE_HEADER,
  WAL_SEGMENT_SIZE,
  XLOG_BLCKSZ,
  XLP_FIRST_IS_CONTRECORD,
  isXlogSwitch,
  xlogPageMagic,
} from './wal-format.js';

export interface DecodedRecord {
  /** LSN of the record header. */
  start: Lsn;
  /** Position of the next record: record end MAXALIGNed, or the next segment after XLOG_SWITCH. */
  next: Lsn;
  totLen: number;
  rmid: number;
  info: number;
}

export interface WalDecoderOptions {
  /** PostgreSQL major (15) or full PG_VERSION_NUM (150004); ignored when `magic` is given. */
  pgMajor?: number;
  magic?: number;
  walSegSize?: number;
  /** Where the first fed byte lies; must be a record boundary (or a page start before one). */
  startLsn: Lsn;
  /** Called for every valid complete record (tests, tools). Costs a few bigint operations per record. */
  onRecord?: (rec: DecodedRecord) => void;
}

export interface WalDecodeError {
  message: string;
  /** Where the offending page header or record starts. */
  lsn: Lsn;
}

const enum State {
  /** At a record boundary (or a page header in front of one). */
  WaitRecord,
  /** Inside a record that did not fit the fast path; recGot bytes of it consumed. */
  InRecord,
  /** Skipping MAXALIGN padding or, after XLOG_SWITCH, the rest of the segment. */
  Skip,
  Failed,
}

const PAGE_MASK = XLOG_BLCKSZ - 1;

function u32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

export class WalDecoder {
  readonly magic: number;
  readonly walSegSize: number;
  private readonly segSizeBig: bigint;
  private readonly onRecord?: (rec: DecodedRecord) => void;

  // Parse position = segBase + off (off < walSegSize). Kept split so the hot path uses numbers.
  private segBase: bigint;
  private segBaseLo = 0;
  private segBaseHi = 0;
  private off: number;
  private fedEnd: Lsn;

  private state = State.WaitRecord;
  private skipLeft = 0;

  // Page header bytes carried over from a previous feed (header not yet complete).
  private readonly phdr = new Uint8Array(SIZE_OF_LONG_PAGE_HEADER);
  private phdrHave = 0;

  // Record being assembled across pages or feeds.
  private readonly recHdr = new Uint8Array(SIZE_OF_RECORD_HEADER);
  private recGot = 0;
  private totLen = 0;
  private crc = 0;
  private recStartBase = 0n;
  private recStartOff = 0;

  // The last record end, kept as segment base + offset so a record costs no bigint arithmetic;
  // the Lsn is made when asked for (once per write, not once per record).
  private lastEndBase: bigint;
  private lastEndOff = 0;
  private _records = 0;
  private _error: WalDecodeError | undefined;

  constructor(opts: WalDecoderOptions) {
    this.magic = opts.magic ?? xlogPageMagic(opts.pgMajor ?? 0);
    this.walSegSize = opts.walSegSize ?? WAL_SEGMENT_SIZE;
    if (this.walSegSize <= 0 || this.walSegSize % XLOG_BLCKSZ !== 0 || this.walSegSize > 1 << 30) {
      throw new Error(`invalid walSegSize ${this.walSegSize}: must be a multiple of ${XLOG_BLCKSZ} up to 1 GiB`);
    }
    this.segSizeBig = BigInt(this.walSegSize);
    this.onRecord = opts.onRecord;
    const start = opts.startLsn;
    this.segBase = start - (start % this.segSizeBig);
    this.off = Number(start - this.segBase);
    this.setSegBaseParts();
    this.fedEnd = start;
    this.lastEndBase = start;
  }

  /** Next record position after the last valid complete record (the start LSN until one is found). */
  get lastRecordEnd(): Lsn {
    return this.lastEndOff === 0 ? this.lastEndBase : this.lastEndBase + BigInt(this.lastEndOff);
  }

  /** End of the bytes fed so far. The next feed() must continue exactly here. */
  get available(): Lsn {
    return this.fedEnd;
  }

  get recordCount(): number {
    return this._records;
  }

  /** Set once decoding met invalid WAL; the decoder then ignores further input. */
  get error(): WalDecodeError | undefined {
    return this._error;
  }

  get errorMessage(): string | undefined {
    return this._error && `${this._error.message} at ${formatLsn(this._error.lsn)}`;
  }

  /** Consumes bytes that continue exactly at `available`. Never throws on bad WAL: check `error`. */
  feed(buf: Uint8Array): void {
    this.fedEnd += BigInt(buf.length);
    if (this.state === State.Failed) return;
    const n = buf.length;
    let i = 0;
    while (i < n) {
      if (this.state === State.Skip) {
        const k = Math.min(this.skipLeft, n - i);
        i += k;
        this.advance(k);
        this.skipLeft -= k;
        if (this.skipLeft === 0) this.state = State.WaitRecord;
        continue;
      }

      const pageOff = this.off & PAGE_MASK;
      if (pageOff === 0) {
        // Page header first. off stays at the page start until the whole header is here.
        const hlen = this.off === 0 ? SIZE_OF_LONG_PAGE_HEADER : SIZE_OF_SHORT_PAGE_HEADER;
        let hb: Uint8Array = buf;
        let hs = i;
        if (this.phdrHave === 0 && n - i >= hlen) {
          i += hlen;
        } else {
          const k = Math.min(hlen - this.phdrHave, n - i);
          this.phdr.set(buf.subarray(i, i + k), this.phdrHave);
          this.phdrHave += k;
          i += k;
          if (this.phdrHave < hlen) break;
          this.phdrHave = 0;
          hb = this.phdr;
          hs = 0;
        }
        if (!this.checkPageHeader(hb, hs)) return;
        this.off += hlen;
        continue;
      }

      const pageLeft = XLOG_BLCKSZ - pageOff;
      if (this.state === State.WaitRecord) {
        const avail = n - i;
        if (avail >= 4) {
          const totLen = u32(buf, i);
          if (totLen < SIZE_OF_RECORD_HEADER) {
            this.fail(`invalid xl_tot_len ${totLen}`, this.segBase + BigInt(this.off));
            return;
          }
          if (totLen <= pageLeft && totLen <= avail) {
            // Fast path: whole record in this page and this chunk.
            let crc = crcAny(buf, i + SIZE_OF_RECORD_HEADER, i + totLen, 0);
            crc = crcRange(buf, i, i + RECORD_CRC_OFFSET, crc);
            const startOff = this.off;
            const startBase = this.segBase;
            if (crc !== u32(buf, i + RECORD_CRC_OFFSET)) {
              this.fail('WAL record crc mismatch', startBase + BigInt(startOff));
              return;
            }
            const rmid = buf[i + 17];
            const info = buf[i + 16];
            i += totLen;
            this.advance(totLen);
            this.completed(startBase, startOff, totLen, rmid, info);
            continue;
          }
        }
        // Slow path: the record spans pages or feeds.
        this.state = State.InRecord;
        this.recGot = 0;
        this.totLen = 0;
        this.crc = 0;
        this.recStartBase = this.segBase;
        this.recStartOff = this.off;
      }

      // State.InRecord
      if (this.recGot < SIZE_OF_RECORD_HEADER) {
        const k = Math.min(SIZE_OF_RECORD_HEADER - this.recGot, pageLeft, n - i);
        this.recHdr.set(buf.subarray(i, i + k), this.recGot);
        this.recGot += k;
        i += k;
        this.advance(k);
        if (this.totLen === 0 && this.recGot >= 4) {
          const totLen = u32(this.recHdr, 0);
          if (totLen < SIZE_OF_RECORD_HEADER) {
            this.fail(`invalid xl_tot_len ${totLen}`, this.recStartBase + BigInt(this.recStartOff));
            return;
          }
          this.totLen = totLen;
        }
        if (this.recGot === SIZE_OF_RECORD_HEADER && this.totLen === SIZE_OF_RECORD_HEADER) {
          if (!this.finishSlowRecord()) return;
        }
        continue;
      }
      const k = Math.min(this.totLen - this.recGot, pageLeft, n - i);
      this.crc = crcAny(buf, i, i + k, this.crc);
      this.recGot += k;
      i += k;
      this.advance(k);
      if (this.recGot === this.totLen && !this.finishSlowRecord()) return;
    }
  }

  private setSegBaseParts(): void {
    this.segBaseLo = Number(this.segBase & 0xffffffffn);
    this.segBaseHi = Number(this.segBase >> 32n);
  }

  private advance(k: number): void {
    this.off += k;
    if (this.off >= this.walSegSize) {
      this.off -= this.walSegSize;
      this.segBase += this.segSizeBig;
      this.setSegBaseParts();
    }
  }

  private checkPageHeader(b: Uint8Array, s: number): boolean {
    const pageLsn = (): Lsn => this.segBase + BigInt(this.off);
    const magic = b[s] | (b[s + 1] << 8);
    if (magic !== this.magic) {
      return this.fail(`invalid xlog page header: xlp_magic=${magic}, expected ${this.magic}`, pageLsn());
    }
    // segBase's low word is a multiple of the segment size, so adding off never carries.
    if (u32(b, s + 8) !== this.segBaseLo + this.off || u32(b, s + 12) !== this.segBaseHi) {
      const got = (BigInt(u32(b, s + 12)) << 32n) | BigInt(u32(b, s + 8));
      return this.fail(`invalid xlog page header: xlp_pageaddr=${formatLsn(got)}, expected ${formatLsn(pageLsn())}`, pageLsn());
    }
    const info = b[s + 2] | (b[s + 3] << 8);
    const remLen = u32(b, s + 16);
    const cont = (info & XLP_FIRST_IS_CONTRECORD) !== 0;
    if (this.state === State.WaitRecord) {
      // A set flag with rem_len 0 is what first-segment initialisation writes when the
      // stream starts right after the header (storage.md §3.3); nothing to skip then.
      if (remLen !== 0) {
        return this.fail(
          cont
            ? `invalid xlog page header: XLP_FIRST_IS_CONTRECORD with xlp_rem_len=${remLen} at a record boundary`
            : `invalid xlog page header: xlp_rem_len=${remLen}, but it's not a contrecord`,
          pageLsn(),
        );
      }
      return true;
    }
    // InRecord
    if (this.totLen === 0) {
      return this.fail('record header split across a page before xl_tot_len', this.recStartBase + BigInt(this.recStartOff));
    }
    if (!cont) return this.fail('invalid xlog page header: XLP_FIRST_IS_CONTRECORD expected, not found', pageLsn());
    const expected = this.totLen - this.recGot;
    if (remLen !== expected) {
      return this.fail(`invalid xlog page header: xlp_rem_len=${remLen}, expected ${expected}`, pageLsn());
    }
    return true;
  }

  private finishSlowRecord(): boolean {
    const h = this.recHdr;
    const crc = crcRange(h, 0, RECORD_CRC_OFFSET, this.crc);
    if (crc !== u32(h, RECORD_CRC_OFFSET)) {
      return this.fail('WAL record crc mismatch', this.recStartBase + BigInt(this.recStartOff));
    }
    this.completed(this.recStartBase, this.recStartOff, this.totLen, h[17], h[16]);
    return true;
  }

  /** A valid record ended at the current position: compute the next record position. */
  private completed(startBase: bigint, startOff: number, totLen: number, rmid: number, info: number): void {
    let skip: number;
    if (isXlogSwitch(rmid, info)) {
      skip = this.off === 0 ? 0 : this.walSegSize - this.off;
    } else {
      skip = (8 - (this.off & 7)) & 7;
    }
    this.lastEndBase = this.segBase;
    this.lastEndOff = this.off + skip;
    this._records++;
    if (skip > 0) {
      this.state = State.Skip;
      this.skipLeft = skip;
    } else {
      this.state = State.WaitRecord;
    }
    if (this.onRecord) {
      this.onRecord({ start: startBase + BigInt(startOff), next: this.lastRecordEnd, totLen, rmid, info });
    }
  }

  private fail(message: string, lsn: Lsn): false {
    this._error = { message, lsn };
    this.state = State.Failed;
    return false;
  }
}
