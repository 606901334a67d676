import type { Migration } from '../migrator.js';

/**
 * `k8s_leases.pod_deleted_at`: the pod's `metadata.deletionTimestamp` as last seen while the lease was open (NULL
 * while the pod was not being deleted). Each snapshot import rebuilds the live pods from their open leases;
 * without it, a pod seen terminating in one snapshot and gone from the next ended at the next one instead of at
 * its deletion, and flows from its address in between were taken for its.
 *
 * Leases stored before get NULL; the next view of a pod still terminating fills it in.
 */
export const migration0014: Migration = {
  version: 14,
  name: 'lease-deletion',
  sql: `ALTER TABLE k8s_leases ADD COLUMN pod_deleted_at REAL;`,
};
