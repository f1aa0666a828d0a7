import { readPickedCluster, writePickedCluster } from './pickedCluster';
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
    model.meta[NOTEBOOK_METADATA_KEY] = { cluster: 42 };
    expect(readPickedCluster(model)).toBe('');
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
});
