import type { Context } from "hono";
import { STYLESHEET } from "./style";

/** The stylesheet of every page, at /dashboard.css: the pages' content security policy allows styles from this origin only. */
export const dashboardStylesheet = (c: Context) => c.body(STYLESHEET, 200, { "content-type": "text/css; charset=utf-8" });
