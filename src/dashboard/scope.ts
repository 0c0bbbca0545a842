import type { AppEnv } from "../http/app-env";
import { RelayError } from "../http/errors";

/** Whose pages these are: the operator's (every tenant), or one tenant's portal. */
export type Scope =
  | { kind: "operator"; base: "/admin"; csrf: string }
  | { kind: "tenant"; base: "/portal"; tenant: string; readOnly: boolean; csrf: string };

export interface DashboardEnv extends AppEnv {
  Variables: AppEnv["Variables"] & { scope: Scope };
}

/** The tenant a scope is limited to, or undefined for the operator. */
export const tenantOf = (scope: Scope): string | undefined => (scope.kind === "tenant" ? scope.tenant : undefined);

/**
 * What belongs to another tenant answers exactly as what does not exist, so
 * that a portal user learns nothing by trying ids.
 */
export function ownedOr404<T extends { tenant_id: string }>(scope: Scope, row: T | null, what: string): T {
  if (!row || (scope.kind === "tenant" && row.tenant_id !== scope.tenant)) throw new RelayError("not_found", `no such ${what}`);
  return row;
}

/** A read-only portal changes nothing. */
export function mayChange(scope: Scope): boolean {
  return scope.kind === "operator" || !scope.readOnly;
}
