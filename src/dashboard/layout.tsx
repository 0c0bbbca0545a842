import type { Child } from "hono/jsx";
import type { Scope } from "./scope";

const operatorNav = [
  ["/admin", "Overview"],
  ["/admin/events", "Events"],
  ["/admin/deliveries", "Deliveries"],
  ["/admin/tenants", "Tenants"],
  ["/admin/quarantine", "Quarantine"],
  ["/admin/dead-letters", "Dead letters"],
] as const;

const portalNav = [
  ["/portal", "Destinations"],
  ["/portal/events", "Events"],
  ["/portal/deliveries", "Deliveries"],
] as const;

/** A hidden field with the session's CSRF token: every form that changes something carries it. */
export const Csrf = ({ scope }: { scope: Scope }) => <input type="hidden" name="_csrf" value={scope.csrf} />;

/** A one-button form posting to `action`. */
export const ActionButton = (props: { scope: Scope; action: string; label: string; kind?: "secondary" | "danger"; fields?: Record<string, string> }) => (
  <form method="post" action={props.action} class="inline">
    <Csrf scope={props.scope} />
    {Object.entries(props.fields ?? {}).map(([k, v]) => (
      <input type="hidden" name={k} value={v} />
    ))}
    <button type="submit" class={props.kind}>
      {props.label}
    </button>
  </form>
);

/** The page every dashboard and portal page is drawn in: one look, one navigation. */
export function Page(props: { title: string; scope: Scope | null; current?: string; notice?: string | null; children?: Child }) {
  const { scope } = props;
  const nav = scope?.kind === "operator" ? operatorNav : scope?.kind === "tenant" ? portalNav : [];
  const heading = scope?.kind === "tenant" ? `Portal: ${scope.tenant}${scope.readOnly ? " (read-only)" : ""}` : "airudder-relay";
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>{`${props.title} · ${heading}`}</title>
        <link rel="stylesheet" href="/dashboard.css" />
        {/* No icon: without this a browser asks for /favicon.ico, which the relay does not serve. */}
        <link rel="icon" href="data:," />
      </head>
      <body>
        <header class="top">
          <span class="brand">{heading}</span>
          {nav.length > 0 && (
            <nav aria-label="Main">
              {nav.map(([href, label]) => (
                <>
                  <a href={href} aria-current={props.current === href ? "page" : undefined}>
                    {label}
                  </a>{" "}
                </>
              ))}
            </nav>
          )}
          {scope && (
            <form method="post" action={`${scope.base}/sign-out`}>
              <Csrf scope={scope} />
              <button type="submit">Sign out</button>
            </form>
          )}
        </header>
        <main>
          <h1>{props.title}</h1>
          {props.notice && (
            <p class="notice" role="status">
              {props.notice}
            </p>
          )}
          {props.children}
        </main>
      </body>
    </html>
  );
}
