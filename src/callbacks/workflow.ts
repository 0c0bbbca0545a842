import { z } from "@hono/zod-openapi";
import { identity, list, scalar } from "./lenient";

/** Workflow status change. Identity: `workflow_id`. */
export const workflowSchema = z
  .looseObject({
    workflow_id: identity,
    workflow_name: scalar,
    status: scalar,
    actions: list(
      z.looseObject({
        nodetask_id: scalar,
        nodetask_name: scalar,
        node_type: scalar,
        task_id: scalar,
        task_status: scalar,
      }),
    ),
  })
  .openapi("WorkflowStatus");
