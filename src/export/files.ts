// The exporters' objects as files: YAML (the `yaml` package) for Kubernetes
// and compose, the unit's own text for systemd. Pure: no file is written here.

import { basename } from 'node:path';
import { stringify } from 'yaml';
import type { SystemConfig } from '../core/system-types.js';
import { dnsName, systemRoot, type ExportOptions } from './app-facts.js';
import { composeFile } from './compose.js';
import { kubernetesManifests, type KubernetesOptions } from './kubernetes.js';
import { systemdUnit, type SystemdOptions } from './systemd.js';

export const ENGINES = ['kubernetes', 'systemd', 'compose'] as const;
export type Engine = (typeof ENGINES)[number];

export interface ExportFile {
  readonly name: string;
  readonly content: string;
}

export type AllExportOptions = ExportOptions & KubernetesOptions & SystemdOptions;

/** The system's name: its folder's, as a DNS label (the Ingress, the unit, the part-of label). */
export function systemName(system: SystemConfig): string {
  const root = systemRoot(system);
  const name = dnsName((root === undefined ? undefined : basename(root).toLowerCase().replace(/[^a-z0-9-]+/g, '-')) ?? '');
  return name === '' ? dnsName(system.apps[0]?.name ?? 'supervise') : name;
}

// Long lines stay on one line (commands, probes), so that the files diff well.
const YAML_OPTIONS = { lineWidth: 0 } as const;

export function exportSystem(engine: Engine, system: SystemConfig, options: AllExportOptions): ExportFile[] {
  const name = systemName(system);
  switch (engine) {
    case 'kubernetes':
      return kubernetesManifests(system, options, name).map((file) => ({
        name: file.name,
        content: file.objects.map((object) => stringify(object, YAML_OPTIONS)).join('---\n'),
      }));
    case 'compose':
      return [{ name: 'compose.yaml', content: stringify(composeFile(system, options), YAML_OPTIONS) }];
    case 'systemd':
      return [{ name: `${name}.service`, content: systemdUnit(system, options, name) }];
  }
}
