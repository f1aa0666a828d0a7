#!/usr/bin/env node
// Builds the prebuilt (federated) labextension into ./labextension (npm run build:labextension).
//
// @jupyterlab/builder's build-labextension needs --core-path: a folder whose package.json lists
// JupyterLab's core dependencies and jupyterlab.singletonPackages. Without the jupyterlab Python
// package (not installable here), that file comes from @jupyterlab/core-meta, the same snapshot
// of dev_mode/package.json that JupyterLab 4.6 itself ships. We copy it into .cache/core-meta/.
//
// Usage: node scripts/build-labextension.js [--development]
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const coreMeta = require.resolve('@jupyterlab/core-meta/core.package.json', {
  paths: [root]
});
const corePath = path.join(root, '.cache', 'core-meta');
fs.mkdirSync(corePath, { recursive: true });
fs.copyFileSync(coreMeta, path.join(corePath, 'package.json'));

const main = require(path.join(root, 'package.json')).main;
if (!fs.existsSync(path.join(root, main))) {
  console.error(
    `build-labextension: ${main} is missing; run npm run build:frontend first`
  );
  process.exit(1);
}

const builder = require.resolve(
  '@jupyterlab/builder/lib/build-labextension.js',
  { paths: [root] }
);
const args = [builder, '--core-path', corePath, ...process.argv.slice(2), root];
const result = spawnSync(process.execPath, args, {
  cwd: root,
  stdio: 'inherit'
});
process.exit(result.status === null ? 1 : result.status);
