// One simulated run (issue 10, item 1): 3-5 acceptors running the project's
// real server code above the socket (listener accept path, query phase,
// connection actor, batches, timeline, acceptor, storage) on simulated disks,
// and 2-3 proposers running the project's proposer client, each with its own
// WAL log, recovering what it lacks from the donor over START_REPLICATION.
// A nemesis crashes and restarts processes, drops connections and partitions
// hosts. The checker (./checker.ts) looks at everything after every step.

import { Proposer, MemoryWalLog, WalGenerator, type ElectionInfo } from '../../src/client/index.js';
import { Safekeeper } from '../../src/safekeeper.js';
import { silentLogger } from '../../src/log.js';
import { formatLsn, type Lsn } from '../../src/lsn.js';
import type { Ttid } from '../../src/ids.js';
import { Checker } from './checker.js';
import { SimDisk, type DiskBugs } from './disk.js';
import { SimNetwork } from './network.js';
import { Incarnation, Rng, Scheduler, settle } from './scheduler.js';

export const START_LSN = 0x1000028n;
const SYSTEM_ID = 7439181208386574123n;
const PG_PORT = 5454;
const DATADIR = '/data';

export interface SimOptions {
  seed: number;
  /** Virtual milliseconds to run. */
  durationMs?: number;
  /** Planted bugs (tests show the checker catches each). */
  bugs?: DiskBugs;
  /** Every trace line as it happens. */
  onTrace?: (line: string) => void;
}

export interface SimResult {
  seed: number;
  violations: string[];
  trace: string[];
  steps: number;
  /** Highest quorum commit any proposer saw, and how many elections happened. */
  committedLsn: Lsn;
  elections: number;
  crashes: number;
}

class AcceptorNode {
  readonly host: string;
  readonly disk: SimDisk;
  inc: Incarnation | null = null;
  sk: Safekeeper | null = null;
  up = false;
  lives = 0;

  constructor(
    readonly world: World,
    readonly id: number,
  ) {
    this.host = `sk${id}`;
    this.disk = new SimDisk(world.sched, this.host, 0.5, world.bugs);
    this.disk.prepareDir(DATADIR);
  }

  get address(): string {
    return `${this.host}:${PG_PORT}`;
  }

  start(): void {
    if (this.inc) return;
    const w = this.world;
    const inc = new Incarnation(`${this.host}#${++this.lives}`);
    this.inc = inc;
    const sk = new Safekeeper({
      datadir: DATADIR,
      nodeId: BigInt(this.id),
      listenPg: null,
      listenHttp: null,
      noSync: false,
      logger: silentLogger(),
      controlFileSaveIntervalMs: w.rng.int(50, 2000),
      fs: this.disk.view(inc),
      clock: w.sched.clockFor(inc),
      randomBytes: (n) => w.rng.bytes(n),
      metrics: false,
    });
    this.sk = sk;
    w.trace(`${inc.name} starting`);
    sk.start().then(
      () => {
        if (!inc.alive) return;
        this.up = true;
        w.checker.acceptorStarted(this);
        w.net.listen(this.address, inc, (conn) => sk.accept(conn));
        w.trace(`${inc.name} up`);
      },
      (err: Error) => {
        if (inc.alive) w.checker.violation(`${inc.name} failed to start: ${err.message}`);
      },
    );
  }

  crash(): void {
    if (!this.inc) return;
    const w = this.world;
    w.trace(`${this.inc.name} CRASH`);
    w.checker.acceptorCrashed(this);
    this.inc.alive = false;
    this.up = false;
    this.sk = null;
    w.net.crashHost(this.host);
    this.disk.crash();
    this.inc = null;
  }

  /** The timeline as this incarnation holds it, once loaded or created. */
  timeline() {
    return this.up ? (this.sk?.timelines.get(this.world.ttid) ?? null) : null;
  }
}

