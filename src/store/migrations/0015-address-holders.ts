import type { Migration } from '../migrator.js';

/**
 * `cloud_address_holders`: which network interface held each ENI address, from which import on. An import that
 * finds an address with another holder than the one before (another interface, or its instance or security groups
 * changed) adds a row; one that lists the interface without an address it held adds a row with interface '' (let
 * go). A flow goes to the holder of the last import at or before it, or to the first one when it is older than
 * every import: before, an address went to the interface of the latest import for flows of any time, so replacing
 * an instance re-attributed a week of its predecessor's traffic to it.
 *
 * Filled from what earlier imports left (each interface's addresses as of its last import): that history starts
 * there.
 */
export const migration0015: Migration = {
  version: 15,
  name: 'address-holders',
  sql: `
CREATE TABLE cloud_address_holders (
  address         TEXT NOT NULL,
  since           REAL NOT NULL,  -- the import that found this holder
  interface_id    TEXT NOT NULL,  -- '' when the interface that held it let it go
  instance_id     TEXT NOT NULL,
  security_groups TEXT NOT NULL,  -- JSON [{groupId, groupName}], as cloud_enis
  PRIMARY KEY (address, since)
) STRICT, WITHOUT ROWID;

INSERT OR IGNORE INTO cloud_address_holders (address, since, interface_id, instance_id, security_groups)
SELECT a.address, e.imported_at, e.interface_id, e.instance_id, e.security_groups
FROM cloud_eni_addresses a JOIN cloud_enis e ON e.interface_id = a.interface_id
ORDER BY a.address, e.imported_at, e.interface_id;

CREATE TRIGGER cloud_address_holders_gen_insert AFTER INSERT ON cloud_address_holders BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
CREATE TRIGGER cloud_address_holders_gen_update AFTER UPDATE ON cloud_address_holders BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
`,
};
