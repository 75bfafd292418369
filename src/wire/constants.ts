// Numbers of the PostgreSQL v3 protocol as Neon's pq_proto (de7e4a34ca) uses them.

/** StartupMessage protocol version 3.0 (major << 16 | minor). */
export const PROTOCOL_VERSION_3 = 196608;
/** Request codes in the startup phase share the reserved major version 1234. */
export const RESERVED_REQUEST_MAJOR = 1234;
export const CANCEL_REQUEST_CODE = 80877102; // 1234.5678
export const SSL_REQUEST_CODE = 80877103; // 1234.5679
export const GSSENC_REQUEST_CODE = 80877104; // 1234.5680

/** Startup packet length (counting the length word) must lie in this range (pqcomm.h MAX_STARTUP_PACKET_LENGTH). */
export const MIN_STARTUP_PACKET_LENGTH = 8;
export const MAX_STARTUP_PACKET_LENGTH = 10000;

/** First byte of a TLS record (ClientHello) — a client trying direct TLS. */
export const TLS_HANDSHAKE_BYTE = 0x16;

/**
 * Upper bound on a tagged message's length word. Neon's pq_proto at de7e4a34ca
 * has no cap at all (only len >= 4); we cap to bound per-connection memory.
 * The largest legitimate message is a v2 AppendRequest in CopyData:
 * 4 (length) + 72 (header) + 131072 (MAX_SEND_SIZE) = 131148 bytes, and
 * START_REPLICATION XLogData is similar; 1 MiB leaves ample headroom
 * (JSON_CTRL logical messages in tests included).
 */
export const DEFAULT_MAX_MESSAGE_LENGTH = 1 << 20;

/** Type OIDs for RowDescription (pg_type.h). */
export const Oid = {
  Int8: 20,
  Int4: 23,
  Text: 25,
} as const;

/** Frontend (client → server) message tags. */
export const FeTag = {
  Query: 'Q',
  Parse: 'P',
  Bind: 'B',
  Describe: 'D',
  Execute: 'E',
  Close: 'C',
  Sync: 'S',
  Flush: 'H',
  Terminate: 'X',
  CopyData: 'd',
  CopyDone: 'c',
  CopyFail: 'f',
  PasswordMessage: 'p',
} as const;

/** Backend (server → client) message tags. */
export const BeTag = {
  Authentication: 'R',
  ParameterStatus: 'S',
  BackendKeyData: 'K',
  ReadyForQuery: 'Z',
  ErrorResponse: 'E',
  NoticeResponse: 'N',
  CommandComplete: 'C',
  RowDescription: 'T',
  DataRow: 'D',
  CopyBothResponse: 'W',
  CopyData: 'd',
  CopyDone: 'c',
  EmptyQueryResponse: 'I',
  ParseComplete: '1',
  BindComplete: '2',
  CloseComplete: '3',
  ParameterDescription: 't',
  NoData: 'n',
} as const;

/** Authentication request codes carried in 'R'. */
export const AuthCode = {
  Ok: 0,
  CleartextPassword: 3,
  MD5Password: 5,
  SASL: 10,
} as const;
