import { Hono, type MiddlewareHandler } from "hono";
import { urlKinds, type UrlKind } from "../callbacks/families";
import { upsertQuarantine } from "../db/quarantine";
import type { AppEnv } from "../http/app-env";
import { RelayError } from "../http/errors";
import { ingestBodyLimit } from "./body-limit";
import { eventIdFor, quarantineIdFor } from "./event-id";
import { handOff } from "./hand-off";
import { checkContentType, parseCallbackBody } from "./parse-body";
import { tenantAuth } from "./tenant-auth";
import { validateCallback } from "./validate";

const PATH = "/v1/callbacks/:tenant/:kind";

const isUrlKind = (k: string): k is UrlKind => (urlKinds as readonly string[]).includes(k);

/** A kind this route knows and a JSON content type (or none), before a byte of the body is read. */
export const checkCallbackRequest: MiddlewareHandler<AppEnv, typeof PATH> = async function checkCallbackRequest(c, next) {
  if (!isUrlKind(c.req.param("kind"))) {
    throw new RelayError("unknown_kind", `kind must be one of ${urlKinds.join(", ")}`);
  }
  checkContentType(c.req.header("content-type"));
  await next();
};

/**
 * `POST /v1/callbacks/{tenant}/{kind}`: the only route AiRudder calls. The
 * order is deliberate: authenticate (cached, no body read), check the kind
 * and content type, limit the body (hono/body-limit), then read it once,
 * parse it once, validate its identity fields, and one queue send. A 200
 * means the callback is durably handed over.
 */
export const ingestRoutes = new Hono<AppEnv>().post(PATH, tenantAuth, checkCallbackRequest, ingestBodyLimit, async (c) => {
  const tenant = c.req.param("tenant");
  const kind = c.req.param("kind") as UrlKind;
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  const { text, payload } = parseCallbackBody(bytes);
  const receivedAt = Date.now();

  const validation = await validateCallback(kind, payload);
  if (!validation.ok) {
    await quarantine(c.env.DB, tenant, kind, text, validation.issues, receivedAt);
    throw new RelayError("invalid_payload", `callback does not match the ${validation.family.kind} schema`, {
      issues: validation.issues,
    });
  }

  const eventId = await eventIdFor(tenant, text);
  await handOff(c.env, {
    event_id: eventId,
    tenant_id: tenant,
    kind: validation.family.kind,
    type: validation.eventType,
    received_at: receivedAt,
    body: text,
    size: bytes.byteLength,
    columns: validation.family.columns(payload),
  });
  return c.json({ ok: true as const, event_id: eventId });
});

/**
 * Keeps the refused body so that nothing AiRudder sent is ever lost; if even
 * that fails, the answer becomes a 503 so that AiRudder sends it again.
 */
async function quarantine(
  db: D1Database,
  tenant: string,
  kind: string,
  body: string,
  issues: { path: string; message: string }[],
  now: number,
): Promise<void> {
  try {
    await upsertQuarantine(db, {
      id: await quarantineIdFor(tenant, body),
      tenant_id: tenant,
      kind,
      received_at: now,
      last_received_at: now,
      body,
      issues: JSON.stringify(issues),
    });
  } catch (err) {
    console.error(JSON.stringify({ level: "error", msg: "quarantine write failed", error: String(err) }));
    throw new RelayError("unavailable", "the relay could not keep the callback right now; retry later");
  }
}
