// Module Federation `shared` config of the host.
//
// Prebuilt labextensions are built against @jupyterlab/core-meta (JupyterLab's
// own staging/package.json): every core package there is `import: false` in
// the extension, so the HOST must provide each of them. We therefore share
// all of core-meta's resolutions that are installed, plus the dependencies of
// the bundled extension packages, and mark core's singletons.

const fs = require('fs');
const path = require('path');
const semver = require('semver');

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
  const add = (pkg, range) => {
    if (shared[pkg]) {
      return;
    }
    const version = installedVersion(pkg);
    if (!version) {
      return;
    }
    // Keep core's range when it holds; otherwise ask for what is installed,
    // so the host never warns about its own copy.
    const ok =
      range && semver.validRange(range) && semver.satisfies(version, range);
    shared[pkg] = { requiredVersion: ok ? range : `^${version}` };
  };
  for (const [pkg, range] of Object.entries(core.resolutions || {})) {
    add(pkg, range);
  }
  for (const [pkg, range] of Object.entries(core.dependencies || {})) {
    add(pkg, range);
  }
  for (const pkg of extensionPackages) {
    add(pkg, `^${installedVersion(pkg)}`);
    const data = require(`${pkg}/package.json`);
    for (const [dep, range] of Object.entries(data.dependencies || {})) {
      add(dep, range);
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
