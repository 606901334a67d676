import type { Migration } from '../migrator.js';

/**
 * Ports the inventory did not keep, without which traffic to a Service and named ports were judged wrong:
 *
 * - `k8s_leases.ports`: the pod's named container ports, JSON [{name, port, protocol}]. A NetworkPolicy's
 *   `port: http` and a Service's `targetPort: http` resolve through them. A pod's ports cannot change, so they
 *   ride on its leases rather than in a table of their own.
 * - `k8s_services.ports`: the Service's `spec.ports`, JSON [{name, protocol, port, targetPort}] (targetPort a
 *   number or a container port name). Traffic to a ClusterIP reaches the pods on the targetPort, which is what
 *   NetworkPolicy sees.
 *
 * Rows stored before get '[]': the port stays as observed and named ports resolve to nothing, as before. The next
 * `collect k8s` fills in the ports of pods still running, and rewrites every Service.
 */
export const migration0012: Migration = {
  version: 12,
  name: 'inventory-ports',
  sql: `
ALTER TABLE k8s_leases ADD COLUMN ports TEXT NOT NULL DEFAULT '[]';
ALTER TABLE k8s_services ADD COLUMN ports TEXT NOT NULL DEFAULT '[]';
`,
};
