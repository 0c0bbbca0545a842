import { env } from "cloudflare:workers";

/*
 * The relay's data as one database, for tests that look at rows directly:
 * every statement runs on the control database and on each event shard, and
 * the answers are merged. A row lives in one database, so a read finds it
 * where it is and an UPDATE or DELETE changes it there; an INSERT goes where
 * its table lives (attempts go with their delivery). `COUNT(*) AS n` is
 * summed across databases, per group.
 */

const databases = () => [env.DB, env.EVENTS_0, env.EVENTS_1];
const INSERT_INTO = /\bINSERT\s+INTO\s+(\w+)/i;

type Row = Record<string, unknown>;

function mergeCounts(sql: string, rows: Row[]): Row[] {
  if (!/COUNT\(\*\)\s+AS\s+n\b/i.test(sql)) return rows;
  const groups = new Map<string, Row>();
  for (const row of rows) {
    const { n, ...rest } = row;
    const key = JSON.stringify(rest);
    const g = groups.get(key);
    if (g) g.n = (g.n as number) + (n as number);
    else groups.set(key, { ...row });
  }
  return [...groups.values()];
}

class EveryStatement {
  constructor(
    readonly sql: string,
    readonly values: unknown[] = [],
  ) {}

  bind(...values: unknown[]) {
    return new EveryStatement(this.sql, values);
  }

  private async targets(): Promise<D1Database[]> {
    const table = INSERT_INTO.exec(this.sql)?.[1]?.toLowerCase();
    if (!table) return databases();
    if (!["events", "deliveries", "attempts"].includes(table)) return [env.DB];
    if (table !== "attempts") return [env.EVENTS_0];
    for (const db of [env.EVENTS_0, env.EVENTS_1]) {
      if (await db.prepare("SELECT 1 FROM deliveries WHERE id = ?1").bind(this.values[0]).first()) return [db];
    }
    throw new Error(`no shard holds delivery ${String(this.values[0])}`);
  }

  async all<T = Row>(): Promise<D1Result<T>> {
    const results = await Promise.all((await this.targets()).map((db) => db.prepare(this.sql).bind(...this.values).all<Row>()));
    const rows = mergeCounts(this.sql, results.flatMap((r) => r.results));
    const changes = results.reduce((sum, r) => sum + (r.meta.changes ?? 0), 0);
    return { ...results[0]!, results: rows as T[], meta: { ...results[0]!.meta, changes } };
  }

  async first<T = Row>(column?: string): Promise<T | null> {
    const row = (await this.all<Row>()).results[0] ?? null;
    return (row && column ? row[column] : row) as T | null;
  }

  run<T = Row>() {
    return this.all<T>();
  }

  async raw(): Promise<unknown[][]> {
    return (await this.all<Row>()).results.map((r) => Object.values(r));
  }
}

export const everyDatabase = {
  prepare: (sql: string) => new EveryStatement(sql),
  async batch(statements: EveryStatement[]) {
    const out: D1Result[] = [];
    for (const s of statements) out.push(await s.all());
    return out;
  },
} as unknown as D1Database;
