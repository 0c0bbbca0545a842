import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { encodeBase64 } from "hono/utils/encode";
import { afterEach, describe, expect, it } from "vitest";
import { buildApp } from "../src/app";
import { QUEUES } from "../src/consumer/queue-handler";
import { open, resealedWithCurrentKey, seal } from "../src/crypto/secret-box";
import { getDestination, replaceSealedValues } from "../src/db/destinations";
import type { Env } from "../src/env";
import worker from "../src/index";
import type { DeliveryMessage } from "../src/queue-messages";
import { ADMIN, admin, createDestination, createTenant, fakeCrm, freshCallback, postCallback, uniqueId, waitUntil } from "./helpers";
import { everyDatabase } from "./every-database";

const crms: ReturnType<typeof fakeCrm>[] = [];
afterEach(() => crms.splice(0).forEach((c) => c.restore()));

const newKey = () => encodeBase64(crypto.getRandomValues(new Uint8Array(32)).buffer);
/** Key A: the one the suite runs with, so everything created through the relay is sealed with it. */
const keyA = env.ENCRYPTION_KEY!;

/** The relay after the operator moved ENCRYPTION_KEY to `keyB` and kept A as a previous key. */
function rotatedEnv(keyB: string): Env {
  return { ...env, ENCRYPTION_KEY: keyB, ENCRYPTION_KEY_PREVIOUS: `${newKey()}, ${keyA}` };
}

