import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { refreshAttribution } from '../../src/identity/refresh-attribution.js';
import { JOIN_SQL } from '../../src/store/flow-query.js';
import { migrate } from '../../src/store/migrator.js';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/tmp.js';

/** The columns of `address_attribution` as migration 0003 made them: what the queries joining it read. */
const COLUMNS = [
  'addr',
  'first_seen',
  'last_seen',
  'kind',
  'reason',
  'workload_id',
  'cluster',
  'namespace',
  'workload_kind',
  'workload_name',
  'pod',
  'node',
  'host_network',
  'labels',
  'candidates',
  'interface_id',
  'instance_id',
  'security_groups',
  'dst_class',
  'dst_name',
];

describe('the attribution cache schema (migration 0007)', () => {
  it('keeps address_attribution readable with the columns it always had', () => {
    const store = new Store(join(tempDir(), 'x.db'));
    const cols = store.db.prepare("SELECT name FROM pragma_table_info('address_attribution')").all();
    expect(cols.map((c) => (c as { name: string }).name)).toEqual(COLUMNS);
    store.close();
  });

  it('lets queries joining the view look rows up by the primary key, materializing nothing', () => {
    const store = new Store(join(tempDir(), 'x.db'));
    const plan = (
      store.db
        .prepare(`EXPLAIN QUERY PLAN SELECT s.kind, s.candidates, d.dst_class FROM edges e ${JOIN_SQL}`)
        .all() as { detail: string }[]
    ).map((r) => r.detail);
    expect(
      plan.filter((d) =>
        /^SEARCH \w+ USING PRIMARY KEY \(addr=\? AND first_seen=\? AND last_seen=\?\)/.test(d),
      ),
    ).toHaveLength(2);
    expect(plan.some((d) => /MATERIALIZE|SCAN a\b|SCAN attribution_cache/.test(d))).toBe(false);
    store.close();
  });

  it('drops a cache of the old shape on upgrade, so the next refresh recomputes it', () => {
    const path = join(tempDir(), 'x.db');
    const old = new Database(path);
    migrate(
      old,
      MIGRATIONS.filter((m) => m.version < 7),
      () => 0,
    );
    old
      .prepare(
        `INSERT INTO address_attribution VALUES ('10.0.0.1', 1, 2, 'workload', '', 'a/Deployment/b', '', 'a',
           'Deployment', 'b', 'b-1', 'n', 0, '{}', '[{"pod":"x"}]', '', '', '[]', 'pod', 'a/Deployment/b')`,
      )
      .run();
    old.prepare(`INSERT INTO meta (key, value) VALUES ('attribution_state', '{"version":1}')`).run();
    old.close();

    const store = new Store(path);
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM address_attribution').get()).toEqual({ n: 0 });
    expect(refreshAttribution(store.db).mode).toBe('full');
    store.close();
  });
});
