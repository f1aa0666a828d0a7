/**
 * The clusters file schema and the settings schema each carry a copy of the
 * cluster definitions (a JupyterLab settings schema must be self-contained),
 * so the two copies are checked against each other here.
 */
import * as fs from 'fs';
import * as path from 'path';

const SCHEMA_DIR = path.join(__dirname, '..', '..', '..', 'schema');

function definitionsOf(file: string): { [name: string]: unknown } {
  const schema = JSON.parse(
    fs.readFileSync(path.join(SCHEMA_DIR, file), 'utf8')
  );
  return schema.definitions;
}

describe('schema definitions', () => {
  const clustersFile = definitionsOf('cluster-config.schema.json');
  const settings = definitionsOf('settings.json');

  it('defines a cluster in both schemas', () => {
    expect(Object.keys(clustersFile)).toContain('cluster');
    expect(Object.keys(settings)).toContain('cluster');
  });

  it('keeps the shared definitions equal', () => {
    expect(Object.keys(settings).sort()).toEqual(
      Object.keys(clustersFile).sort()
    );
    for (const name of Object.keys(clustersFile)) {
      expect({ [name]: settings[name] }).toEqual({
        [name]: clustersFile[name]
      });
    }
  });
});
