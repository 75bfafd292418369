import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fixturePath } from '../helpers/paths.js';
import {
  BackendSerializer,
  FrontendSerializer,
  WireError,
  parseBackendMessage,
  parseBindMessage,
  parseCloseMessage,
  parseCopyFail,
  parseDataRowText,
  parseDescribeMessage,
  parseErrorFields,
  parseExecuteMessage,
  parseParseMessage,
  parsePasswordMessage,
  parseRowDescription,
  textField,
  int4Field,
  FrameReader,
} from '../../src/wire/index.js';

const hex = (b: Buffer): string => b.toString('hex');
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
const fe = (): FrontendSerializer => new FrontendSerializer();

interface FixtureEvent {
  dir: string;
  type: string;
  len: number;
  hex: string;
  sha256?: string;
}
const session = JSON.parse(readFileSync(fixturePath('walproposer-v2-session.json'), 'utf8')) as FixtureEvent[];
const event = (type: string): FixtureEvent => session.find((e) => e.dir === 'c2s' && e.type === type)!;
const TENANT = '0123456789abcdef0123456789abcdef';
const TIMELINE = 'fedcba9876543210fedcba9876543210';

describe('frontend serializers against the captured walproposer session', () => {
  test('SSLRequest', () => {
    assert.equal(hex(fe().sslRequest().flush()), '00000008' + event('SSLRequest').hex);
  });

  test('StartupMessage: first 96 body bytes, total length and sha256 match libpq', () => {
    const e = event('Startup');
    const out = fe().startupMessage(new Map([['user', 'root'], ['database', 'replication'], ['options', `-c timeline_id=${TIMELINE} tenant_id=${TENANT}`]])).flush();
    assert.equal(out.readUInt32BE(0), e.len + 4);
    assert.equal(hex(out.subarray(4, 4 + 96)), e.hex);
    assert.equal(createHash('sha256').update(out.subarray(4)).digest('hex'), e.sha256);
  });

  test('Query START_WAL_PUSH', () => {
    assert.equal(hex(fe().query('START_WAL_PUSH').flush()), '5100000013' + event('Q').hex);
  });

  test('CopyData with a ProposerGreeting', () => {
    const e = event('d');
    assert.equal(hex(fe().copyData(Buffer.from(e.hex, 'hex')).flush()), '64' + (e.len + 4).toString(16).padStart(8, '0') + e.hex);
  });

  test('Terminate', () => {
    assert.equal(event('X').len, 0);
    assert.equal(hex(fe().terminate().flush()), '5800000004');
  });
});

describe('frontend serializers, exact bytes', () => {
  test('GSSENCRequest and CancelRequest', () => {
    assert.equal(hex(fe().gssEncRequest().flush()), '0000000804d21630');
    assert.equal(hex(fe().cancelRequest(1, -1).flush()), '0000001004d2162e00000001ffffffff');
  });
  test('StartupMessage with no params is version + terminator', () => {
    assert.equal(hex(fe().startupMessage({}).flush()), '000000090003000000');
  });
  test('PasswordMessage, CopyDone, CopyFail, Sync', () => {
    assert.equal(hex(fe().passwordMessage('tok').flush()), '7000000008' + ascii('tok\0'));
    assert.equal(hex(fe().copyDone().flush()), '6300000004');
    assert.equal(hex(fe().copyFail('x').flush()), '6600000006' + ascii('x\0'));
    assert.equal(hex(fe().sync().flush()), '5300000004');
  });
  test('extended protocol: Parse, Bind, Describe, Execute, Close', () => {
    assert.equal(hex(fe().parse('IDENTIFY_SYSTEM').flush()), '5000000017' + ascii('\0IDENTIFY_SYSTEM\0') + '0000');
    assert.equal(hex(fe().bind().flush()), '420000000c' + '0000' + '000000000000');
    assert.equal(hex(fe().describeStatement().flush()), '4400000006' + ascii('S\0'));
    assert.equal(hex(fe().execute().flush()), '4500000009' + '00' + '00000000');
    assert.equal(hex(fe().closeStatement('s1').flush()), '4300000008' + ascii('Ss1\0'));
  });
});

