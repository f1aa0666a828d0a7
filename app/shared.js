// Module Federation `shared` config of the host.
//
// Prebuilt labextensions are built against @jupyterlab/core-meta (JupyterLab's
// own staging/package.json): every core package there is `import: false` in
// the extension, so the HOST must provide each of them. We therefore share
// all of core-meta's resolutions that are installed, plus the dependencies of
// the bundled extension packages, and mark core's singletons.

const fs = require('fs');
const path = require('path');

const repoRoot = path.resolve(__dirname, '..');
const core = require('@jupyterlab/core-meta/core.package.json');

function installedVersion(pkg) {
  const file = path.join(repoRoot, 'node_modules', pkg, 'package.json');
  if (!fs.existsSync(file)) {
    return null;
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')).version;
}

function sharedConfig(extensionPackages) {
  const shared = {};
  // The host asks for (at least) what is installed, so it never warns about
  // its own copy; a newer compatible copy from an extension may replace it.
  const add = pkg => {
    if (shared[pkg]) {
      return;
    }
    const version = installedVersion(pkg);
    if (version) {
      shared[pkg] = { requiredVersion: `^${version}` };
    }
  };
  for (const pkg of Object.keys(core.resolutions || {})) {
    add(pkg);
  }
  for (const pkg of Object.keys(core.dependencies || {})) {
    add(pkg);
  }
  for (const pkg of extensionPackages) {
    add(pkg);
    const data = require(`${pkg}/package.json`);
    for (const dep of Object.keys(data.dependencies || {})) {
      add(dep);
    }
  }
  for (const pkg of core.jupyterlab.singletonPackages) {
    if (shared[pkg]) {
      shared[pkg].singleton = true;
    }
  }
  return shared;
}

module.exports = { sharedConfig };
