export { ClusterRegistry, UnknownClusterError } from './registry';
export type { IClusterRegistryOptions } from './registry';
export {
  validateClustersFile,
  parseClustersFile,
  clusterSchemaPath
} from './validate';
export { parseSshConfigHosts, readSshConfigHosts } from './sshConfigHosts';