describe('server-side frontend parsers', () => {
  const bodyOf = (b: Buffer): Buffer => b.subarray(5);

  test('PasswordMessage: the last byte is dropped, like Neon', () => {
    assert.equal(parsePasswordMessage(bodyOf(fe().passwordMessage('eyJ.a.b').flush())), 'eyJ.a.b');
    assert.equal(parsePasswordMessage(Buffer.from('abcX')), 'abc');
    assert.throws(() => parsePasswordMessage(Buffer.alloc(0)), /PasswordMessage is empty/);
  });

  test('Parse keeps the query; parameters are refused', () => {
    assert.deepEqual(parseParseMessage(bodyOf(fe().parse('TIMELINE_STATUS', 'st').flush())), { statement: 'st', query: 'TIMELINE_STATUS' });
    assert.throws(() => parseParseMessage(Buffer.from(ascii('\0q\0') + '0001', 'hex')), /query params not implemented/);
    assert.throws(() => parseParseMessage(Buffer.from(ascii('\0q\0'), 'hex')), /nparams missing/);
    assert.throws(() => parseParseMessage(Buffer.from('q')), /Parse: missing NUL terminator for statement name/);
  });

  test('Bind, Describe, Execute, Close follow Neon restrictions', () => {
    assert.deepEqual(parseBindMessage(bodyOf(fe().bind('st').flush())), { statement: 'st' });
    assert.throws(() => parseBindMessage(Buffer.from(ascii('p\0\0'), 'hex')), /named portals not implemented/);
    assert.deepEqual(parseDescribeMessage(bodyOf(fe().describeStatement().flush())), { kind: 'S', name: '' });
    assert.throws(() => parseDescribeMessage(Buffer.from(ascii('P\0'), 'hex')), /only prepared statemement Describe/);
    parseExecuteMessage(bodyOf(fe().execute().flush()));
    assert.throws(() => parseExecuteMessage(Buffer.from('0000000001', 'hex')), /row limit in Execute message not implemented/);
    assert.throws(() => parseExecuteMessage(Buffer.from(ascii('p\0') + '00000000', 'hex')), /named portals/);
    assert.throws(() => parseExecuteMessage(Buffer.from('00', 'hex')), /maxrows missing/);
    assert.deepEqual(parseCloseMessage(bodyOf(fe().closeStatement('s1').flush())), { kind: 'S', name: 's1' });
    assert.equal(parseCopyFail(bodyOf(fe().copyFail('boom').flush())), 'boom');
  });

  test('a client conversation frames and decodes end to end', () => {
    const r = new FrameReader();
    r.push(fe().startupMessage({ user: 'u', options: `-c tenant_id=${TENANT}` }).query('IDENTIFY_SYSTEM').passwordMessage('t').terminate().flush());
    assert.deepEqual([...r.frames()].map((f) => f.tag), [null, 'Q', 'p', 'X']);
  });
});

