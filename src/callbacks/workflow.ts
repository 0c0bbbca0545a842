import { z } from "@hono/zod-openapi";
import { identity, str, usually } from "./lenient";

/** Workflow status change. Identity: `workflow_id`. */
export const workflowSchema = z
  .looseObject({
    workflow_id: identity,
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
