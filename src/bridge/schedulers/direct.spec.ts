import { FakeTransport } from '../../../tests/support/jobs';
import { agentCommand, DirectScheduler, JobOnOtherNodeError } from './direct';
import { SchedulerError, type IJobSpec } from './types';

const agent = { python: '/w/venv1/bin/python', runtimeDir: '/w/runtime/h' };
const JOB_DIR = '/w/jobs/cb-1';
const spec: IJobSpec = {
  id: 'cb-1',
  jobDir: JOB_DIR,
  command: agentCommand(agent, 'run', JOB_DIR),
  agent,
  request: {},
  defaults: {}
};
const PREFIX =
  'PYTHONDONTWRITEBYTECODE= /w/venv1/bin/python -I -u /w/runtime/h/agent.py';

describe('DirectScheduler', () => {
  it("launches through the spec's agent and reads the pid", async () => {
    const transport = new FakeTransport();
    transport.answer = () => ({ stdout: '{"pid": 4242, "pgid": 4242}\n' });
    const result = await new DirectScheduler().submit(transport, spec);
    expect(result).toEqual({ schedulerId: '4242' });
    expect(transport.execs.map(e => e.command)).toEqual([
      `${PREFIX} launch ${JOB_DIR}`
    ]);
  });

  it("says the launch failed in the agent's words (not a scheduler's rejection)", async () => {
    const transport = new FakeTransport();
    transport.answer = () => ({ code: 2, stderr: 'no bundle.json\n' });
    const failure = new DirectScheduler().submit(transport, spec);
    await expect(failure).rejects.toThrow(
      'starting the job failed (exit 2): no bundle.json'
    );
    await expect(failure).rejects.toMatchObject({
      kind: 'direct',
      reason: 'command'
    });
    await expect(failure).rejects.toBeInstanceOf(SchedulerError);
  });

  it('needs the agent in the spec', () => {
    expect(() =>
      new DirectScheduler().script({ ...spec, agent: undefined })
    ).toThrow('names no agent');
  });

  it("cancels through the job's agent", async () => {
    const transport = new FakeTransport();
    await new DirectScheduler().cancel(transport, '4242', JOB_DIR, agent);
    expect(transport.execs.map(e => e.command)).toEqual([
      `${PREFIX} cancel ${JOB_DIR} --grace 5`
    ]);
  });

  it('signals the process groups itself when the agent cannot cancel', async () => {
    const transport = new FakeTransport();
    transport.answer = command =>
      command.includes(' cancel ') ? { code: 1 } : {};
    await new DirectScheduler().cancel(transport, '4242', JOB_DIR, agent);
    expect(transport.execs).toHaveLength(2);
    expect(transport.execs[1].command).toContain('kill -s INT -- -4242');
    await expect(
      new DirectScheduler().cancel(new FakeTransport(), '', JOB_DIR)
    ).rejects.toThrow('no agent known and no process id');
  });

  it('never signals a pid here when the agent says the job runs on another node', async () => {
    const transport = new FakeTransport();
    transport.answer = () => ({
      code: 3,
      stdout: '{"ok": false, "otherNode": "login2", "here": "login1"}\n'
    });
    const cancel = new DirectScheduler().cancel(
      transport,
      '4242',
      JOB_DIR,
      agent
    );
    await expect(cancel).rejects.toBeInstanceOf(JobOnOtherNodeError);
    await expect(cancel).rejects.toThrow(
      'the job runs on login2, but this connection reached login1'
    );
    expect(transport.execs).toHaveLength(1);
    expect(transport.execs[0].priority).toBe(true);
  });
});
