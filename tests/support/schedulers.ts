/**
 * Shared set-up of the scheduler unit specs (src/bridge/schedulers/*.spec.ts):
 * a transport that answers exec() from a script, one sample job spec, and the
 * recorded scheduler outputs in tests/fixtures/<kind>/.
 */
import * as fs from 'fs';
import * as path from 'path';
import type {
  IExecOptions,
  IExecResult,
  ITransport
} from '../../src/bridge/transport/types';
import type { IJobSpec } from '../../src/bridge/schedulers/types';

/** Answers exec() from a list of [pattern, result]; records every command. Pure logic only. */
export class ScriptedTransport implements Partial<ITransport> {
  commands: { command: string; stdin?: string }[] = [];
  constructor(private readonly _answers: [RegExp, Partial<IExecResult>][]) {}
  async exec(
    command: string,
    options: IExecOptions = {}
  ): Promise<IExecResult> {
    this.commands.push({ command, stdin: options.stdin?.toString() });
    const hit = this._answers.find(([re]) => re.test(command));
    return { stdout: '', stderr: '', code: 0, ...(hit ? hit[1] : {}) };
  }
}

export const asTransport = (t: ScriptedTransport): ITransport =>
  t as unknown as ITransport;

/** A job as the job manager would hand it to a scheduler. */
export const jobSpec = (over: Partial<IJobSpec> = {}): IJobSpec => ({
  id: 'cb-20261128-abc123',
  jobDir: '/home/alice/.cluster-bridge/jobs/cb-20261128-abc123',
  command:
    '/home/alice/.cluster-bridge/venv1/py3.11/bin/python -u /home/alice/.cluster-bridge/runtime/0f1e/agent.py run /home/alice/.cluster-bridge/jobs/cb-20261128-abc123',
  request: {},
  defaults: {},
  ...over
});

/** Reads tests/fixtures/<kind>/<name> (recorded by tests/fixtures/record-schedulers.sh). */
export const fixtureReader =
  (kind: 'slurm' | 'sge' | 'pbs') =>
  (name: string): string =>
    fs.readFileSync(path.join(__dirname, '..', 'fixtures', kind, name), 'utf8');
