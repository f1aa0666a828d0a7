import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { COMMANDS, loadCommand, run, usage, version } from './main';

describe('cluster-bridge dispatcher', () => {
  let out: jest.SpyInstance;
  let err: jest.SpyInstance;

  beforeEach(() => {
    out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
  });

  afterEach(() => jest.restoreAllMocks());

  it('prints the usage with every command', async () => {
    expect(await run(['--help'])).toBe(0);
    const text = out.mock.calls.map(c => String(c[0])).join('');
    for (const name of Object.keys(COMMANDS)) {
      expect(text).toContain(`  ${name} `);
    }
    expect(usage()).toBe(text);
  });

  it('exits 2 with the usage when no command is given', async () => {
    expect(await run([])).toBe(2);
  });

  it("prints the package's version", async () => {
    expect(await run(['--version'])).toBe(0);
    const pkg = JSON.parse(
      fs.readFileSync(
        path.join(__dirname, '..', '..', '..', 'package.json'),
        'utf8'
      )
    );
    expect(out.mock.calls[0][0]).toBe(`${pkg.version}\n`);
    expect(version()).toBe(pkg.version);
  });

  it('rejects unknown commands', async () => {
    expect(await run(['frobnicate'])).toBe(2);
    expect(err.mock.calls[0][0]).toContain("unknown command 'frobnicate'");
    expect(await run(['constructor'])).toBe(2);
  });

  it('dispatches install to install.ts', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-main-'));
    try {
      expect(await run(['install', '--help'])).toBe(0);
      expect(await run(['uninstall', '--prefix', tmp])).toBe(0);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  describe('loadCommand', () => {
    let dir: string;

    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-cmd-'));
    });

    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('says a missing module is not available', () => {
      const result = loadCommand(
        'ghost',
        { module: 'ghost', exportName: 'main', summary: '' },
        dir
      );
      expect(result).toBe(
        "the 'ghost' command is not available in this build (ghost module missing)"
      );
    });

    it('says so when the module lacks the function', () => {
      fs.writeFileSync(path.join(dir, 'empty.js'), 'exports.other = 1;');
      expect(
        loadCommand(
          'empty',
          { module: 'empty', exportName: 'main', summary: '' },
          dir
        )
      ).toMatch(/has no main\(\)/);
    });

    it('does not hide a broken import inside the module', () => {
      fs.writeFileSync(path.join(dir, 'broken.js'), "require('./nowhere');");
      expect(() =>
        loadCommand(
          'broken',
          { module: 'broken', exportName: 'main', summary: '' },
          dir
        )
      ).toThrow(/nowhere/);
    });

    it('returns the main function of a present module', async () => {
      fs.writeFileSync(
        path.join(dir, 'ok.js'),
        'exports.main = async argv => argv.length + 40;'
      );
      const main = loadCommand(
        'ok',
        { module: 'ok', exportName: 'main', summary: '' },
        dir
      );
      expect(typeof main).toBe('function');
      expect(await (main as (a: string[]) => Promise<number>)(['a', 'b'])).toBe(
        42
      );
    });
  });
});
