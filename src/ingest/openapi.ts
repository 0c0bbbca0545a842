import { z, type OpenAPIHono } from "@hono/zod-openapi";
import { inboundCallEndSchema, inboundTransferSchema } from "../callbacks/inbound";
import { jsonObject } from "../callbacks/lenient";
import { pdsSchema } from "../callbacks/pds";
import { qaReportSchema } from "../callbacks/qa";
import { workflowSchema } from "../callbacks/workflow";
import { errorSchema } from "../admin/views";

const bodyByKind = {
  "inbound-transfer": inboundTransferSchema,
  "inbound-call-end": inboundCallEndSchema,
  pds: pdsSchema,
  "qa-report": qaReportSchema,
  workflow: workflowSchema,
  any: z.union([inboundTransferSchema, inboundCallEndSchema, pdsSchema, qaReportSchema, workflowSchema, jsonObject]),
};

/** `inbound-call-end` → `ingestInboundCallEnd`: stable names for generated clients. */
const operationIdOf = (kind: string) => "ingest" + kind.replace(/(^|-)([a-z])/g, (_, _dash: string, c: string) => c.toUpperCase());

const error = (description: string) => ({ description, content: { "application/json": { schema: errorSchema } } });

/**
 * The ingest route reads its body itself (size limit first, then UTF-8, then
 * JSON), so it is documented here from the same family schemas it validates
 * with, rather than through a validating route definition.
 */
export function registerIngestDocs(registry: OpenAPIHono["openAPIRegistry"]): void {
  registry.registerComponent("securitySchemes", "ingestToken", { type: "apiKey", in: "query", name: "token" });
  registry.registerComponent("securitySchemes", "ingestBearer", { type: "http", scheme: "bearer" });
  for (const [kind, schema] of Object.entries(bodyByKind)) {
    registry.registerPath({
      method: "post",
      path: `/v1/callbacks/{tenant}/${kind}`,
      operationId: operationIdOf(kind),
      tags: ["Ingest"],
      summary: `An AiRudder callback of kind ${kind}`,
      description:
        "Answers 200 only once the callback is durably handed to the Queue. The same body sent again gets the same event_id." +
        (kind === "any" ? " `any` detects the family from the body's shape and falls back to airudder.generic." : ""),
      security: [{ ingestToken: [] }, { ingestBearer: [] }],
      request: {
        params: z.object({ tenant: z.string() }),
        body: { required: true, content: { "application/json": { schema } } },
      },
      responses: {
        200: {
          description: "accepted",
          content: { "application/json": { schema: z.object({ ok: z.literal(true), event_id: z.string() }) } },
        },
        400: error("invalid_json: not UTF-8 JSON, not an object, or nested too deep"),
        401: error("unauthorized: missing or wrong token, or unknown tenant"),
        404: error("unknown_kind"),
        413: error("payload_too_large"),
        415: error("unsupported_media_type"),
        422: error("invalid_payload: fails the kind's schema; kept in quarantine"),
        429: error("rate_limited"),
        503: error("unavailable: the queue could not take it; AiRudder will retry"),
      },
    });
  }
  registry.registerPath({
    method: "get",
    path: "/healthz",
    operationId: "getHealth",
    tags: ["Health"],
    summary: "Whether ingest can take callbacks, and what is degraded",
    responses: {
      200: {
        description: "ingest is up (it needs the Queue, not D1); `degraded` lists what is wrong, such as D1 refusing writes",
        content: { "application/json": { schema: z.object({ ok: z.literal(true), degraded: z.array(z.string()) }) } },
      },
    },
  });
}
