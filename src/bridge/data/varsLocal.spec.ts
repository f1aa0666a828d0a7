import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  checkNames,
  exportStep,
  importStep,
  readManifest,
  STALE_MS,
  VarsFolders
} from './varsLocal';

describe('VarsFolders', () => {
  let root: string;
  let folders: VarsFolders;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-vars-spec-'));
    folders = new VarsFolders(path.join(root, 'vars'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('makes private folders and accepts only its own', async () => {
    const dir = await folders.create();
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(folders.checked(dir)).toBe(dir);
    expect(() => folders.checked(root)).toThrow(/not one the bridge made/);
    expect(() => folders.checked(`${dir}/../../x`)).toThrow(
      /not one the bridge made/
    );
    expect(() => folders.checked('relative')).toThrow(/not a folder path/);
    const link = path.join(folders.root, 'v-link');
    fs.symlinkSync(root, link);
    expect(() => folders.checked(link)).toThrow(/not one the bridge made/);
  });

  it('sweeps folders older than a day', async () => {
    const old = await folders.create();
    const fresh = await folders.create();
    const past = (Date.now() - STALE_MS - 60000) / 1000;
    fs.utimesSync(old, past, past);
    expect(await folders.sweep()).toBe(1);
    expect(fs.existsSync(old)).toBe(false);
    expect(fs.existsSync(fresh)).toBe(true);
  });
});

describe('manifest and steps', () => {
  it('refuses manifests whose file names leave the folder', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-vars-spec-'));
    try {
      const write = (file: string) =>
        fs.writeFileSync(
          path.join(dir, 'manifest.json'),
          JSON.stringify({ vars: [{ name: 'a', file }] })
        );
      write('../etc/passwd');
      expect(() => readManifest(dir)).toThrow(/malformed/);
      write('a.npy');
      expect(readManifest(dir).vars[0].file).toBe('a.npy');
      fs.rmSync(path.join(dir, 'manifest.json'));
      expect(() => readManifest(dir)).toThrow(/not written/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('checks names and embeds the codec in one expression', () => {
    expect(() => checkNames([])).toThrow(/no variable names/);
    expect(() => checkNames(['a', 'b-c'])).toThrow(
      /"b-c" is not a Python variable name/
    );
    const step = exportStep(['a'], "/tmp/x'y");
    expect(step.code.trim().split('\n')).toHaveLength(1);
    expect(step.code).toContain('def dump(');
    expect(step.code).toContain(`"/tmp/x'y"`);
    expect(importStep('/d', true).code).toMatch(/"\/d", True\)/);
    expect(importStep('/d', false).code).toMatch(/"\/d", False\)/);
  });
});
