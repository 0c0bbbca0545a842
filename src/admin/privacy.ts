import { createRoute, z } from "@hono/zod-openapi";
import { getTenant } from "../db/tenants";
import { startErase } from "../maintenance/erase";
import { errors, jsonBody, jsonContent, notFound, router, security } from "./router";

const erase = createRoute({
  method: "post",
  path: "/v1/admin/tenants/{id}/erase",
  operationId: "erasePhone",
  tags: ["Privacy"],
  summary: "Erase every stored payload of a tenant holding a phone number",
  security,
  request: {
    params: z.object({ id: z.string() }),
    body: jsonBody(z.strictObject({ phone: z.string().regex(/^\+?[0-9 ()-]{6,20}$/, "a phone number such as +66812345678") })),
  },
  responses: {
    200: jsonContent(
      z.object({
        events: z.number().int().openapi({ description: "how many events this request erased" }),
        event_ids: z.array(z.string()).openapi({ description: "the events this request erased" }),
        complete: z.boolean().openapi({
          description:
            "true when the whole tenant has been searched. false when the rest goes on in the background (a large tenant): calling again is safe and finds only what is left",
        }),
      }),
      "events whose payload held the number (their payload is now a tombstone, delivery metadata kept, the CRMs' answers in their attempts cleared); quarantined, inbox and dead-letter copies holding it are deleted",
    ),
    ...errors,
  },
});

/**
 * The spellings searched for: as given, digits only, and `+` digits. A
 * national form (`08…` for `+668…`) is a different string; erase it with a
 * second call, since guessing country codes would erase other people's data.
 */
export function phoneSpellings(phone: string): string[] {
  const digits = phone.replace(/\D/g, "");
  return [...new Set([phone.trim(), digits, "+" + digits])];
}

export const privacyRoutes = router().openapi(erase, async (c) => {
  const { id } = c.req.valid("param");
  const { phone } = c.req.valid("json");
  (await getTenant(c.env.DB, id)) ?? notFound("tenant");
  const { event_ids, complete } = await startErase(c.env, id, phoneSpellings(phone));
  return c.json({ events: event_ids.length, event_ids, complete }, 200);
});
