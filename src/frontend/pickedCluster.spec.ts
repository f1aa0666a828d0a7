import {
  pickedClusterOf,
  readPickedCluster,
  writePickedCluster
} from './pickedCluster';
import { NOTEBOOK_METADATA_KEY } from './tokens';

class FakeModel {
  meta: { [key: string]: unknown } = {};
  getMetadata(key: string): unknown {
    return this.meta[key];
  }
  setMetadata(key: string, value: unknown): void {
    this.meta[key] = value;
  }
  deleteMetadata(key: string): void {
    delete this.meta[key];
  }
}

describe('picked cluster', () => {
  it('reads the name, or "" when the notebook follows the default', () => {
    const model = new FakeModel();
    expect(readPickedCluster(model)).toBe('');
    expect(readPickedCluster(null)).toBe('');
    model.meta[NOTEBOOK_METADATA_KEY] = { cluster: 'gpu' };
    expect(readPickedCluster(model)).toBe('gpu');
  });

  it('writes the name, keeps other keys and drops an empty entry', () => {
    const model = new FakeModel();
    writePickedCluster(model, 'gpu');
    expect(model.meta[NOTEBOOK_METADATA_KEY]).toEqual({ cluster: 'gpu' });
    model.meta[NOTEBOOK_METADATA_KEY] = { cluster: 'gpu', other: 1 };
    writePickedCluster(model, '');
    expect(model.meta[NOTEBOOK_METADATA_KEY]).toEqual({ other: 1 });
    model.meta[NOTEBOOK_METADATA_KEY] = { cluster: 'gpu' };
    writePickedCluster(model, '');
    expect(NOTEBOOK_METADATA_KEY in model.meta).toBe(false);
  });

  it.each([
    [
      { cluster: "local\nprint('INJECTED')" },
      /invalid cluster name "local\\nprint/
    ],
    [{ cluster: 'local; id' }, /invalid cluster name/],
    [{ cluster: '-oProxyCommand=x' }, /invalid cluster name/],
    [{ cluster: 'x'.repeat(129) }, /invalid cluster name/],
    [{ cluster: 42 }, /not a string: number/],
    [{ cluster: null }, /not a string: null/],
    ['local', /is not an object/],
    [['local'], /is not an object/]
  ])('calls %j invalid, never a name', (value, message) => {
    const model = new FakeModel();
    model.meta[NOTEBOOK_METADATA_KEY] = value;
    const picked = pickedClusterOf(model);
    expect(picked.kind).toBe('invalid');
    expect(picked.kind === 'invalid' && picked.error).toMatch(message);
    expect(readPickedCluster(model)).toBe('');
  });

  it('reads names the shared rule allows', () => {
    const model = new FakeModel();
    for (const name of ['local', 'gpu-a100', 'user@host:22', 'a.b+c_d']) {
      model.meta[NOTEBOOK_METADATA_KEY] = { cluster: name };
      expect(pickedClusterOf(model)).toEqual({ kind: 'name', name });
    }
    model.meta[NOTEBOOK_METADATA_KEY] = { other: 1 };
    expect(pickedClusterOf(model)).toEqual({ kind: 'default' });
  });

  it('never writes an invalid name', () => {
    const model = new FakeModel();
    expect(() => writePickedCluster(model, 'a\nb')).toThrow(
      /invalid cluster name/
    );
    expect(NOTEBOOK_METADATA_KEY in model.meta).toBe(false);
  });
});
