import type { IVarsManifest } from '../../shared/data';
import {
  checkSkew,
  outProtocol,
  skew,
  VersionSkewError,
  type IPythonVersions
} from './varsVersions';

const manifest = (
  formats: IVarsManifest['vars'][number]['format'][],
  libraries: { [name: string]: string } = {},
  pickleProtocol = 5
): IVarsManifest => ({
  python: '3.12.1',
  libraries,
  pickleProtocol,
  vars: formats.map((format, i) => ({
    name: `v${i}`,
    format,
    file: `${i}.bin`,
    bytes: 1,
    type: 'x'
  }))
});

const remote: IPythonVersions = {
  python: '3.11.2',
  pickleProtocol: 5,
  numpy: '1.24.2',
  pandas: '1.5.3'
};

describe('skew', () => {
  it('accepts the same majors and a protocol the remote reads', () => {
    expect(
      skew(
        manifest(['npy', 'pandas'], { numpy: '1.26.0', pandas: '1.4.0' }),
        remote
      )
    ).toBeUndefined();
  });

  it('names both numpy versions and what to do', () => {
    const problem = skew(manifest(['npy'], { numpy: '2.0.1' }), remote);
    expect(problem).toMatch(
      /numpy 2\.0\.1 in the notebook, numpy 1\.24\.2 on the cluster/
    );
    expect(problem).toMatch(/--env with numpy 2\.x/);
  });

  it('refuses a library the remote lacks', () => {
    const { numpy: _n, ...noNumpy } = remote;
    expect(skew(manifest(['npy'], { numpy: '1.24.2' }), noNumpy)).toMatch(
      /does not have/
    );
  });

  it('checks the pickle protocol only when pickles travel', () => {
    const old = { ...remote, python: '3.7.3', pickleProtocol: 4 };
    expect(skew(manifest(['npy'], { numpy: '1.24.2' }), old)).toBeUndefined();
    expect(skew(manifest(['pickle']), old)).toMatch(
      /Python 3\.12\.1 wrote pickle protocol 5.*Python 3\.7\.3/
    );
  });

  it('throws a VersionSkewError naming the values', () => {
    expect(() =>
      checkSkew(manifest(['npy'], { numpy: '2.0.0' }), remote, 'gpu')
    ).toThrow(VersionSkewError);
    expect(() =>
      checkSkew(manifest(['npy'], { numpy: '2.0.0' }), remote, 'gpu')
    ).toThrow(/v0 cannot go to gpu: .*Nothing was sent/);
  });
});

describe('outProtocol', () => {
  it('is what both sides read, 4 when the notebook is unknown', () => {
    expect(outProtocol(remote, undefined)).toBe(4);
    expect(outProtocol(remote, manifest(['pickle']))).toBe(5);
    expect(
      outProtocol({ ...remote, pickleProtocol: 4 }, manifest(['pickle']))
    ).toBe(4);
    expect(outProtocol(undefined, manifest(['pickle']))).toBe(4);
  });
});
