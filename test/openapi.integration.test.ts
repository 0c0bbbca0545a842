import { beforeAll, describe, expect, it } from "vitest";
import { eventTypes } from "../src/callbacks/families";
import { call } from "./helpers";

/** Every route of CONTRACT.md §2 and §3, as the contract writes it. */
const CONTRACT_ROUTES = [
  "POST /v1/admin/tenants",
  "GET /v1/admin/tenants",
  "POST /v1/admin/tenants/{id}/rotate-token",
  "POST /v1/admin/tenants/{id}/portal-link",
  "POST /v1/admin/tenants/{id}/destinations",
  "GET /v1/admin/tenants/{id}/destinations",
  "PATCH /v1/admin/destinations/{id}",
  "DELETE /v1/admin/destinations/{id}",
  "POST /v1/admin/destinations/{id}/rotate-secret",
  "POST /v1/admin/destinations/{id}/test",
  "POST /v1/admin/tenants/{id}/erase",
  "GET /v1/admin/events",
  "GET /v1/admin/events/{id}",
  "POST /v1/admin/events/{id}/replay",
  "GET /v1/admin/deliveries",
  "GET /v1/admin/deliveries/{id}",
  "POST /v1/admin/deliveries/{id}/retry",
  "POST /v1/admin/destinations/{id}/recover",
  "GET /v1/admin/quarantine",
  "POST /v1/admin/quarantine/{id}/replay",
  "GET /v1/admin/stats",
  "GET /healthz",
];

const KINDS = ["inbound-transfer", "inbound-call-end", "pds", "qa-report", "workflow", "any"];

/** The body schema each kind is documented with. */
const KIND_SCHEMAS: Record<string, string> = {
  "inbound-transfer": "InboundTransfer",
  "inbound-call-end": "InboundCallEnd",
  pds: "PdsCallback",
  "qa-report": "QaReport",
  workflow: "WorkflowStatus",
};

const FAMILY_SCHEMAS = [
  "InboundTransfer",
  "InboundCallEnd",
  "PdsAgentStatus",
  "PdsContactStatus",
  "PdsTaskStatus",
  "QaReport",
  "WorkflowStatus",
];

const EVENT_TYPES = [
  "airudder.inbound.transfer",
  "airudder.inbound.call_end",
  "airudder.pds.agent_status",
  "airudder.pds.contact_status",
  "airudder.pds.task_status",
  "airudder.pds.unknown",
  "airudder.qa.report",
  "airudder.workflow.status",
  "airudder.generic",
];

const ALERT_TYPES = [
  "relay.destination.disabled",
  "relay.delivery.dead",
  "relay.storage.unavailable",
  "relay.storage.recovered",
  "relay.storage.nearly_full",
];

interface Operation {
  operationId?: string;
  tags?: string[];
  summary?: string;
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string; required?: boolean }[];
  requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
  responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>;
}
interface Doc {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  webhooks: Record<string, Record<string, Operation>>;
  servers: { url: string; variables?: Record<string, { default: string }> }[];
  tags: { name: string }[];
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

/** `/a/{id}/b` and `/a/{tenant}/b` name the same route. */
const normalise = (path: string) => path.replace(/\{[^}]+\}/g, "{}");

function operation(doc: Doc, route: string): Operation | undefined {
  const [method, path] = route.split(" ") as [string, string];
  const entry = Object.entries(doc.paths).find(([p]) => normalise(p) === normalise(path));
  return entry?.[1][method.toLowerCase()];
}

