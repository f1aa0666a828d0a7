import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  localRoot,
  mirrorKey,
  mirrorName,
  refuseSyncOnSession,
  syncDirOf
} from './sync';
import type { IResolvedCluster } from '../../shared/config';

describe('--sync folder', () => {
  const tmp = fs.realpathSync(
    fs.mkdtempSync(path.join(os.tmpdir(), 'cb-root-'))
  );
  fs.mkdirSync(path.join(tmp, 'proj', 'notebooks'), { recursive: true });
  fs.mkdirSync(path.join(tmp, 'proj', 'src'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const nb = path.join(tmp, 'proj', 'notebooks', 'a.ipynb');

  it('is relative to the notebook, a project root above it included', () => {
    expect(localRoot('.', nb)).toBe(path.join(tmp, 'proj', 'notebooks'));
    expect(localRoot('..', nb)).toBe(path.join(tmp, 'proj'));
    expect(localRoot('../src', nb)).toBe(path.join(tmp, 'proj', 'src'));
  });

  it('is relative to the kernel folder for a Cluster Bridge notebook and the CLI', () => {
    expect(localRoot('.', 'kernel:abc')).toBe(fs.realpathSync(process.cwd()));
    expect(localRoot('.', undefined)).toBe(fs.realpathSync(process.cwd()));
  });

  it('refuses what it cannot place or should not mirror', () => {
    expect(() => localRoot('.', 'notebooks/a.ipynb')).toThrow(
      /folder of notebook "notebooks\/a.ipynb" is not known/
    );
    expect(() => localRoot('missing', nb)).toThrow(/there is no folder/);
    fs.writeFileSync(path.join(tmp, 'proj', 'file'), '');
    expect(() => localRoot('../file', nb)).toThrow(/is not a folder/);
    const up = path.relative(path.dirname(nb), '/');
    expect(() => localRoot(up, nb)).toThrow(/the root folder/);
    const home = path.relative(path.dirname(nb), os.homedir());
    expect(() => localRoot(home, nb)).toThrow(/your whole home folder/);
  });

  it('names one mirror per notebook and folder', () => {
    const a = mirrorKey(nb, '/p');
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(mirrorKey('/other.ipynb', '/p')).not.toBe(a);
    expect(mirrorKey(nb, '/q')).not.toBe(a);
    expect(mirrorName('/x/my-proj.v2')).toBe('my-proj.v2');
    expect(mirrorName('/x/.hidden')).toBe('project');
    expect(mirrorName('/x/with space')).toBe('project');
  });

  it('is refused on %cluster session, which would ignore it', () => {
    expect(() => refuseSyncOnSession({ sync: '.' })).toThrow(
      /--sync belongs on a %%cluster cell/
    );
    expect(() => refuseSyncOnSession({ gpus: 1 })).not.toThrow();
  });

  it('takes the line before the cluster setting, and nothing for a dry run', () => {
    const cluster = {
      name: 'c',
      source: 'file',
      config: { type: 'local', sync: 'src' }
    } as IResolvedCluster;
    expect(syncDirOf({}, cluster)).toBe('src');
    expect(syncDirOf({ sync: 'lib' }, cluster)).toBe('lib');
    expect(syncDirOf({ sync: 'lib', dryRun: true }, cluster)).toBeUndefined();
    expect(
      syncDirOf({}, { ...cluster, config: { type: 'local' } })
    ).toBeUndefined();
  });
});