class ProposerNode {
  readonly host: string;
  inc: Incarnation | null = null;
  proposer: Proposer | null = null;
  wal: MemoryWalLog | null = null;
  gen: WalGenerator | null = null;
  lives = 0;

  constructor(
    readonly world: World,
    readonly index: number,
  ) {
    this.host = `p${index}`;
  }

  start(): void {
    if (this.inc || this.world.ending) return;
    const w = this.world;
    const inc = new Incarnation(`${this.host}#${++this.lives}`);
    this.inc = inc;
    const wal = new MemoryWalLog(START_LSN);
    this.wal = wal;
    this.gen = null;
    const p = new Proposer({
      safekeepers: w.acceptors.map((a) => a.address),
      tenantId: w.ttid.tenantId,
      timelineId: w.ttid.timelineId,
      systemId: SYSTEM_ID,
      pgVersion: 150002,
      wal,
      protocolVersion: w.protocolVersion,
      reconnectIntervalMs: 50,
      connectionTimeoutMs: 500,
      maxInflightBytes: 256 * 1024,
      donorRecovery: true,
      applicationName: inc.name,
      connect: w.net.connector(this.host),
      clock: w.sched.clockFor(inc),
      randomBytes: (n) => w.rng.bytes(n),
      logger: w.opts.onTrace ? traceLogger(w, inc.name) : undefined,
    });
    this.proposer = p;
    w.trace(`${inc.name} starting`);
    p.on('vote', (sk, v) => inc.alive && w.checker.onVote(inc, sk.nodeId, v));
    p.on('response', (sk, r) => inc.alive && w.checker.onResponse(inc, sk.nodeId, r));
    p.on('commit', (lsn) => inc.alive && w.checker.onCommit(inc, this, lsn));
    p.on('elected', (info) => inc.alive && this.elected(inc, info));
    p.on('error', (err) => {
      if (!inc.alive) return;
      w.trace(`${inc.name} died: ${err.message}`);
      this.stop();
      w.sched.at(w.rng.int(20, 300), () => this.start());
    });
    p.start().catch(() => undefined);
  }

  private elected(inc: Incarnation, info: ElectionInfo): void {
    const w = this.world;
    w.trace(`${inc.name} ELECTED term=${info.term} epochStart=${formatLsn(info.epochStartLsn)} donor=${info.donor}`);
    w.checker.onElected(inc, this, info);
    this.gen = new WalGenerator({ startLsn: this.wal!.end, systemId: SYSTEM_ID, pgVersion: 150002, seed: w.rng.int(1, 1e9) });
    const pump = () => {
      if (!inc.alive || !this.proposer) return;
      const g = this.gen!;
      const n = w.rng.int(1, 3);
      for (let i = 0; i < n; i++) g.appendRecord(w.rng.chance(0.1) ? w.rng.int(2000, 9000) : w.rng.int(20, 300));
      const chunk = g.take();
      this.proposer.appendWal(chunk.bytes);
      w.sched.at(w.rng.int(1, 15), pump, inc);
    };
    w.sched.at(w.rng.int(0, 5), pump, inc);
  }

  /** Dies where it stands (a crash): connections reset, nothing more sent. */
  stop(): void {
    if (!this.inc) return;
    const inc = this.inc;
    inc.alive = false;
    this.inc = null;
    this.world.net.crashHost(this.host);
    void this.proposer?.stop().catch(() => undefined);
    this.proposer = null;
  }
}

/** The proposer's log lines in the trace (verbose runs only). */
function traceLogger(w: World, who: string) {
  const line = (level: string) => (_o: object, msg: string) => w.trace(`${who} ${level}: ${msg}`);
  return { debug: () => undefined, info: line('info'), warn: line('warn'), error: line('error') };
}

export class World {
  readonly rng: Rng;
  readonly sched: Scheduler;
  readonly net: SimNetwork;
  readonly acceptors: AcceptorNode[] = [];
  readonly proposers: ProposerNode[] = [];
  readonly checker: Checker;
  readonly ttid: Ttid;
  readonly protocolVersion: 2 | 3;
  readonly lines: string[] = [];
  crashes = 0;
  /** The final check runs: no more faults or proposer restarts. */
  ending = false;

