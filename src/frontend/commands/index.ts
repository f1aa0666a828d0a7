/**
 * `jupyterlab-cluster-bridge:commands`: palette commands (run cell on
 * cluster..., cancel remote job, test cluster connection, attach) and the
 * `Accel Alt Enter` shortcut that runs the active cell on the picked cluster
 * (schema/commands.json).
 */
import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  InputDialog,
  MainAreaWidget,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { OutputArea, OutputAreaModel } from '@jupyterlab/outputarea';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';
import {
  doctorChecklist,
  doctorVerdict,
  SYMBOL_MARKS,
  type IDoctorLine
} from '../../shared/doctor';
import { isJobOver } from '../../shared/jobState';
import { CELL_MAGIC, isClusterCell } from '../../shared/magic';
import { STATUS_MIME, type IStatusPayload } from '../../shared/mime';
import { readCellJobId } from '../cellStatus/cellJob';
import { withClusterMagic } from '../executor/routing';
import { readPickedCluster } from '../pickedCluster';
import { CommandIDs, IClusterBridge, PLUGIN_PREFIX } from '../tokens';

const CATEGORY = 'Cluster Bridge';

export const commandsPlugin: JupyterFrontEndPlugin<void> = {
  id: `${PLUGIN_PREFIX}:commands`,
  description:
    'Cluster Bridge commands: run cell on cluster, cancel a job, test a cluster, attach to a job.',
  autoStart: true,
  requires: [IClusterBridge, INotebookTracker, IRenderMimeRegistry],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    bridge: IClusterBridge,
    tracker: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    palette: ICommandPalette | null
  ): void => {
    const { commands } = app;
    const hasCodeCell = () => tracker.activeCell?.model.type === 'code';

    /** The `cluster` argument of a command, or the user's pick from a list. */
    const pickCluster = async (
      title: string,
      given: unknown
    ): Promise<string | null> => {
      if (typeof given === 'string') {
        return given;
      }
      await bridge.ensureStarted();
      if (!bridge.clusters.length) {
        await bridge.refreshClusters();
      }
      const names = bridge.clusters.map(c => c.name);
      if (!names.length) {
        void showDialog({
          title,
          body: 'The Cluster Bridge kernel knows no clusters.',
          buttons: [Dialog.okButton()]
        });
        return null;
      }
      const picked = readPickedCluster(tracker.currentWidget?.model);
      const result = await InputDialog.getItem({
        title,
        items: names,
        current: Math.max(
          0,
          names.indexOf(picked || bridge.defaultCluster || '')
        )
      });
      return result.button.accept ? result.value : null;
    };

    const runActive = async (source: string) => {
      const panel = tracker.currentWidget;
      const cell = tracker.activeCell;
      if (!panel || !cell) {
        return;
      }
      if (source !== cell.model.sharedModel.getSource()) {
        cell.model.sharedModel.setSource(source);
      }
      await NotebookActions.run(panel.content, panel.sessionContext);
    };

    commands.addCommand(CommandIDs.runOnCluster, {
      label: 'Run Cell on Cluster…',
      caption: 'Put `%%cluster NAME` on the active cell and run it there',
      isEnabled: hasCodeCell,
      execute: async args => {
        const cell = tracker.activeCell;
        if (!cell) {
          return;
        }
        const cluster = await pickCluster('Run Cell on Cluster', args.cluster);
        if (!cluster) {
          return;
        }
        await runActive(
          withClusterMagic(cell.model.sharedModel.getSource(), cluster)
        );
      }
    });

    commands.addCommand(CommandIDs.runOnPicked, {
      label: 'Run Cell on the Picked Cluster',
      caption:
        'Run the active cell as a %%cluster cell on the cluster picked in the toolbar',
      isEnabled: hasCodeCell,
      execute: async () => {
        const cell = tracker.activeCell;
        if (!cell) {
          return;
        }
        const source = cell.model.sharedModel.getSource();
        // A bare magic follows the picker at run time.
        await runActive(
          isClusterCell(source) ? source : `${CELL_MAGIC}\n${source}`
        );
      }
    });

    commands.addCommand(CommandIDs.cancelJob, {
      label: 'Cancel Remote Job…',
      caption: 'Cancel the remote job of the active cell, or pick one',
      execute: async args => {
        let jobId =
          (args.jobId as string | undefined) ??
          Private.activeJobId(tracker.activeCell, bridge.jobs);
        if (!jobId) {
          await bridge.refreshJobs();
          const active = bridge.jobs.filter(j => !isJobOver(j));
          if (!active.length) {
            Notification.info('No remote job is running.', { autoClose: 4000 });
            return;
          }
          const items = active.map(j => `${j.id} · ${j.cluster} · ${j.title}`);
          const result = await InputDialog.getItem({
            title: 'Cancel Remote Job',
            items
          });
          if (!result.button.accept || result.value === null) {
            return;
          }
          jobId = active[items.indexOf(result.value)]?.id;
        }
        if (!jobId) {
          return;
        }
        await bridge.cancelJob(jobId);
        Notification.info(`Cancel requested for job ${jobId}.`, {
          autoClose: 4000
        });
      }
    });

    commands.addCommand(CommandIDs.testCluster, {
      label: 'Test Cluster Connection…',
      caption: 'Connect to a cluster and report what works',
      execute: async args => {
        const cluster = await pickCluster(
          'Test Cluster Connection',
          args.cluster
        );
        if (!cluster) {
          return;
        }
        const id = Notification.emit(`Testing ${cluster}…`, 'in-progress', {
          autoClose: false
        });
        try {
          const result = await bridge.testCluster(cluster);
          const report = Private.report(result);
          if (!report.lines.length) {
            Notification.update({
              id,
              message: `${cluster}: ${report.verdict}`,
              type: report.ok ? 'success' : 'error',
              autoClose: 8000
            });
            return;
          }
          // The checklist replaces the progress toast.
          Notification.dismiss(id);
          const body = document.createElement('pre');
          body.className = 'jp-ClusterBridge-doctor';
          body.textContent = report.lines.join('\n');
          await showDialog({
            title: `${cluster}: ${report.verdict}`,
            body: new Widget({ node: body }),
            buttons: [Dialog.okButton()]
          });
        } catch (err) {
          Notification.update({
            id,
            message: `${cluster}: ${(err as Error).message ?? err}`,
            type: 'error',
            autoClose: false
          });
        }
      }
    });

    commands.addCommand(CommandIDs.attachJob, {
      label: 'Attach to Remote Job',
      caption: 'Show the outputs of a remote job (live while it runs)',
      execute: async args => {
        const jobId = String(args.jobId ?? '');
        if (!/^[\w.:-]+$/.test(jobId)) {
          throw new Error(`Not a job id: ${jobId}`);
        }
        const code = `%cluster attach ${jobId}`;
        const panel = tracker.currentWidget;
        if (panel && args.target !== 'panel') {
          // Into a new cell below the active one: the outputs stay with the notebook.
          NotebookActions.insertBelow(panel.content);
          await runActive(code);
          return;
        }
        const kernel = await bridge.ensureStarted();
        const area = new OutputArea({
          model: new OutputAreaModel({ trusted: true }),
          rendermime
        });
        const widget = new MainAreaWidget({ content: area });
        widget.id = `jp-ClusterBridge-attach-${jobId}`;
        widget.title.label = `Job ${jobId}`;
        widget.title.closable = true;
        widget.addClass('jp-ClusterBridge-attach');
        app.shell.add(widget, 'main', { mode: 'split-right' });
        area.future = kernel.requestExecute({
          code,
          allow_stdin: true,
          stop_on_error: false
        });
      }
    });

    if (palette) {
      for (const command of [
        CommandIDs.runOnCluster,
        CommandIDs.runOnPicked,
        CommandIDs.cancelJob,
        CommandIDs.showJobs,
        CommandIDs.refreshJobs,
        CommandIDs.testCluster
      ]) {
        palette.addItem({ command, category: CATEGORY });
      }
    }
  }
};

