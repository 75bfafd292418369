import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fixturePath } from '../helpers/paths.js';
import {
  BackendSerializer,
  COPY_DATA_HEADER_SIZE,
  ENCRYPTION_REFUSED,
  SqlState,
  Writer,
  copyDataHeader,
  int4Field,
  int8Field,
  textField,
} from '../../src/wire/index.js';

const hex = (b: Buffer): string => b.toString('hex');
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
const ser = (): BackendSerializer => new BackendSerializer();

interface FixtureEvent {
  dir: string;
  type: string;
  len: number;
  hex: string;
}
const session = JSON.parse(readFileSync(fixturePath('walproposer-v2-session.json'), 'utf8')) as FixtureEvent[];
/** The full frame the capture saw for the first server→client message of `type`. */
function capturedFrame(type: string): string {
  const e = session.find((x) => x.dir === 's2c' && x.type === type)!;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(e.len + 4);
  return ascii(type) + hex(len) + e.hex;
}

describe('backend serializers against the captured walproposer session', () => {
  test('SSL answer N', () => {
    const e = session.find((x) => x.type === 'SSLResponse')!;
    assert.equal(hex(ENCRYPTION_REFUSED), e.hex);
    assert.equal(hex(ser().encryptionResponse(false).flush()), '4e');
    assert.equal(hex(ser().encryptionResponse(true).flush()), '53');
  });
  test('AuthenticationOk', () => {
    assert.equal(capturedFrame('R'), '520000000800000000');
    assert.equal(hex(ser().authenticationOk().flush()), capturedFrame('R'));
  });
  test('ReadyForQuery', () => {
    assert.equal(hex(ser().readyForQuery().flush()), capturedFrame('Z'));
    assert.equal(hex(ser().readyForQuery().flush()), '5a0000000549');
  });
  test('CopyBothResponse (body 000000, as protocol.md §3.1 57 00 00 00 07 00 00 00)', () => {
    assert.equal(hex(ser().copyBothResponse().flush()), capturedFrame('W'));
    assert.equal(hex(ser().copyBothResponse().flush()), '5700000007000000');
  });
  test('CopyData replies, e.g. the AcceptorGreeting frame', () => {
    const e = session.find((x) => x.dir === 's2c' && x.type === 'd')!;
    assert.equal(hex(ser().copyData(Buffer.from(e.hex, 'hex')).flush()), capturedFrame('d'));
  });
});

