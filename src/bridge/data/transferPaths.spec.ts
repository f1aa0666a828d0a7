import * as path from 'path';

import {
  baseName,
  destinationOf,
  isInside,
  localBase,
  localPath,
  partFiles,
  remotePath,
  unsafeName
} from './transferPaths';

describe('transferPaths', () => {
  it("LOCAL is relative to the notebook's folder; a kernel's own notebook uses the working folder", () => {
    expect(localBase('/srv/lab/proj/a.ipynb', '/cwd')).toBe('/srv/lab/proj');
    expect(localBase('kernel:abc', '/cwd')).toBe('/cwd');
    expect(localBase(undefined, '/cwd')).toBe('/cwd');
    expect(() => localBase('proj/a.ipynb', '/cwd')).toThrow(
      /server root was not sent/
    );
    expect(localPath('data/x.csv', '/srv/lab/proj', '/home/u')).toBe(
      '/srv/lab/proj/data/x.csv'
    );
    expect(localPath('../x.csv', '/srv/lab/proj', '/home/u')).toBe(
      '/srv/lab/x.csv'
    );
    expect(localPath('~/x.csv', '/srv', '/home/u')).toBe('/home/u/x.csv');
    expect(localPath('/abs/x', '/srv', '/home/u')).toBe('/abs/x');
  });

  it('REMOTE is relative to <workDir>/files, or absolute, or under ~/', () => {
    const w = '/home/r/.cluster-bridge';
    expect(remotePath('x.bin', w, '/home/r')).toBe(`${w}/files/x.bin`);
    expect(remotePath('out/', w, '/home/r')).toBe(`${w}/files/out/`);
    expect(remotePath('~/scratch/x', w, '/home/r')).toBe('/home/r/scratch/x');
    expect(remotePath('~', w, '/home/r')).toBe('/home/r');
    expect(remotePath('/data//x', w, '/home/r')).toBe('/data/x');
  });

  it("the destination: given, into a folder when it ends with /, or the default folder plus the source's name", () => {
    const join = path.posix.join;
    expect(destinationOf('/a/data.csv', undefined, '/w/files', join)).toBe(
      '/w/files/data.csv'
    );
    expect(destinationOf('/a/data.csv', '/r/in/', '/w/files', join)).toBe(
      '/r/in/data.csv'
    );
    expect(destinationOf('/a/data.csv', '/r/new.csv', '/w', join)).toBe(
      '/r/new.csv'
    );
    expect(destinationOf('/a/dir/', undefined, '/w', join)).toBe('/w/dir');
    expect(() => baseName('/')).toThrow(/no name of its own/);
    expect(() => baseName('/a/..')).toThrow(/no name of its own/);
  });

  it('names from the other side that would leave the folder are refused', () => {
    expect(unsafeName('ok.txt')).toBeUndefined();
    expect(unsafeName('..x')).toBeUndefined();
    for (const bad of ['..', '.', '', 'a/b', '../etc', 'a\\b', 'a\nb']) {
      expect(unsafeName(bad)).toMatch(/would leave|separator|control/);
    }
  });

  it('isInside compares whole path parts', () => {
    expect(isInside('/a/b', '/a/b')).toBe(true);
    expect(isInside('/a/b', '/a/b/c')).toBe(true);
    expect(isInside('/a/b', '/a/bc')).toBe(false);
    expect(isInside('/a/b', '/a')).toBe(false);
    expect(isInside('/', '/x')).toBe(true);
  });

  it('an unfinished copy has a part file and a sidecar beside the destination', () => {
    expect(partFiles('/r/x.bin')).toEqual({
      part: '/r/x.bin.cb-part',
      sidecar: '/r/x.bin.cb-part.json'
    });
  });
});
