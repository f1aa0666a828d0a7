import {
  isClusterLineCell,
  magicClusterName,
  resolveBareMagic,
  routeCell,
  withClusterMagic
} from './routing';

describe('routeCell', () => {
  it.each([
    ['%%cluster local\nprint(1)', 'bridge'],
    ['%%cluster\nprint(1)', 'bridge'],
    ['%%cluster --gpus 1\nx', 'bridge'],
    ['\n\n  %%cluster local\nx', 'bridge'],
    ['%cluster jobs', 'bridge'],
    ['%cluster attach 20261128-ab12', 'bridge'],
    ['print(1)', 'default'],
    ['# %%cluster local\nprint(1)', 'default'],
    ['x = 1\n%%cluster local', 'default'],
    ['%%clusterx local\nx', 'default'],
    ['%%time\nx', 'default'],
    ['%clusters', 'default'],
    ['', 'default']
  ])('%j goes to %s', (source, route) => {
    expect(routeCell(source, 'python3')).toBe(route);
  });

  it('leaves every cell to the default runCell when the notebook kernel is the bridge', () => {
    expect(routeCell('%%cluster local\nx', 'cluster-bridge')).toBe('default');
    expect(routeCell('%cluster jobs', 'cluster-bridge')).toBe('default');
    expect(routeCell('print(1)', 'cluster-bridge')).toBe('default');
  });

  it('routes remote cells of a notebook with no kernel yet', () => {
    expect(routeCell('%%cluster local\nx', undefined)).toBe('bridge');
    expect(routeCell('x', null)).toBe('default');
  });
});

describe('isClusterLineCell', () => {
  it('knows line magics from cell magics', () => {
    expect(isClusterLineCell('%cluster list')).toBe(true);
    expect(isClusterLineCell('  \n%cluster')).toBe(true);
    expect(isClusterLineCell('%%cluster list')).toBe(false);
    expect(isClusterLineCell('%clusterlist')).toBe(false);
  });
});

describe('magicClusterName', () => {
  it.each([
    ['%%cluster local\nx', 'local'],
    ['%%cluster --gpus 1 hpc\nx', 'hpc'],
    ['%%cluster --env torch gpu-a100 --detach\nx', 'gpu-a100'],
    ['%%cluster --partition=debug hpc\nx', 'hpc'],
    ['%%cluster\nx', null],
    ['%%cluster --gpus 1 --detach\nx', null],
    ['%%cluster --env torch\nx', null],
    ['print(1)', undefined],
    ['%%cluster --bogus 1\nx', undefined]
  ])('%j names %p', (source, name) => {
    expect(magicClusterName(source)).toBe(name);
  });
});

describe('resolveBareMagic', () => {
  it('names the picked cluster in a bare magic', () => {
    expect(resolveBareMagic('%%cluster\nprint(1)', 'local2')).toBe(
      '%%cluster local2\nprint(1)'
    );
    expect(resolveBareMagic('%%cluster --gpus 1\nx', 'hpc')).toBe(
      '%%cluster hpc --gpus 1\nx'
    );
  });

  it('keeps leading blank lines and the line count', () => {
    const source = '\n  %%cluster --detach\na\nb';
    const out = resolveBareMagic(source, 'hpc');
    expect(out).toBe('\n  %%cluster hpc --detach\na\nb');
    expect(out.split('\n')).toHaveLength(source.split('\n').length);
  });

  it('never overrides an explicit cluster', () => {
    expect(resolveBareMagic('%%cluster local\nx', 'hpc')).toBe(
      '%%cluster local\nx'
    );
    expect(resolveBareMagic('%%cluster --gpus 2 local\nx', 'hpc')).toBe(
      '%%cluster --gpus 2 local\nx'
    );
  });

  it('changes nothing without a picked cluster or a magic', () => {
    expect(resolveBareMagic('%%cluster\nx', undefined)).toBe('%%cluster\nx');
    expect(resolveBareMagic('%%cluster\nx', '')).toBe('%%cluster\nx');
    expect(resolveBareMagic('print(1)', 'hpc')).toBe('print(1)');
  });

  it('leaves a malformed line for the bridge to report', () => {
    expect(resolveBareMagic('%%cluster --gpus\nx', 'hpc')).toBe(
      '%%cluster --gpus\nx'
    );
  });

  it('produces a line the shared parser reads as that cluster', () => {
    const out = resolveBareMagic(
      '%%cluster --gpus 1 --time 00:10:00\nx',
      'local2'
    );
    expect(magicClusterName(out)).toBe('local2');
  });
});

describe('withClusterMagic', () => {
  it('adds a magic line to a plain cell', () => {
    expect(withClusterMagic('print(1)', 'hpc')).toBe('%%cluster hpc\nprint(1)');
  });

  it('names a bare magic', () => {
    expect(withClusterMagic('%%cluster --gpus 1\nx', 'hpc')).toBe(
      '%%cluster hpc --gpus 1\nx'
    );
  });

  it('replaces the cluster of an explicit magic, keeping the options', () => {
    expect(
      withClusterMagic('%%cluster --gpus 1 local --detach\nx', 'hpc')
    ).toBe('%%cluster --gpus 1 hpc --detach\nx');
    expect(withClusterMagic('%%cluster --env local local\nx', 'hpc')).toBe(
      '%%cluster --env local hpc\nx'
    );
  });
});
