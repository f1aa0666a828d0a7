/**
 * Runs the remote runtime's Python tests (tests/runtime, unittest) with Debian's python3 and
 * fails when they fail. The Python tests exercise the real agent and runner: real processes,
 * venvs, signals and process groups, the conda stand-in; no mocks.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const PYTHON = '/usr/bin/python3';

describe('remote runtime (agent + runner) Python tests', () => {
  it(
    'pass under unittest',
    () => {
      expect(fs.existsSync(PYTHON)).toBe(true);
      const result = spawnSync(
        PYTHON,
        [
          '-m',
          'unittest',
          'discover',
          '-s',
          'tests/runtime',
          '-t',
          'tests/runtime'
        ],
        {
          cwd: ROOT,
          encoding: 'utf-8',
          timeout: 15 * 60 * 1000,
          maxBuffer: 64 << 20
        }
      );
      const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
      const summary = output
        .split('\n')
        .filter(line => /^(Ran \d+ tests|OK|FAILED)/.test(line));
      // The unittest summary (and the measured numbers) in the jest log.
      console.log(
        [
          ...output.split('\n').filter(line => line.startsWith('[')),
          ...summary
        ].join('\n')
      );
      if (result.status !== 0) {
        throw new Error(
          `Python runtime tests failed (exit ${result.status}):\n${output.slice(-20000)}`
        );
      }
      expect(summary).toContain('OK');
    },
    16 * 60 * 1000
  );
});
