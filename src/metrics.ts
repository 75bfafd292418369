// Prometheus metrics under Neon's names (observability.md §1), on one
// prom-client registry per process. Hot-path code does not touch these per
// message: the receive path updates counters once per batch and per fsync, and
// socket byte counts are only read at scrape time (ioSources).

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const DISK_FSYNC_SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30];
const QUERY_LABELS = ['START_WAL_PUSH', 'START_REPLICATION', 'IDENTIFY_SYSTEM', 'TIMELINE_STATUS', 'JSON_CTRL'] as const;
export type CountedQuery = (typeof QUERY_LABELS)[number];

/** Per-timeline values, gathered at scrape time. LSNs are bigint; the gauge sees a float. */
export interface TimelineMetricsSnapshot {
  tenantId: string;
  timelineId: string;
  active: boolean;
  commitLsn: bigint;
  flushLsn: bigint;
  epochStartLsn: bigint;
  peerHorizonLsn: bigint;
  backupLsn: bigint;
  remoteConsistentLsn: bigint;
  term: bigint;
  connectedComputes: number;
  psLastReceivedLsn: bigint;
  feedbackLastTimeSeconds: number;
  psFeedbackCount: number;
  writtenWalBytes: number;
  writtenWalSeconds: number;
  flushedWalSeconds: number;
}

export class SafekeeperMetrics {
  readonly registry = new Registry();

  readonly walReceivers: Gauge;
  readonly queueDepth: Histogram;
  readonly queueDepthTotal: Gauge;
  readonly queueSizeTotal: Gauge;
  readonly writeWalBytes: Histogram;
  readonly writeWalSeconds: Histogram;
  readonly flushWalSeconds: Histogram;
  readonly persistControlFileSeconds: Histogram;
  readonly walStorageOperationSeconds: Histogram<'operation'>;
  readonly miscOperationSeconds: Histogram<'operation'>;
  readonly pgQueriesReceived: Counter<'query'>;
  readonly pgQueriesFinished: Counter<'query'>;
  readonly pgIoBytes: Counter<'client_az' | 'sk_az' | 'app_name' | 'dir' | 'same_az'>;
  readonly removedWalSegments: Counter;
  readonly receivedPsFeedbacks: Counter;
  readonly metricHandlerRequests: Counter;
  /** Ours, not Neon's (Neon's metrics get no new labels): WAL push connections by protocol version. */
  readonly walPushConnections: Gauge<'proto_version'>;
  readonly walPushConnectionsTotal: Counter<'proto_version'>;
  /** Ours: I/O errors on timeline files, by the failing system call. */
  readonly ioErrors: Counter<'operation'>;
  /** Called at scrape time to move socket byte counts into safekeeper_pg_io_bytes_total. */
  private readonly ioSources = new Set<() => void>();

