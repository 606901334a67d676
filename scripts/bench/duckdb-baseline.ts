/**
 * DuckDB baseline: read the flow-log file with read_csv and materialize the same hourly edge aggregation
 * egress-learner keeps (source × destination × port × protocol × action × hour).
 *
 *   node dist/scripts/bench/duckdb-baseline.js --file flows.log.gz --threads 1 --db /tmp/x/duck.db
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { argValue, writeReport } from './child-report.js';

const COLUMNS: Array<[string, string]> = [
  ['version', 'INTEGER'],
  ['account-id', 'VARCHAR'],
  ['interface-id', 'VARCHAR'],
  ['srcaddr', 'VARCHAR'],
  ['dstaddr', 'VARCHAR'],
  ['srcport', 'INTEGER'],
  ['dstport', 'INTEGER'],
  ['protocol', 'INTEGER'],
  ['packets', 'BIGINT'],
  ['bytes', 'BIGINT'],
  ['start', 'BIGINT'],
  ['end', 'BIGINT'],
  ['action', 'VARCHAR'],
  ['log-status', 'VARCHAR'],
];

const sqlString = (s: string): string => `'${s.replace(/'/g, "''")}'`;

export function edgeAggregationSql(file: string): string {
  const columns = COLUMNS.map(([name, type]) => `${sqlString(name)}: ${sqlString(type)}`).join(', ');
  return `CREATE TABLE edges AS
SELECT srcaddr, dstaddr, dstport, protocol, action, start // 3600 AS hour,
       count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes,
       min(start) AS first_seen, max("end") AS last_seen
FROM read_csv(${sqlString(file)}, delim = ' ', header = true, nullstr = '-', auto_detect = false,
              columns = {${columns}})
WHERE "log-status" = 'OK'
GROUP BY ALL`;
}

async function main(argv: string[]): Promise<void> {
  const file = argValue(argv, '--file');
  const threads = Number(argValue(argv, '--threads'));
  const dbPath = argValue(argv, '--db');
  if (!Number.isInteger(threads) || threads < 1) throw new Error('--threads must be a positive integer');
  const instance = await DuckDBInstance.create(dbPath);
  const conn = await instance.connect();
  try {
    await conn.run(`SET threads = ${threads}`);
    await conn.run(edgeAggregationSql(file));
    const reader = await conn.runAndReadAll('SELECT count(*) FROM edges');
    const rows = Number(reader.getRows()[0]?.[0] ?? 0);
    writeReport({ rows, rowsLabel: 'edges', threads });
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`duckdb-baseline: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
