import { z } from "@hono/zod-openapi";
import { identity, str, usually } from "./lenient";

/** What can refuse a workflow callback: `workflow_id`; ingest validates with this alone. */
export const workflowIdentity = z.looseObject({ workflow_id: identity });

/** Workflow status change. Identity: `workflow_id`. */
export const workflowSchema = workflowIdentity
  .extend({
    workflow_name: str,
    status: str,
    actions: usually(
      z.array(
        z.looseObject({
          nodetask_id: str,
          nodetask_name: str,
          node_type: str,
          task_id: str,
          task_status: str,
        }),
      ),
    ),
  })
  .openapi("WorkflowStatus", {
    description: "Identity: `workflow_id`. Every other field is optional and any value is accepted there.",
  });