describe('backend serializers, exact bytes', () => {
  test('AuthenticationCleartextPassword', () => {
    assert.equal(hex(ser().authenticationCleartextPassword().flush()), '520000000800000003');
  });

  test('ParameterStatus name\\0value\\0', () => {
    assert.equal(hex(ser().parameterStatus('client_encoding', 'UTF8').flush()), '53' + '00000019' + ascii('client_encoding\0UTF8\0'));
    assert.equal(hex(ser().parameterStatus('server_version', '14.1').flush()), '53' + '00000018' + ascii('server_version\0' + '14.1\0'));
  });

  test('the Trust handshake reply leaves as one buffer in Neon order', () => {
    const out = ser()
      .authenticationOk()
      .parameterStatus('client_encoding', 'UTF8')
      .parameterStatus('integer_datetimes', 'on')
      .parameterStatus('server_version', '14.1')
      .readyForQuery()
      .flush();
    assert.equal(
      hex(out),
      '520000000800000000' +
        '5300000019' + ascii('client_encoding\0UTF8\0') +
        '5300000019' + ascii('integer_datetimes\0on\0') +
        '5300000018' + ascii('server_version\0' + '14.1\0') +
        '5a0000000549',
    );
  });

  test('ErrorResponse: S ERROR, C sqlstate (default XX000), M message, terminator', () => {
    const body = ascii('SERROR\0CXX000\0Munsupported command foo\0\0');
    assert.equal(hex(ser().errorResponse('unsupported command foo').flush()), '45' + '0000002c' + body);
    assert.equal(body.length / 2 + 4, 0x2c);
    assert.equal(
      hex(ser().errorResponse('nope', SqlState.FeatureNotSupported).flush()),
      '45' + '00000019' + ascii('SERROR\0C0A000\0Mnope\0\0'),
    );
  });

  test('ErrorResponse drops embedded NULs instead of failing, and refuses a malformed SQLSTATE', () => {
    assert.equal(hex(ser().errorResponse('a\0b').flush()), hex(ser().errorResponse('ab').flush()));
    assert.throws(() => ser().errorResponse('x', 'XX00'), /SQLSTATE must be 5 characters/);
    assert.throws(() => ser().errorResponse('x', 'xx000'), RangeError);
  });

  test('NoticeResponse: same layout, severity NOTICE', () => {
    assert.equal(hex(ser().noticeResponse('hi').flush()), '4e' + '00000018' + ascii('SNOTICE\0CXX000\0Mhi\0\0'));
  });

  test('CommandComplete', () => {
    assert.equal(hex(ser().commandComplete('SELECT 1').flush()), '43' + '0000000d' + ascii('SELECT 1\0'));
    assert.equal(hex(ser().commandComplete('TIMELINE_STATUS').flush()), '43' + '00000014' + ascii('TIMELINE_STATUS\0'));
  });

  test('RowDescription for TIMELINE_STATUS: 18 bytes after each name, typmod -1', () => {
    const fieldTail = '00000000' + '0000' + '00000019' + 'ffff' + 'ffffffff' + '0000';
    assert.equal(
      hex(ser().rowDescription([textField('flush_lsn'), textField('commit_lsn')]).flush()),
      '54' + '0000003f' + '0002' + ascii('flush_lsn\0') + fieldTail + ascii('commit_lsn\0') + fieldTail,
    );
  });

  test('RowDescription for IDENTIFY_SYSTEM: systemid text, timeline int4, xlogpos text, dbname text', () => {
    const text = '00000000' + '0000' + '00000019' + 'ffff' + 'ffffffff' + '0000';
    const int4 = '00000000' + '0000' + '00000017' + '0004' + 'ffffffff' + '0000';
    const out = ser().rowDescription([textField('systemid'), int4Field('timeline'), textField('xlogpos'), textField('dbname')]).flush();
    const body = '0004' + ascii('systemid\0') + text + ascii('timeline\0') + int4 + ascii('xlogpos\0') + text + ascii('dbname\0') + text;
    assert.equal(hex(out), '54' + (body.length / 2 + 4).toString(16).padStart(8, '0') + body);
    assert.equal(out.length, 1 + 4 + 2 + 4 * 18 + 9 + 9 + 8 + 7);
  });

  test('RowDescription int8 column and zero columns', () => {
    assert.equal(hex(ser().rowDescription([int8Field('n')]).flush()), '54' + '0000001a' + '0001' + ascii('n\0') + '00000000' + '0000' + '00000014' + '0008' + 'ffffffff' + '0000');
    assert.equal(hex(ser().rowDescription([]).flush()), '54000000060000');
  });

  test('DataRow: int16 count, then int32 length + bytes, -1 for NULL', () => {
    assert.equal(hex(ser().dataRow(['1', null]).flush()), '44' + '0000000f' + '0002' + '00000001' + '31' + 'ffffffff');
    assert.equal(
      hex(ser().dataRow(['7712208890765003361', '1', '0/1696F28', null]).flush()),
      '44' + '00000033' + '0004' + '00000013' + ascii('7712208890765003361') + '00000001' + '31' + '00000009' + ascii('0/1696F28') + 'ffffffff',
    );
    assert.equal(hex(ser().dataRow(['é', '', Buffer.from([0, 1])]).flush()), '44' + '00000016' + '0003' + '00000002' + 'c3a9' + '00000000' + '00000002' + '0001');
  });

  test('CopyData, CopyDone, EmptyQueryResponse', () => {
    assert.equal(hex(ser().copyData(Buffer.from('abc')).flush()), '6400000007616263');
    assert.equal(hex(ser().copyData(Buffer.alloc(0)).flush()), '6400000004');
    assert.equal(hex(ser().copyDone().flush()), '6300000004');
    assert.equal(hex(ser().emptyQueryResponse().flush()), '4900000004');
  });

  test('extended-protocol trivial answers', () => {
    assert.equal(hex(ser().parseComplete().flush()), '3100000004');
    assert.equal(hex(ser().bindComplete().flush()), '3200000004');
    assert.equal(hex(ser().closeComplete().flush()), '3300000004');
    assert.equal(hex(ser().parameterDescription().flush()), '74000000060000');
    assert.equal(hex(ser().noData().flush()), '6e00000004');
  });

  test('a shared Writer lets serializers be reused across replies', () => {
    const w = new Writer(8);
    const s = new BackendSerializer(w);
    assert.equal(hex(s.commandComplete('SELECT 1').readyForQuery().flush()), '430000000d' + ascii('SELECT 1\0') + '5a0000000549');
    assert.equal(hex(s.readyForQuery().flushView()), '5a0000000549');
    assert.equal(s.writer, w);
  });
});

describe('copyDataHeader', () => {
  test('5 bytes: d + payload length + 4', () => {
    assert.equal(COPY_DATA_HEADER_SIZE, 5);
    assert.equal(hex(copyDataHeader(3)), '6400000007');
    assert.equal(hex(copyDataHeader(72 + 131072)), '640002004c');
  });

  test('header + payload equals the serialized CopyData', () => {
    const payload = Buffer.from('61000000000000000300', 'hex');
    assert.equal(hex(Buffer.concat([copyDataHeader(payload.length), payload])), hex(ser().copyData(payload).flush()));
  });

  test('writes into a caller buffer at an offset', () => {
    const target = Buffer.alloc(8, 0xee);
    const out = copyDataHeader(1, target, 2);
    assert.equal(out, target);
    assert.equal(hex(target), 'eeee6400000005ee');
  });
});