describe('client-side backend parsers', () => {
  const decode = (b: Buffer) => {
    assert.ok(b.length >= 5);
    return parseBackendMessage({ tag: String.fromCharCode(b[0]!), body: b.subarray(5) });
  };
  const be = (): BackendSerializer => new BackendSerializer();

  test('R, S, Z, K, W, d, c, C and the trivial extended answers', () => {
    assert.deepEqual(decode(be().authenticationOk().flush()), { kind: 'authentication', code: 0, data: Buffer.alloc(0) });
    assert.deepEqual(decode(be().authenticationCleartextPassword().flush()), { kind: 'authentication', code: 3, data: Buffer.alloc(0) });
    assert.deepEqual(decode(be().parameterStatus('server_version', '14.1').flush()), { kind: 'parameterStatus', name: 'server_version', value: '14.1' });
    assert.deepEqual(decode(be().readyForQuery().flush()), { kind: 'readyForQuery', status: 'I' });
    assert.deepEqual(decode(Buffer.from('4b0000000c0000002a00000007', 'hex')), { kind: 'backendKeyData', backendPid: 42, cancelKey: 7 });
    assert.deepEqual(decode(be().copyBothResponse().flush()), { kind: 'copyBothResponse', format: 0, columnFormats: [] });
    assert.deepEqual(decode(Buffer.from('570000000b0100020001' + '0000', 'hex')), { kind: 'copyBothResponse', format: 1, columnFormats: [1, 0] });
    assert.deepEqual(decode(be().copyData(Buffer.from('ab')).flush()), { kind: 'copyData', payload: Buffer.from('ab') });
    assert.deepEqual(decode(be().copyDone().flush()), { kind: 'copyDone' });
    assert.deepEqual(decode(be().commandComplete('IDENTIFY_SYSTEM').flush()), { kind: 'commandComplete', tag: 'IDENTIFY_SYSTEM' });
    assert.deepEqual(decode(be().emptyQueryResponse().flush()), { kind: 'emptyQueryResponse' });
    assert.deepEqual(decode(be().parseComplete().flush()), { kind: 'parseComplete' });
    assert.deepEqual(decode(be().bindComplete().flush()), { kind: 'bindComplete' });
    assert.deepEqual(decode(be().closeComplete().flush()), { kind: 'closeComplete' });
    assert.deepEqual(decode(be().parameterDescription().flush()), { kind: 'parameterDescription', typeOids: [] });
    assert.deepEqual(decode(be().noData().flush()), { kind: 'noData' });
    assert.deepEqual(decode(Buffer.from('7600000004', 'hex')), { kind: 'unknown', tag: 'v', body: Buffer.alloc(0) });
  });

  test('E and N give a field map', () => {
    const e = decode(be().errorResponse('tenantid is required').flush());
    assert.equal(e.kind, 'error');
    assert.ok(e.kind === 'error');
    assert.deepEqual([...e.fields], [['S', 'ERROR'], ['C', 'XX000'], ['M', 'tenantid is required']]);
    const n = decode(be().noticeResponse('hey').flush());
    assert.ok(n.kind === 'notice');
    assert.equal(n.fields.get('S'), 'NOTICE');
    // A real PostgreSQL error with more fields.
    const pg = parseErrorFields(Buffer.from(ascii('SFATAL\0VFATAL\0C28000\0Mno\0Fauth.c\0L1\0Rx\0\0'), 'hex'));
    assert.equal(pg.get('V'), 'FATAL');
    assert.equal(pg.get('R'), 'x');
    assert.equal(pg.size, 7);
  });

  test('T and D round-trip the IDENTIFY_SYSTEM reply', () => {
    const fields = parseRowDescription(be().rowDescription([textField('systemid'), int4Field('timeline')]).flush().subarray(5));
    assert.deepEqual(fields, [
      { name: 'systemid', tableOid: 0, attnum: 0, typeOid: 25, typeLen: -1, typeMod: -1, format: 0 },
      { name: 'timeline', tableOid: 0, attnum: 0, typeOid: 23, typeLen: 4, typeMod: -1, format: 0 },
    ]);
    assert.deepEqual(parseDataRowText(be().dataRow(['7712208890765003361', '1', '0/1696F28', null]).flush().subarray(5)), [
      '7712208890765003361',
      '1',
      '0/1696F28',
      null,
    ]);
    const d = decode(be().dataRow([null, '']).flush());
    assert.ok(d.kind === 'dataRow');
    assert.deepEqual(d.values, [null, Buffer.alloc(0)]);
  });

  test('malformed bodies are WireErrors naming the message', () => {
    const bad: [string, string, RegExp][] = [
      ['R', '0000', /Authentication: need 4 bytes for auth code/],
      ['S', ascii('name\0'), /ParameterStatus: missing NUL terminator for value/],
      ['Z', '4949', /ReadyForQuery: 1 unexpected trailing bytes/],
      ['E', ascii('SERROR\0'), /ErrorResponse: need 1 bytes for field code/],
      ['C', ascii('SELECT 1'), /CommandComplete: missing NUL terminator/],
      ['T', '0001' + ascii('x\0') + '0000', /RowDescription: need 4 bytes for field 0 table OID/],
      ['T', 'ffff', /negative field count/],
      ['D', '0001' + '00000005' + '61', /DataRow: need 5 bytes for column 0 value/],
      ['D', '0001' + 'fffffffe', /DataRow: invalid length -2 for column 0/],
      ['W', '00', /CopyBothResponse: need 2 bytes for column count/],
      ['K', '00000001', /BackendKeyData: need 4 bytes for cancel key/],
      ['c', '00', /CopyDone: expected an empty body, got 1 bytes/],
      ['n', '00', /NoData: expected an empty body/],
    ];
    for (const [tag, body, msg] of bad) {
      assert.throws(
        () => parseBackendMessage({ tag, body: Buffer.from(body, 'hex') }),
        (e: unknown) => e instanceof WireError && msg.test(e.message),
        `tag ${tag}`,
      );
    }
  });
});
