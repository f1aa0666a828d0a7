/**
 * Validates a clusters file (CLUSTER_BRIDGE_CONFIG, or the `clusters`
 * setting) against schema/cluster-config.schema.json, the one schema that
 * mirrors src/shared/config.ts.
 */
import * as fs from 'fs';
import * as path from 'path';
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';

import type { IClustersFile } from '../../shared/config';
import { packageRoot } from '../util/paths';

/** Path of the JSON Schema shipped in the package. */
export function clusterSchemaPath(): string {
  return path.join(packageRoot(), 'schema', 'cluster-config.schema.json');
}

/**
 * Checks a parsed clusters file. Returns human-readable problems (empty when
 * valid), each naming the offending JSON path.
 */
export function validateClustersFile(data: unknown): string[] {
  const validate = Private.validator();
  if (validate(data)) {
    return [];
  }
  const errors = validate.errors ?? [];
  // A oneOf's own complaints ("must be equal to constant", "must match exactly
  // one schema") only blur the specific problem found inside the same value.
  const specific = errors.filter(
    e =>
      !['oneOf', 'const'].includes(e.keyword) ||
      !errors.some(
        o =>
          !['oneOf', 'const'].includes(o.keyword) &&
          o.instancePath.startsWith(e.instancePath)
      )
  );
  return specific.map(Private.describe);
}

/** Parses and validates; throws one error listing every problem. */
export function parseClustersFile(text: string, source: string): IClustersFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not valid JSON (${(err as Error).message})`);
  }
  const problems = validateClustersFile(data);
  if (problems.length > 0) {
    throw new Error(
      `${source}: invalid cluster config:\n  ${problems.join('\n  ')}`
    );
  }
  return data as IClustersFile;
}

namespace Private {
  let compiled: ValidateFunction | null = null;

  export function validator(): ValidateFunction {
    if (!compiled) {
      const schema = JSON.parse(fs.readFileSync(clusterSchemaPath(), 'utf8'));
      const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
      compiled = ajv.compile(schema);
    }
    return compiled;
  }

  export function describe(error: ErrorObject): string {
    const where = error.instancePath || '(top level)';
    if (error.keyword === 'additionalProperties') {
      const extra = (error.params as { additionalProperty: string })
        .additionalProperty;
      return `${where}: unknown field "${extra}"`;
    }
    if (error.keyword === 'enum') {
      const allowed = (error.params as { allowedValues: unknown[] })
        .allowedValues;
      return `${where}: must be one of ${allowed.map(v => JSON.stringify(v)).join(', ')}`;
    }
    const bound = (error.schema as { maximum?: unknown } | undefined)?.maximum;
    if (error.keyword === 'not' && typeof bound === 'number') {
      return `${where}: must be more than ${bound}`;
    }
    return `${where}: ${error.message ?? error.keyword}`;
  }
}
