import type Database from 'better-sqlite3';
import type {
  CloudPrefixRecord,
  NetworkInterfaceRecord,
  SecurityGroupRecord,
  VpcCidrRecord,
} from '../model/cloud-inventory.js';
import { writeTransaction } from './write-transaction.js';

interface HolderRow {
  readonly since: number;
  readonly interface_id: string;
  readonly instance_id: string;
  readonly security_groups: string;
}

/** What one import changed. */
export interface CloudImportCounts {
  networkInterfaces: number;
  addresses: number;
  securityGroups: number;
  vpcCidrs: number;
  cloudPrefixes: number;
}

/**
 * The AWS inventory in SQLite (migration 0003). ENIs and security groups are upserted by id (a filtered listing
 * adds to what is known, it does not erase the rest), and each address's holders are kept with the import that
 * found them (migration 0015); ip-ranges.json replaces the stored prefixes as a whole. Triggers bump `meta.inventory_generation` on ENI and VPC changes; the prefix replace bumps it itself.
 */
export class CloudInventoryStore {
  readonly #upsertEni: Database.Statement;
  readonly #eniImportedAt: Database.Statement;
  readonly #clearEniAddresses: Database.Statement;
  readonly #eniAddresses: Database.Statement;
  readonly #insertEniAddress: Database.Statement;
  readonly #holderAt: Database.Statement;
  readonly #putHolder: Database.Statement;
  readonly #upsertGroup: Database.Statement;
  readonly #insertVpcCidr: Database.Statement;
  readonly #clearPrefixes: Database.Statement;
  readonly #insertPrefix: Database.Statement;
  readonly #bumpGeneration: Database.Statement;
  readonly #setMeta: Database.Statement;
  readonly #import: (
    enis: readonly NetworkInterfaceRecord[],
    groups: readonly SecurityGroupRecord[],
    cidrs: readonly VpcCidrRecord[],
    prefixes: readonly CloudPrefixRecord[] | null,
    at: number,
  ) => CloudImportCounts;

  constructor(db: Database.Database) {
    this.#upsertEni = db.prepare(`
      INSERT INTO cloud_enis (interface_id, instance_id, vpc_id, subnet_id, availability_zone, owner_id,
                              interface_type, description, status, security_groups, prefixes, imported_at)
      VALUES (@interfaceId, @instanceId, @vpcId, @subnetId, @availabilityZone, @ownerId, @interfaceType,
              @description, @status, @securityGroups, @prefixes, @at)
      ON CONFLICT DO UPDATE SET instance_id = excluded.instance_id, vpc_id = excluded.vpc_id,
        subnet_id = excluded.subnet_id, availability_zone = excluded.availability_zone, owner_id = excluded.owner_id,
        interface_type = excluded.interface_type, description = excluded.description, status = excluded.status,
        security_groups = excluded.security_groups, prefixes = excluded.prefixes, imported_at = excluded.imported_at`);
    this.#eniImportedAt = db.prepare('SELECT imported_at FROM cloud_enis WHERE interface_id = ?');
    this.#clearEniAddresses = db.prepare('DELETE FROM cloud_eni_addresses WHERE interface_id = ?');
    this.#eniAddresses = db.prepare(
      'SELECT address FROM cloud_eni_addresses WHERE interface_id = ? ORDER BY address',
    );
    this.#insertEniAddress = db.prepare(
      'INSERT OR IGNORE INTO cloud_eni_addresses (address, interface_id) VALUES (?, ?)',
    );
    this.#holderAt = db.prepare(`
      SELECT since, interface_id, instance_id, security_groups FROM cloud_address_holders
      WHERE address = ? AND since <= ? ORDER BY since DESC LIMIT 1`);
    this.#putHolder = db.prepare(`
      INSERT OR REPLACE INTO cloud_address_holders (address, since, interface_id, instance_id, security_groups)
      VALUES (?, ?, ?, ?, ?)`);
    this.#upsertGroup = db.prepare(`
      INSERT INTO cloud_security_groups (group_id, group_name, vpc_id, owner_id, description, ingress, egress,
                                         imported_at)
      VALUES (@groupId, @groupName, @vpcId, @ownerId, @description, @ingress, @egress, @at)
      ON CONFLICT DO UPDATE SET group_name = excluded.group_name, vpc_id = excluded.vpc_id,
        owner_id = excluded.owner_id, description = excluded.description, ingress = excluded.ingress,
        egress = excluded.egress, imported_at = excluded.imported_at
      WHERE excluded.imported_at >= cloud_security_groups.imported_at`);
    this.#insertVpcCidr = db.prepare(
      'INSERT OR IGNORE INTO vpc_cidrs (cidr, vpc_id, origin) VALUES (?, ?, ?)',
    );
    this.#clearPrefixes = db.prepare('DELETE FROM cloud_prefixes');
    this.#insertPrefix = db.prepare(
      'INSERT OR IGNORE INTO cloud_prefixes (cidr, service, region, network_border_group) VALUES (?, ?, ?, ?)',
    );
    this.#bumpGeneration = db.prepare(
      "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation'",
    );
    this.#setMeta = db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO UPDATE SET value = excluded.value',
    );
    this.#import = writeTransaction(db, (enis, groups, cidrs, prefixes, at): CloudImportCounts => {
      const counts: CloudImportCounts = {
        networkInterfaces: 0,
        addresses: 0,
        securityGroups: 0,
        vpcCidrs: 0,
        cloudPrefixes: 0,
      };
      // Every claim of the listing before any release, so that the order of its interfaces does not matter.
      const releases: (() => void)[] = [];
      for (const e of enis) {
        const wanted = [...new Set<string>(e.addresses)].sort();
        const before = this.#eniImportedAt.get(e.interfaceId) as { imported_at: number } | undefined;
        // A listing older than the interface's last one (`--at` on an archive) only adds to the history.
        if (before === undefined || before.imported_at <= at) {
          this.#upsertEni.run({
            interfaceId: e.interfaceId,
            instanceId: e.instanceId,
            vpcId: e.vpcId,
            subnetId: e.subnetId,
            availabilityZone: e.availabilityZone,
            ownerId: e.ownerId,
            interfaceType: e.interfaceType,
            description: e.description,
            status: e.status,
            securityGroups: JSON.stringify(e.securityGroups),
            prefixes: JSON.stringify(e.prefixes),
            at,
          });
          const stored = (this.#eniAddresses.all(e.interfaceId) as { address: string }[]).map(
            (r) => r.address,
          );
          // The addresses are rewritten only when they changed, so a re-import of the same listing is no change.
          if (stored.join(' ') !== wanted.join(' ')) {
            this.#clearEniAddresses.run(e.interfaceId);
            for (const a of wanted) this.#insertEniAddress.run(a, e.interfaceId);
          }
          releases.push(() => this.#release(e, stored, wanted, at));
        }
        this.#claim(e, wanted, at);
        counts.networkInterfaces++;
        counts.addresses += wanted.length;
      }
      for (const release of releases) release();
      for (const g of groups) {
        this.#upsertGroup.run({
          groupId: g.groupId,
          groupName: g.groupName,
          vpcId: g.vpcId,
          ownerId: g.ownerId,
          description: g.description,
          ingress: JSON.stringify(g.ingress),
          egress: JSON.stringify(g.egress),
          at,
        });
        counts.securityGroups++;
      }
      for (const c of cidrs) {
        this.#insertVpcCidr.run(c.cidr, c.vpcId, c.origin);
        counts.vpcCidrs++;
      }
      if (prefixes !== null) {
        this.#clearPrefixes.run();
        for (const p of prefixes) {
          this.#insertPrefix.run(p.cidr, p.service, p.region, p.networkBorderGroup);
          counts.cloudPrefixes++;
        }
        this.#bumpGeneration.run();
      }
      return counts;
    });
  }

  /**
   * Adds to each address's history of holders (migration 0015) that `e` holds `wanted` at `at`. A new holder is
   * dated by the import, or by the interface's attachment when that tells when it changed and is after the holder
   * before: an interface moved to another instance took all its addresses along then, and a new instance's own
   * interface had its primary address from launch, moments before it was attached. So an instance replaced between
   * two imports has its flows before the second.
   */
  #claim(e: NetworkInterfaceRecord, wanted: readonly string[], at: number): void {
    const groups = JSON.stringify(e.securityGroups);
    for (const a of wanted) {
      const h = this.#holderAt.get(a, at) as HolderRow | undefined;
      if (h?.interface_id === e.interfaceId && h.instance_id === e.instanceId && h.security_groups === groups)
        continue;
      const moved = h?.interface_id === e.interfaceId && h.instance_id !== e.instanceId;
      const launched = h?.interface_id !== e.interfaceId && a === e.primaryAddress;
      const attached = moved || launched ? e.attachedAt : null;
      const since =
        attached !== null && attached < at && (h === undefined || attached > h.since) ? attached : at;
      this.#putHolder.run(a, since, e.interfaceId, e.instanceId, groups);
    }
  }

  /** `e` lets go at `at` of the addresses of `stored` it no longer lists, unless another interface took them. */
  #release(
    e: NetworkInterfaceRecord,
    stored: readonly string[],
    wanted: readonly string[],
    at: number,
  ): void {
    const kept = new Set(wanted);
    for (const a of stored) {
      const h = this.#holderAt.get(a, at) as HolderRow | undefined;
      if (!kept.has(a) && h?.interface_id === e.interfaceId) this.#putHolder.run(a, at, '', '', '[]');
    }
  }

  /**
   * Writes one import in one transaction. `prefixes` (ip-ranges.json) replaces the stored set when given;
   * `syncToken` is kept in meta so a report can say which publication was used.
   */
  import(
    items: {
      readonly enis?: readonly NetworkInterfaceRecord[];
      readonly securityGroups?: readonly SecurityGroupRecord[];
      readonly vpcCidrs?: readonly VpcCidrRecord[];
      readonly cloudPrefixes?: readonly CloudPrefixRecord[];
      readonly syncToken?: string;
    },
    at: number,
  ): CloudImportCounts {
    const counts = this.#import(
      items.enis ?? [],
      items.securityGroups ?? [],
      items.vpcCidrs ?? [],
      items.cloudPrefixes ?? null,
      at,
    );
    if (items.syncToken !== undefined) this.#setMeta.run('ip_ranges_sync_token', items.syncToken);
    return counts;
  }
}
