import {
  hashOf,
  hashRanges,
  HASH_SPAN,
  parseSidecar,
  resumeCandidate,
  resumeFrom,
  type ISidecar
} from './transferResume';

const H = hashOf(Buffer.from('head'));
const T = hashOf(Buffer.from('tail'));
const source = { path: 'local:/a/x.bin', size: 1000000, mtime: 1700000000 };
const sidecar: ISidecar = {
  v: 1,
  source: source.path,
  size: source.size,
  mtime: source.mtime,
  done: 524288,
  head: H,
  tail: T
};

describe('transferResume', () => {
  it('continues from the recorded prefix when the source and the part are unchanged', () => {
    const c = resumeCandidate(sidecar, source, 600000);
    expect(c).toEqual({ kind: 'check', sidecar });
    expect(resumeFrom(sidecar, { head: H, tail: T })).toEqual({
      from: 524288
    });
  });

  it('starts over when the source changed (size or mtime), or is another file', () => {
    expect(
      resumeCandidate(sidecar, { ...source, size: 999999 }, 600000)
    ).toEqual({ kind: 'fresh', why: 'the source changed since the last try' });
    expect(
      resumeCandidate(sidecar, { ...source, mtime: source.mtime + 1 }, 600000)
    ).toEqual({ kind: 'fresh', why: 'the source changed since the last try' });
    expect(
      resumeCandidate(sidecar, { ...source, path: 'local:/b' }, 600000).kind
    ).toBe('fresh');
  });

  it('starts over when the part is missing, short, unrecorded or its bytes changed', () => {
    expect(resumeCandidate(sidecar, source, undefined)).toEqual({
      kind: 'fresh'
    });
    expect(resumeCandidate(sidecar, source, 1000)).toEqual({
      kind: 'fresh',
      why: 'the unfinished copy is shorter than recorded'
    });
    expect(resumeCandidate(undefined, source, 600000).kind).toBe('fresh');
    expect(resumeFrom(sidecar, { head: H, tail: H })).toEqual({
      from: 0,
      why: 'the unfinished copy was changed'
    });
    expect(resumeCandidate({ ...sidecar, done: 2000000 }, source, 3e6)).toEqual(
      { kind: 'fresh' }
    );
  });

  it('reads only well-formed sidecars', () => {
    expect(parseSidecar(JSON.stringify(sidecar))).toEqual(sidecar);
    expect(parseSidecar(undefined)).toBeUndefined();
    expect(parseSidecar('{"v":1,')).toBeUndefined();
    expect(
      parseSidecar(JSON.stringify({ ...sidecar, done: -1 }))
    ).toBeUndefined();
    expect(
      parseSidecar(JSON.stringify({ ...sidecar, head: 'x' }))
    ).toBeUndefined();
  });

  it('hashes the first and last HASH_SPAN bytes of the prefix', () => {
    expect(hashRanges(10)).toEqual({ head: [0, 10], tail: [0, 10] });
    expect(hashRanges(5 * HASH_SPAN)).toEqual({
      head: [0, HASH_SPAN],
      tail: [4 * HASH_SPAN, 5 * HASH_SPAN]
    });
  });
});