function refs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => refs(n, out));
  else if (node && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string") out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

let doc: Doc;
let response: Response;
beforeAll(async () => {
  response = await call("/openapi.json");
  doc = (await response.clone().json()) as Doc;
});

describe("GET /openapi.json", () => {
  it("is an OpenAPI 3.1 JSON document, served without credentials", () => {
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info.title).toBeTruthy();
    expect(doc.info.version).toBeTruthy();
  });

  it.each(CONTRACT_ROUTES)("documents %s", (route) => {
    const op = operation(doc, route);
    expect(op, `${route} is missing from the OpenAPI document`).toBeDefined();
    expect(Object.keys(op!.responses).length).toBeGreaterThan(0);
    if (route.includes("/v1/admin/")) {
      expect(op!.security).toEqual([{ adminBearer: [] }]);
      expect(op!.responses["401"]?.content?.["application/json"]?.schema.$ref).toBe("#/components/schemas/Error");
    }
  });

  it.each(CONTRACT_ROUTES.filter((r) => r.startsWith("POST /v1/admin/") || r.startsWith("PATCH ")))(
    "documents the 413 and 415 of an admin body on %s",
    (route) => {
      const op = operation(doc, route);
      for (const status of ["413", "415"]) {
        expect(op!.responses[status]?.content?.["application/json"]?.schema.$ref).toBe("#/components/schemas/Error");
      }
    },
  );

  it.each(KINDS)("documents the ingest route for kind %s with every status of §2", (kind) => {
    const op = operation(doc, `POST /v1/callbacks/{tenant}/${kind}`);
    expect(op).toBeDefined();
    expect(op!.parameters?.map((p) => `${p.in}:${p.name}`)).toContain("path:tenant");
    expect(Object.keys(op!.responses)).toEqual(expect.arrayContaining(["200", "400", "401", "404", "413", "415", "422", "503"]));
    for (const status of ["400", "401", "404", "413", "415", "422", "503"]) {
      expect(op!.responses[status]!.content?.["application/json"]?.schema.$ref).toBe("#/components/schemas/Error");
    }
    const schemes = (op!.security ?? []).flatMap((s) => Object.keys(s)).map((name) => doc.components.securitySchemes[name]);
    expect(schemes).toContainEqual({ type: "apiKey", in: "query", name: "token" });
    expect(schemes).toContainEqual({ type: "http", scheme: "bearer" });
    const body = op!.requestBody?.content["application/json"]?.schema;
    expect(body).toBeDefined();
    if (KIND_SCHEMAS[kind]) expect(body!.$ref).toBe(`#/components/schemas/${KIND_SCHEMAS[kind]}`);
  });

  it("has no ingest route for a kind outside the contract", () => {
    const ingest = Object.keys(doc.paths).filter((p) => p.startsWith("/v1/callbacks/"));
    expect(ingest.map((p) => p.split("/").pop()).sort()).toEqual([...KINDS].sort());
  });

  it("includes the family schemas, and every $ref resolves", () => {
    for (const name of [...FAMILY_SCHEMAS, "Error", "Delivery", "Attempt", "Destination", "Tenant"]) {
      expect(doc.components.schemas, name).toHaveProperty(name);
    }
    const pds = JSON.stringify(doc.components.schemas.PdsCallback);
    for (const variant of ["PdsAgentStatus", "PdsContactStatus", "PdsTaskStatus"]) expect(pds).toContain(`#/components/schemas/${variant}`);
    for (const ref of new Set(refs(doc))) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas, ref).toHaveProperty(ref.slice("#/components/schemas/".length));
    }
  });

  it("documents the list filters and paging of the contract", () => {
    const query = (route: string) => (operation(doc, route)?.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name);
    expect(query("GET /v1/admin/events")).toEqual(expect.arrayContaining(["limit", "cursor", "tenant", "type", "callid", "since", "until"]));
    expect(query("GET /v1/admin/deliveries")).toEqual(expect.arrayContaining(["limit", "cursor", "status", "tenant", "destination"]));
    expect(query("GET /v1/admin/tenants")).toEqual(expect.arrayContaining(["limit", "cursor"]));
    expect(query("GET /v1/admin/tenants/{id}/destinations")).toEqual(expect.arrayContaining(["limit", "cursor"]));
    expect(query("GET /v1/admin/quarantine")).toEqual(expect.arrayContaining(["limit", "cursor"]));
    expect(query("GET /v1/admin/stats")).toEqual(expect.arrayContaining(["tenant", "since", "until"]));
  });

  it("uses the contract's delivery statuses and event types", () => {
    const text = JSON.stringify(doc.components.schemas.Delivery);
    for (const status of ["pending", "delivered", "failed", "dead", "held"]) expect(text).toContain(`"${status}"`);
    const destination = JSON.stringify(doc.components.schemas.Destination);
    for (const type of EVENT_TYPES) expect(destination).toContain(`"${type}"`);
  });

  it("names every operation with a unique camelCase operationId, a declared tag and a summary", () => {
    const declared = new Set(doc.tags.map((t) => t.name));
    const ops = [...Object.entries(doc.paths), ...Object.entries(doc.webhooks)].flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({ where: `${method.toUpperCase()} ${path}`, op })),
    );
    expect(ops.length).toBeGreaterThan(CONTRACT_ROUTES.length);
    for (const { where, op } of ops) {
      expect(op.operationId, where).toMatch(/^[a-z][a-zA-Z0-9]*$/);
      expect(op.tags?.length, where).toBeGreaterThan(0);
      for (const tag of op.tags!) expect(declared, `${where} has undeclared tag ${tag}`).toContain(tag);
      expect(op.summary?.trim(), where).toBeTruthy();
    }
    const ids = ops.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("gives generated clients the contract's names", () => {
    expect(operation(doc, "GET /v1/admin/events")?.operationId).toBe("listEvents");
    expect(operation(doc, "POST /v1/admin/events/{id}/replay")?.operationId).toBe("replayEvent");
    expect(operation(doc, "POST /v1/admin/deliveries/{id}/retry")?.operationId).toBe("retryDelivery");
    expect(operation(doc, "POST /v1/callbacks/{tenant}/inbound-call-end")?.operationId).toBe("ingestInboundCallEnd");
  });

  it("names a local and a deployed server", () => {
    expect(doc.servers.map((s) => s.url)).toEqual(["http://127.0.0.1:8787", "https://{worker}.{subdomain}.workers.dev"]);
    expect(doc.servers[1]!.variables).toEqual({ worker: { default: "airudder-relay" }, subdomain: { default: "your-subdomain" } });
  });

  it("describes, as webhooks, every event type a CRM receives and every alert, with the signature headers", () => {
    expect(Object.keys(doc.webhooks).sort()).toEqual([...eventTypes, ...ALERT_TYPES].sort());
    expect([...eventTypes].sort()).toEqual([...EVENT_TYPES].sort());
    for (const [type, item] of Object.entries(doc.webhooks)) {
      const op = item.post!;
      const headers = (op.parameters ?? []).filter((p) => p.in === "header");
      expect(headers.map((h) => h.name).sort(), type).toEqual(["webhook-id", "webhook-signature", "webhook-timestamp"]);
      const ref = op.requestBody?.content["application/json"]?.schema.$ref;
      expect(ref, type).toMatch(/^#\/components\/schemas\//);
      const schema = doc.components.schemas[ref!.slice("#/components/schemas/".length)] as {
        required: string[];
        properties: Record<string, { const?: string; enum?: string[]; $ref?: string }>;
      };
      const literal = schema.properties.type!;
      expect(literal.const ?? literal.enum?.[0], type).toBe(type);
      const envelope = type.startsWith("relay.") ? ["id", "type", "tenant", "received_at", "created_at", "data"] : ["id", "type", "tenant", "received_at", "data"];
      expect(schema.required.sort(), type).toEqual(envelope.sort());
    }
    const dataOf = (type: string) => {
      const ref = doc.webhooks[type]!.post!.requestBody!.content["application/json"]!.schema.$ref!;
      return (doc.components.schemas[ref.slice("#/components/schemas/".length)] as { properties: { data: { $ref?: string } } }).properties.data.$ref;
    };
    expect(dataOf("airudder.inbound.transfer")).toBe("#/components/schemas/InboundTransfer");
    expect(dataOf("airudder.pds.contact_status")).toBe("#/components/schemas/PdsContactStatus");
    expect(dataOf("relay.delivery.dead")).toBe("#/components/schemas/DeliveryDeadAlertData");
    expect(doc.webhooks["relay.storage.recovered"]!.post!.parameters!.find((p) => p.name === "webhook-signature")?.required).toBeFalsy();
    expect(doc.webhooks["airudder.generic"]!.post!.parameters!.find((p) => p.name === "webhook-signature")?.required).toBe(true);
  });
});