  /** `processMetrics` false: no prom-client default metrics (whose event-loop monitor never stops). */
  constructor(timelines: () => TimelineMetricsSnapshot[] = () => [], processMetrics = true) {
    const registers = [this.registry];
    this.walReceivers = new Gauge({ name: 'safekeeper_wal_receivers', help: 'Number of WAL receivers', registers });
    this.queueDepth = new Histogram({
      name: 'safekeeper_wal_receiver_queue_depth',
      help: 'Number of queued messages per WAL receiver (sampled every 5 seconds)',
      buckets: [0, 1, 2, 4, 8, 16, 32, 64, 128, 255, 256],
      registers,
    });
    this.queueDepthTotal = new Gauge({
      name: 'safekeeper_wal_receiver_queue_depth_total',
      help: 'Total number of queued messages across all WAL receivers',
      registers,
    });
    this.queueSizeTotal = new Gauge({
      name: 'safekeeper_wal_receiver_queue_size_total',
      help: 'Total memory byte size of queued messages across all WAL receivers',
      registers,
    });
    this.writeWalBytes = new Histogram({
      name: 'safekeeper_write_wal_bytes',
      help: 'Bytes written to WAL in a single request',
      buckets: [1, 10, 100, 1024, 8192, 128 * 1024, 1024 * 1024, 10 * 1024 * 1024],
      registers,
    });
    this.writeWalSeconds = new Histogram({
      name: 'safekeeper_write_wal_seconds',
      help: 'Seconds spent writing and syncing WAL to a disk in a single request',
      buckets: DISK_FSYNC_SECONDS_BUCKETS,
      registers,
    });
    this.flushWalSeconds = new Histogram({
      name: 'safekeeper_flush_wal_seconds',
      help: 'Seconds spent syncing WAL to a disk',
      buckets: DISK_FSYNC_SECONDS_BUCKETS,
      registers,
    });
    this.persistControlFileSeconds = new Histogram({
      name: 'safekeeper_persist_control_file_seconds',
      help: 'Seconds to persist and sync control file',
      buckets: DISK_FSYNC_SECONDS_BUCKETS,
      registers,
    });
    this.walStorageOperationSeconds = new Histogram({
      name: 'safekeeper_wal_storage_operation_seconds',
      help: 'Seconds spent on WAL storage operations',
      labelNames: ['operation'],
      buckets: DISK_FSYNC_SECONDS_BUCKETS,
      registers,
    });
    this.miscOperationSeconds = new Histogram({
      name: 'safekeeper_misc_operation_seconds',
      help: 'Seconds spent on miscellaneous operations',
      labelNames: ['operation'],
      buckets: DISK_FSYNC_SECONDS_BUCKETS,
      registers,
    });
    this.pgQueriesReceived = new Counter({
      name: 'safekeeper_pg_queries_received_total',
      help: 'Number of queries received through pg protocol',
      labelNames: ['query'],
      registers,
    });
    this.pgQueriesFinished = new Counter({
      name: 'safekeeper_pg_queries_finished_total',
      help: 'Number of queries finished through pg protocol',
      labelNames: ['query'],
      registers,
    });
    this.pgIoBytes = new Counter({
      name: 'safekeeper_pg_io_bytes_total',
      help: 'Bytes read from or written to any PostgreSQL connection',
      labelNames: ['client_az', 'sk_az', 'app_name', 'dir', 'same_az'],
      registers,
      collect: () => {
        for (const account of this.ioSources) account();
      },
    });
    this.removedWalSegments = new Counter({
      name: 'safekeeper_removed_wal_segments_total',
      help: 'Number of WAL segments removed from the disk',
      registers,
    });
    this.receivedPsFeedbacks = new Counter({
      name: 'safekeeper_received_ps_feedbacks_total',
      help: 'Number of pageserver feedbacks received',
      registers,
    });
    this.metricHandlerRequests = new Counter({
      name: 'libmetrics_metric_handler_requests_total',
      help: 'Number of metric requests made',
      registers,
    });
    new Gauge({
      name: 'libmetrics_build_info',
      help: 'Build/version information',
      labelNames: ['revision', 'build_tag'],
      registers,
    }).set({ revision: process.env.GIT_VERSION ?? 'unknown', build_tag: 'safekeeper-ts' }, 1);
    this.walPushConnections = new Gauge({
      name: 'safekeeper_ts_wal_push_connections',
      help: 'Open START_WAL_PUSH connections, by the protocol version they asked for',
      labelNames: ['proto_version'],
      registers,
    });
    this.walPushConnectionsTotal = new Counter({
      name: 'safekeeper_ts_wal_push_connections_total',
      help: 'START_WAL_PUSH connections accepted, by the protocol version they asked for',
      labelNames: ['proto_version'],
      registers,
    });
    this.ioErrors = new Counter({
      name: 'safekeeper_ts_io_errors_total',
      help: 'I/O errors on timeline files, by operation; the timeline stops serving until a restart',
      labelNames: ['operation'],
      registers,
    });
    for (const v of ['2', '3']) {
      this.walPushConnections.set({ proto_version: v }, 0);
      this.walPushConnectionsTotal.inc({ proto_version: v }, 0);
    }
    for (const q of QUERY_LABELS) {
      this.pgQueriesReceived.inc({ query: q }, 0);
      this.pgQueriesFinished.inc({ query: q }, 0);
    }
    this.registerTimelineCollector(timelines);
    if (processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  private registerTimelineCollector(timelines: () => TimelineMetricsSnapshot[]): void {
    const registers = [this.registry];
    const labelNames = ['tenant_id', 'timeline_id'] as const;
    const perTimeline = (name: string, help: string, pick: (t: TimelineMetricsSnapshot) => number | bigint) => ({
      gauge: new Gauge({ name, help, labelNames, registers }),
      pick,
    });
    const families: Array<{ gauge: Gauge<'tenant_id' | 'timeline_id'>; pick: (t: TimelineMetricsSnapshot) => number | bigint }> = [];
    // Registered first: prom-client collects in registration order, and this one fills the rest.
    const collectSeconds = new Gauge({
      name: 'safekeeper_collect_timeline_metrics_seconds',
      help: 'Time spent collecting timeline metrics, including obtaining mutex lock for all timelines',
      registers,
      collect() {
        const started = process.hrtime.bigint();
        const all = timelines();
        for (const f of families) f.gauge.reset();
        let active = 0;
        for (const t of all) {
          if (!t.active) continue;
          active++;
          const labels = { tenant_id: t.tenantId, timeline_id: t.timelineId };
          for (const f of families) f.gauge.set(labels, Number(f.pick(t)));
        }
        timelinesGauge.set(all.length);
        activeGauge.set(active);
        this.set(Number(process.hrtime.bigint() - started) / 1e9);
      },
    });
    void collectSeconds;
    const timelinesGauge = new Gauge({ name: 'safekeeper_timelines', help: 'Total number of timelines loaded in-memory', registers });
    const activeGauge = new Gauge({ name: 'safekeeper_active_timelines', help: 'Total number of active timelines', registers });
    families.push(
      perTimeline('safekeeper_commit_lsn', 'Current commit_lsn (not necessarily persisted)', (t) => t.commitLsn),
      perTimeline('safekeeper_flush_lsn', 'Current flush_lsn', (t) => t.flushLsn),
      perTimeline('safekeeper_epoch_start_lsn', 'Point since which compute generates new WAL in the current consensus term', (t) => t.epochStartLsn),
      perTimeline('safekeeper_peer_horizon_lsn', 'LSN of the most lagging safekeeper', (t) => t.peerHorizonLsn),
      perTimeline('safekeeper_backup_lsn', 'Current backup_lsn, up to which WAL is backed up', (t) => t.backupLsn),
      perTimeline('safekeeper_remote_consistent_lsn', 'Current remote_consistent_lsn (pageserver)', (t) => t.remoteConsistentLsn),
      perTimeline('safekeeper_acceptor_term', 'Current consensus term', (t) => t.term),
      perTimeline('safekeeper_connected_computes', 'Number of connected compute nodes', (t) => t.connectedComputes),
      perTimeline('safekeeper_timeline_active', 'Reports 1 for active timelines, 0 for inactive', (t) => (t.active ? 1 : 0)),
      perTimeline('safekeeper_wal_backup_active', 'Reports 1 for timelines with active WAL backup', () => 0),
      perTimeline('safekeeper_ps_last_received_lsn', 'Last LSN received by the pageserver', (t) => t.psLastReceivedLsn),
      perTimeline('safekeeper_feedback_last_time_seconds', 'Timestamp of the last feedback from the pageserver', (t) => t.feedbackLastTimeSeconds),
      perTimeline('safekeeper_ps_feedback_count_total', 'Number of feedbacks received from the pageserver', (t) => t.psFeedbackCount),
      perTimeline('safekeeper_written_wal_bytes_total', 'Number of WAL bytes written to disk since load', (t) => t.writtenWalBytes),
      perTimeline('safekeeper_written_wal_seconds_total', 'Seconds spent writing WAL since load', (t) => t.writtenWalSeconds),
      perTimeline('safekeeper_flushed_wal_seconds_total', 'Seconds spent syncing WAL since load', (t) => t.flushedWalSeconds),
    );
  }

  /** Registers a connection's byte accounting, run at every scrape until the returned function is called. */
  addIoSource(account: () => void): () => void {
    this.ioSources.add(account);
    return () => this.ioSources.delete(account);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    this.metricHandlerRequests.inc();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