  constructor(
    readonly opts: SimOptions,
    readonly bugs: DiskBugs = opts.bugs ?? {},
  ) {
    this.rng = new Rng(opts.seed);
    this.sched = new Scheduler(this.rng);
    this.net = new SimNetwork(this.sched, 2);
    this.ttid = { tenantId: this.rng.bytes(16).toString('hex'), timelineId: this.rng.bytes(16).toString('hex') };
    this.protocolVersion = this.rng.chance(0.5) ? 2 : 3;
    this.checker = new Checker(this);
    const nAcceptors = this.rng.int(3, 5);
    const nProposers = this.rng.int(2, 3);
    for (let i = 1; i <= nAcceptors; i++) this.acceptors.push(new AcceptorNode(this, i));
    for (let i = 1; i <= nProposers; i++) this.proposers.push(new ProposerNode(this, i));
    this.trace(`seed ${opts.seed}: ${nAcceptors} acceptors, ${nProposers} proposers, protocol v${this.protocolVersion}`);
  }

  trace(line: string): void {
    const l = `${this.sched.now.toFixed(3).padStart(10)} ms  ${line}`;
    this.lines.push(l);
    this.opts.onTrace?.(l);
  }

  async run(): Promise<SimResult> {
    const duration = this.opts.durationMs ?? 1000;
    for (const a of this.acceptors) a.start();
    for (const p of this.proposers) this.sched.at(this.rng.int(0, 100), () => p.start());
    this.sched.at(this.rng.int(10, 60), () => this.nemesis());
    await settle();
    while (this.sched.now < duration && this.checker.violations.length === 0) {
      if (!this.sched.step()) break;
      await settle();
      this.checker.afterStep();
    }
    // Stop everything; the final check: every acceptor restarted from its disk holds what it acknowledged.
    this.ending = true;
    for (const p of this.proposers) p.stop();
    for (const a of this.acceptors) {
      if (this.checker.violations.length > 0) break;
      a.crash();
      a.start();
      for (let i = 0; i < 100000 && !a.up && this.checker.violations.length === 0; i++) {
        if (!this.sched.step()) break;
        await settle();
      }
      this.checker.afterStep();
      a.crash();
    }
    return {
      seed: this.opts.seed,
      violations: this.checker.violations,
      trace: this.lines,
      steps: this.sched.steps,
      committedLsn: this.checker.committedEnd,
      elections: this.checker.elections,
      crashes: this.crashes,
    };
  }

  /** Faults at seeded moments: crashes, dropped connections, partitions, proposer restarts. */
  private nemesis(): void {
    if (this.ending) return;
    const r = this.rng;
    const roll = r.next();
    if (roll < 0.3) {
      const a = r.pick(this.acceptors);
      if (a.inc) {
        this.crashes++;
        a.crash();
        this.sched.at(r.int(5, 300), () => a.start());
      }
    } else if (roll < 0.5) {
      if (this.net.dropRandom()) this.trace('a connection dropped');
    } else if (roll < 0.65) {
      const hosts = [...this.acceptors.map((a) => a.host), ...this.proposers.map((p) => p.host)];
      const x = r.pick(hosts);
      const y = r.pick(hosts.filter((h) => h !== x));
      this.net.partition(x, y);
      this.trace(`partition ${x} | ${y}`);
      this.sched.at(r.int(20, 400), () => {
        this.net.heal();
        this.trace('partitions healed');
      });
    } else if (roll < 0.8) {
      const p = r.pick(this.proposers);
      if (p.inc) {
        this.trace(`${p.inc.name} CRASH`);
        this.crashes++;
        p.stop();
        this.sched.at(r.int(10, 300), () => p.start());
      }
    }
    this.sched.at(r.int(10, 150), () => this.nemesis());
  }
}
