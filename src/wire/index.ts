// PostgreSQL v3 wire layer: pure encode/decode, no socket I/O.

export { WireError, SqlState, type SqlStateCode } from './errors.js';
export * from './constants.js';
export { Writer } from './writer.js';
export { Reader, decodeUtf8 } from './reader.js';
export type { Frame } from './frame.js';
export { FrameReader, type FramePhase, type FrameReaderOptions } from './frame-reader.js';
export { BackendFrameReader, type BackendFrame } from './backend-frame-reader.js';
export { parseStartup, type StartupPacket } from './startup.js';
export { parseStartupOptions, splitStartupOptions, type StartupOptions } from './options.js';
export { parseQuery, classifyQuery, type SafekeeperQuery, type SafekeeperQueryKind } from './query.js';
export {
  BackendSerializer,
  ENCRYPTION_REFUSED,
  textField,
  int4Field,
  int8Field,
  type FieldDescription,
} from './backend-serializer.js';
export { COPY_DATA_HEADER_SIZE, copyDataHeader } from './copy-data.js';
export { FrontendSerializer } from './frontend-serializer.js';
export {
  parsePasswordMessage,
  parseParseMessage,
  parseBindMessage,
  parseDescribeMessage,
  parseExecuteMessage,
  parseCloseMessage,
  parseCopyFail,
} from './frontend-parser.js';
export {
  parseBackendMessage,
  parseAuthentication,
  parseParameterStatus,
  parseBackendKeyData,
  parseReadyForQuery,
  parseErrorFields,
  parseCommandComplete,
  parseRowDescription,
  parseDataRow,
  parseDataRowText,
  parseCopyBothResponse,
  parseParameterDescription,
  type BackendMessage,
  type RowField,
} from './backend-parser.js';