namespace Private {
  /** Job id of the active cell (status output, else its metadata) while the job runs. */
  export function activeJobId(
    cell: INotebookTracker['activeCell'],
    jobs: IClusterBridge['jobs']
  ): string | undefined {
    if (!cell || cell.model.type !== 'code') {
      return undefined;
    }
    const outputs = (
      cell.model as unknown as {
        outputs: {
          length: number;
          get(i: number): { data: { [k: string]: unknown } };
        };
      }
    ).outputs;
    for (let i = 0; i < outputs.length; i++) {
      const p = outputs.get(i).data[STATUS_MIME] as IStatusPayload | undefined;
      if (p?.jobId && !isJobOver(p)) {
        return p.jobId;
      }
    }
    // The status is beside the cell, not an output: its job id is in the metadata.
    const recorded = readCellJobId(cell.model);
    const job = jobs.find(j => j.id === recorded);
    return job && !isJobOver(job) ? job.id : undefined;
  }

  /** The `test` op's answer as a title verdict and the checklist. */
  export function report(lines: IDoctorLine[]): {
    ok: boolean;
    verdict: string;
    lines: string[];
  } {
    if (!Array.isArray(lines) || !lines.length) {
      return { ok: true, verdict: 'reachable', lines: [] };
    }
    const verdict = doctorVerdict(lines);
    return {
      ok: verdict.ready,
      verdict: verdict.text,
      lines: doctorChecklist(lines, SYMBOL_MARKS)
    };
  }
}