async function adminWith(envOf: Env, method: string, path: string, body?: unknown) {
  const res = await buildApp().fetch(
    new Request(`https://relay.test${path}`, {
      method,
      headers: { ...ADMIN, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    envOf,
    createExecutionContext(),
  );
  return { status: res.status, body: (await res.json()) as any };
}

describe("secret-box with previous keys", () => {
  it("opens what an older key sealed when that key is in ENCRYPTION_KEY_PREVIOUS", async () => {
    const keyB = newKey();
    const sealed = await seal("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=", keyA);
    expect(await open(sealed, { ENCRYPTION_KEY: keyB, ENCRYPTION_KEY_PREVIOUS: `${newKey()},${keyA}` })).toBe("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=");
    expect(await open(sealed, { ENCRYPTION_KEY: keyA })).toBe("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=");
  });

  it("a value no configured key opens throws a readable error that names no secret", async () => {
    const keyB = newKey();
    const other = newKey();
    const sealed = await seal("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=", keyA);
    const failure = await open(sealed, { ENCRYPTION_KEY: keyB, ENCRYPTION_KEY_PREVIOUS: other }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(Error);
    const message = (failure as Error).message;
    expect(message).toBe("cannot open sealed value: no configured ENCRYPTION_KEY or ENCRYPTION_KEY_PREVIOUS opens it");
    for (const secret of [keyA, keyB, other, sealed, "whsec_"]) expect(message).not.toContain(secret);
  });

  it("re-seals only what an older key sealed, and the result opens with the current key alone", async () => {
    const keyB = newKey();
    const keys = { ENCRYPTION_KEY: keyB, ENCRYPTION_KEY_PREVIOUS: keyA };
    const old = await seal("old", keyA);
    const current = await seal("current", keyB);
    const resealed = await resealedWithCurrentKey({ a: old, b: current, c: null }, keys);
    expect(Object.keys(resealed)).toEqual(["a"]);
    expect(resealed.a!.from).toBe(old);
    expect(await open(resealed.a!.to, { ENCRYPTION_KEY: keyB })).toBe("old");
  });
});

describe("destinations after ENCRYPTION_KEY moves from A to B", () => {
  it("a destination created under A still delivers, signed with its secret, under B with A as previous", async () => {
    const crm = fakeCrm(() => new Response("busy", { status: 503, headers: { "retry-after": "86400" } }));
    crms.push(crm);
    const tenant = await createTenant();
    const dest = await createDestination(tenant.id, { url: crm.url(), headers: { "x-api-key": "crm-key" } });
    expect((await postCallback(tenant.id, "inbound-transfer", freshCallback(), tenant.token)).status).toBe(200);
    const delivery = await waitUntil(async () => {
      const r = await admin("GET", `/v1/admin/deliveries?destination=${dest.id}`);
      return r.body.data.find((d: { status: string }) => d.status === "failed");
    });

    crm.answer(() => new Response("ok"));
    await everyDatabase.prepare("UPDATE deliveries SET next_attempt_at = 0 WHERE id = ?1").bind(delivery.id).run();
    const batch = createMessageBatch<DeliveryMessage>(QUEUES.deliveries, [
      { id: uniqueId("msg"), timestamp: new Date(), attempts: 1, body: { t: "delivery", delivery_id: delivery.id } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch as MessageBatch<unknown>, rotatedEnv(newKey()), ctx);
    await waitOnExecutionContext(ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toHaveLength(1);

    expect(crm.requests).toHaveLength(2);
    const got = crm.requests[1]!;
    expect(got.headers["x-api-key"]).toBe("crm-key");
    expect(new Webhook(dest.secret).verify(got.body, got.headers)).toMatchObject({ tenant: tenant.id });
  });

  it("PATCH seals the secret, the previous secret and the headers again with B", async () => {
    const crm = fakeCrm();
    crms.push(crm);
    const tenant = await createTenant();
    const dest = await createDestination(tenant.id, { url: crm.url(), headers: { "x-api-key": "crm-key" }, enabled: false });
    const rotated = await admin("POST", `/v1/admin/destinations/${dest.id}/rotate-secret`);
    expect(rotated.status).toBe(200);

    const keyB = newKey();
    const patched = await adminWith(rotatedEnv(keyB), "PATCH", `/v1/admin/destinations/${dest.id}`, { format: "raw" });
    expect(patched.status).toBe(200);
    expect(patched.body.header_names).toEqual(["x-api-key"]);

    const row = (await getDestination(everyDatabase, dest.id))!;
    const onlyB = { ENCRYPTION_KEY: keyB };
    expect(await open(row.secret_enc, onlyB)).toBe(rotated.body.secret);
    expect(await open(row.previous_secret_enc!, onlyB)).toBe(dest.secret);
    expect(JSON.parse(await open(row.headers_enc!, onlyB))).toEqual({ "x-api-key": "crm-key" });
    expect(row.format).toBe("raw");
  });

  it("rotate-secret keeps the old secret as the previous one, sealed with B", async () => {
    const crm = fakeCrm();
    crms.push(crm);
    const tenant = await createTenant();
    const dest = await createDestination(tenant.id, { url: crm.url(), headers: { "x-api-key": "crm-key" }, enabled: false });

    const keyB = newKey();
    const rotated = await adminWith(rotatedEnv(keyB), "POST", `/v1/admin/destinations/${dest.id}/rotate-secret`);
    expect(rotated.status).toBe(200);

    const row = (await getDestination(everyDatabase, dest.id))!;
    const onlyB = { ENCRYPTION_KEY: keyB };
    expect(await open(row.secret_enc, onlyB)).toBe(rotated.body.secret);
    expect(await open(row.previous_secret_enc!, onlyB)).toBe(dest.secret);
    expect(JSON.parse(await open(row.headers_enc!, onlyB))).toEqual({ "x-api-key": "crm-key" });
  });

  it("a re-seal never overwrites a value that changed after it was opened", async () => {
    const crm = fakeCrm();
    crms.push(crm);
    const tenant = await createTenant();
    const dest = await createDestination(tenant.id, { url: crm.url(), enabled: false });
    const before = (await getDestination(everyDatabase, dest.id))!;
    const keys = { ENCRYPTION_KEY: newKey(), ENCRYPTION_KEY_PREVIOUS: keyA };
    const resealed = await resealedWithCurrentKey({ secret_enc: before.secret_enc }, keys);

    // Meanwhile an operator rotates the secret.
    expect((await admin("POST", `/v1/admin/destinations/${dest.id}/rotate-secret`)).status).toBe(200);
    const rotated = (await getDestination(everyDatabase, dest.id))!;
    await replaceSealedValues(everyDatabase, dest.id, resealed);
    expect((await getDestination(everyDatabase, dest.id))!.secret_enc).toBe(rotated.secret_enc);
  });
});
