import { Hono } from "hono";
import { z } from "zod";

interface Stored {
  id: string;
  tenant: string;
  callid: string;
  received_at: number;
  body: string;
}

interface Env {
  DB: D1Database;
  QUEUE: Queue<Stored>;
}

/** What a hand-written relay would check of an inbound callback: its identity and the usual fields. */
const inbound = z.looseObject({
  callid: z.string().min(1),
  caller_number: z.string().optional(),
  callee_number: z.string().optional(),
  call_start_time: z.string().optional(),
  call_end_time: z.string().optional(),
  asr_result: z.array(z.string()).optional(),
});

const app = new Hono<{ Bindings: Env }>();

app.post("/v1/callbacks/:tenant/:kind", async (c) => {
  const body = await c.req.text();
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return c.json({ ok: false, error: "invalid_json" }, 400);
  }
  const parsed = inbound.safeParse(json);
  if (!parsed.success) return c.json({ ok: false, error: "invalid_payload" }, 422);
  const id = crypto.randomUUID();
  await c.env.QUEUE.send(
    { id, tenant: c.req.param("tenant"), callid: parsed.data.callid, received_at: Date.now(), body },
    { contentType: "json" },
  );
  return c.json({ ok: true, event_id: id });
});

/** Lets the bench see how far the consumer has got. */
app.get("/count", async (c) => {
  const row = await c.env.DB.prepare("SELECT COUNT(*) AS n FROM callbacks").first<{ n: number }>();
  return c.json({ count: row?.n ?? 0 });
});

export default {
  fetch: app.fetch,
  async queue(batch: MessageBatch<Stored>, env: Env) {
    const insert = env.DB.prepare(
      "INSERT INTO callbacks (id, tenant, callid, received_at, payload) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING",
    );
    await env.DB.batch(
      batch.messages.map((m) => insert.bind(m.body.id, m.body.tenant, m.body.callid, m.body.received_at, m.body.body)),
    );
    batch.ackAll();
  },
} satisfies ExportedHandler<Env, Stored>;
