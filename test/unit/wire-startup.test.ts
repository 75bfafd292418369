import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FrontendSerializer,
  WireError,
  parseStartup,
  parseStartupOptions,
  splitStartupOptions,
} from '../../src/wire/index.js';

const TENANT = '0123456789abcdef0123456789abcdef';
const TIMELINE = 'fedcba9876543210fedcba9876543210';

/** Body of a startup-phase packet (after the length word). */
const bodyOf = (packet: Buffer): Buffer => packet.subarray(4);

describe('parseStartup', () => {
  test('SSLRequest, GSSENCRequest', () => {
    assert.deepEqual(parseStartup(bodyOf(new FrontendSerializer().sslRequest().flush())), { kind: 'ssl' });
    assert.deepEqual(parseStartup(bodyOf(new FrontendSerializer().gssEncRequest().flush())), { kind: 'gss' });
  });

  test('CancelRequest carries pid and key, and must be exactly 16 bytes', () => {
    assert.deepEqual(parseStartup(bodyOf(new FrontendSerializer().cancelRequest(4242, -7).flush())), {
      kind: 'cancel',
      backendPid: 4242,
      cancelKey: -7,
    });
    assert.throws(() => parseStartup(Buffer.from('04d2162e00000001', 'hex')), /CancelRequest message is malformed/);
  });

  test('other 1234.x request codes are refused', () => {
    assert.throws(() => parseStartup(Buffer.from('04d21631', 'hex')), /^WireError: Unrecognized request code 5681$/);
  });

  test('StartupMessage as the walproposer sends it', () => {
    const packet = new FrontendSerializer()
      .startupMessage({ user: 'root', database: 'replication', options: `-c timeline_id=${TIMELINE} tenant_id=${TENANT}`, application_name: 'walproposer' })
      .flush();
    const p = parseStartup(bodyOf(packet));
    assert.equal(p.kind, 'startup');
    if (p.kind !== 'startup') return;
    assert.equal(p.version, 196608);
    assert.deepEqual([...p.params], [
      ['user', 'root'],
      ['database', 'replication'],
      ['options', `-c timeline_id=${TIMELINE} tenant_id=${TENANT}`],
      ['application_name', 'walproposer'],
    ]);
  });

  test('parameters: first value of a repeated name wins, an unpaired trailing name is dropped, empty list ok', () => {
    const p = parseStartup(Buffer.from('00030000' + Buffer.from('a\0one\0a\0two\0dangling\0\0').toString('hex'), 'hex'));
    assert.ok(p.kind === 'startup');
    assert.deepEqual([...p.params], [['a', 'one']]);
    const empty = parseStartup(Buffer.from('0003000000', 'hex'));
    assert.ok(empty.kind === 'startup' && empty.params.size === 0);
  });

  test('body must end with NUL and be UTF-8', () => {
    assert.throws(() => parseStartup(Buffer.from('00030000' + '757365720072', 'hex')), /StartupMessage params: missing null terminator/);
    assert.throws(() => parseStartup(Buffer.from('00030000', 'hex')), /missing null terminator/);
    assert.throws(() => parseStartup(Buffer.from('00030000ff0000', 'hex')), /StartupMessage params: invalid UTF-8/);
    assert.throws(() => parseStartup(Buffer.from('0003', 'hex')), WireError);
  });
});

describe('splitStartupOptions (pg_split_opts, escapes left in place)', () => {
  const cases: [string, string[]][] = [
    ['', []],
    ['   ', []],
    ['foo', ['foo']],
    [' foo  bar ', ['foo', 'bar']],
    ['a\tb\nc\rd\fe', ['a', 'b', 'c', 'd', 'e']],
    ['a\vb', ['a\vb']], // \v is not ASCII whitespace in Rust
    ['foo\\ bar', ['foo\\ bar']],
    ['foo\\\\ bar', ['foo\\\\', 'bar']],
    ['foo\\\\\\ bar', ['foo\\\\\\ bar']],
    ['-c timeline_id=x\\ y tenant_id=z', ['-c', 'timeline_id=x\\ y', 'tenant_id=z']],
  ];
  for (const [input, expected] of cases) {
    test(JSON.stringify(input), () => assert.deepEqual(splitStartupOptions(input), expected));
  }
});

describe('parseStartupOptions', () => {
  test('walproposer spelling: -c timeline_id=X tenant_id=Y', () => {
    assert.deepEqual(parseStartupOptions(`-c timeline_id=${TIMELINE} tenant_id=${TENANT}`), {
      tenantId: TENANT,
      timelineId: TIMELINE,
    });
  });

  test('legacy ztenantid / ztimelineid, upper-case hex is normalised', () => {
    assert.deepEqual(parseStartupOptions(`ztenantid=${TENANT.toUpperCase()} ztimelineid=${TIMELINE}`), {
      tenantId: TENANT,
      timelineId: TIMELINE,
    });
  });

  test('availability_zone, unknown keys and tokens without = are ignored', () => {
    assert.deepEqual(parseStartupOptions(`-c foo=bar availability_zone=us-east-2a -c bare tenant_id=${TENANT}`), {
      tenantId: TENANT,
      availabilityZone: 'us-east-2a',
    });
  });

  test('-ctimeline_id=X does not match (the key is "-ctimeline_id")', () => {
    assert.deepEqual(parseStartupOptions(`-ctimeline_id=${TIMELINE} -ctenant_id=${TENANT}`), {});
  });

  test('missing ids are not an error', () => {
    assert.deepEqual(parseStartupOptions(''), {});
    assert.deepEqual(parseStartupOptions('-c'), {});
  });

  test('value split at the first =, later token wins', () => {
    assert.deepEqual(parseStartupOptions(`availability_zone=a=b tenant_id=${'0'.repeat(32)} tenant_id=${TENANT}`), {
      availabilityZone: 'a=b',
      tenantId: TENANT,
    });
  });

  test('invalid ids name the value and the kind', () => {
    assert.throws(() => parseStartupOptions('tenant_id=xyz'), (e: unknown) => e instanceof WireError && e.message === 'Failed to parse xyz as tenant id');
    assert.throws(() => parseStartupOptions(`timeline_id=${TIMELINE}0`), new RegExp(`^WireError: Failed to parse ${TIMELINE}0 as timeline id$`));
    assert.throws(() => parseStartupOptions('ztimelineid='), /Failed to parse  as timeline id/);
  });

  test('an escaped space stays in the value (and so fails hex parsing), as Neon uses options_raw', () => {
    assert.throws(() => parseStartupOptions(`tenant_id=${TENANT.slice(0, 16)}\\ ${TENANT.slice(16)}`), /as tenant id/);
  });
});
