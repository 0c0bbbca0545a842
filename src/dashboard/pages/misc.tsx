import type { Issue } from "../../http/errors";
import { Page } from "../layout";
import type { Scope } from "../scope";

export const SignIn = (props: { failed?: boolean }) => (
  <Page title="Sign in" scope={null}>
    {props.failed && (
      <p class="error" role="alert">
        That is not the admin token.
      </p>
    )}
    <section>
      <form method="post" action="/admin/sign-in" class="stack">
        <label>
          Admin token
          <input type="password" name="token" autocomplete="current-password" required autofocus />
        </label>
        <div class="actions">
          <button type="submit">Sign in</button>
        </div>
      </form>
      <p class="muted">The token is the Worker's ADMIN_TOKEN secret (npm start prints the local one).</p>
    </section>
  </Page>
);

export const Closed = (props: { title: string; message: string }) => (
  <Page title={props.title} scope={null}>
    <p class="error" role="alert">
      {props.message}
    </p>
  </Page>
);

export const ErrorPage = (props: { scope: Scope | null; status: number; message: string; issues?: Issue[]; requestId: string }) => (
  <Page title={props.status === 404 ? "Not found" : props.status === 403 ? "Refused" : "That did not work"} scope={props.scope}>
    <div class="error" role="alert">
      <p>{props.message}</p>
      {props.issues && props.issues.length > 0 && (
        <ul>
          {props.issues.map((i) => (
            <li>
              <code>{i.path || "(form)"}</code>: {i.message}
            </li>
          ))}
        </ul>
      )}
    </div>
    <p class="muted">
      Request id <code>{props.requestId}</code>. Use your browser's Back button to return to the form.
    </p>
    {props.scope && (
      <p>
        <a href={props.scope.base}>Back to the start</a>
      </p>
    )}
  </Page>
);

/** A result shown once (a new token or secret): it is not stored in a form the pages could show again. */
export const ShownOnce = (props: { scope: Scope; title: string; what: string; value: string; back: string; note?: string }) => (
  <Page title={props.title} scope={props.scope}>
    <section>
      <p>
        The {props.what} is shown <strong>only now</strong>; copy it before you leave this page.
      </p>
      <code class="secret">{props.value}</code>
      {props.note && <p class="muted">{props.note}</p>}
      <p>
        <a href={props.back}>Continue</a>
      </p>
    </section>
  </Page>
);
