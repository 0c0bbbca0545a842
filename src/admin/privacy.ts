import { createRoute, z } from "@hono/zod-openapi";
import { erasePhone } from "../db/privacy";
import { getTenant } from "../db/tenants";
import { errors, jsonBody, jsonContent, notFound, router, security } from "./router";

const erase = createRoute({
  method: "post",
  path: "/v1/admin/tenants/{id}/erase",
  security,
  request: {
    params: z.object({ id: z.string() }),
    body: jsonBody(z.strictObject({ phone: z.string().regex(/^\+?[0-9 ()-]{6,20}$/, "a phone number such as +66812345678") })),
  },
  responses: {
    200: jsonContent(
      z.object({ events: z.number().int(), event_ids: z.array(z.string()) }),
      "events whose payload held the number; their payload is now a tombstone, delivery metadata kept",
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
  const [events] = await erasePhone(c.env.DB, id, phoneSpellings(phone));
  const ids = (events!.results as { id: string }[]).map((r) => r.id);
  return c.json({ events: ids.length, event_ids: ids }, 200);
});
