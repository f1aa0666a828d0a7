import {
  isClusterLineCell,
  magicClusterName,
  refusal,
  remoteRunMetadata,
  RESERVED_METADATA_KEYS,
  routeCell,
  withClusterMagic
} from './routing';
import { pickedClusterOf, type PickedCluster } from '../pickedCluster';

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

const INJECTED = "local\nprint('INJECTED')";
const invalid = (value: unknown): PickedCluster => {
  const model = { getMetadata: () => ({ cluster: value }) };
  return pickedClusterOf(model);
};

describe('remoteRunMetadata', () => {
  it('names the picked cluster of a bare magic in the metadata, never in the text', () => {
    expect(
      remoteRunMetadata('%%cluster --gpus 1\nx', { kind: 'name', name: 'hpc' })
    ).toEqual({ cluster_bridge_cluster: 'hpc' });
  });

  it('adds nothing for an explicit name, a line magic, a malformed line or no pick', () => {
    const hpc: PickedCluster = { kind: 'name', name: 'hpc' };
    expect(remoteRunMetadata('%%cluster local\nx', hpc)).toEqual({});
    expect(remoteRunMetadata('%cluster jobs', hpc)).toEqual({});
    expect(remoteRunMetadata('%%cluster --gpus\nx', hpc)).toEqual({});
    expect(remoteRunMetadata('%%cluster\nx', { kind: 'default' })).toEqual({});
  });
});

describe('refusal', () => {
  const none: string[] = [];

  it("refuses a bare magic when the notebook's picked value is not a cluster name", () => {
    const picked = invalid(INJECTED);
    expect(picked.kind).toBe('invalid');
    expect(refusal('%%cluster\nprint(1)', 'python3', picked, none)).toMatch(
      /does not hold a cluster name \(invalid cluster name "local\\nprint\('INJECTED'\)".*Nothing was run/
    );
    expect(
      refusal('%%cluster --gpus 1\nx', 'cluster-bridge', picked, none)
    ).not.toBeNull();
  });

  it('refuses every plain cell of a Cluster Bridge notebook with an invalid pick', () => {
    expect(refusal('x = 1', 'cluster-bridge', invalid(7), none)).toMatch(
      /not a string: number/
    );
  });

  it('lets cells run that do not use the picked value', () => {
    const picked = invalid('a b');
    expect(refusal('%%cluster local\nx', 'python3', picked, none)).toBeNull();
    expect(refusal('%cluster jobs', 'python3', picked, none)).toBeNull();
    expect(refusal('x = 1', 'python3', picked, none)).toBeNull();
    expect(
      refusal('%%cluster\nx', 'python3', { kind: 'default' }, none)
    ).toBeNull();
  });

  it.each(RESERVED_METADATA_KEYS)(
    'refuses a cell whose own metadata holds %s',
    key => {
      expect(
        refusal('%%cluster local\nx', 'python3', { kind: 'default' }, [
          'tags',
          key
        ])
      ).toMatch(new RegExp(`"${key}".*Nothing was run`));
    }
  );
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

  it('keeps leading blank lines and the line count when it names a bare magic', () => {
    const source = '\n  %%cluster --detach\na\nb';
    const out = withClusterMagic(source, 'hpc');
    expect(out).toBe('\n  %%cluster hpc --detach\na\nb');
    expect(magicClusterName(out)).toBe('hpc');
  });

  it.each([[INJECTED], ['a b'], ['--gpus'], ['']])(
    'refuses to write %j into a cell',
    name => {
      expect(() => withClusterMagic('%%cluster\nx', name)).toThrow(
        /invalid cluster name/
      );
    }
  );
});
