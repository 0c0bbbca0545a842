import type { TenantRow } from "../../db/tenants";
import { DataTable, Fact, Pager } from "../components";
import { time } from "../format";
import { Csrf, Page } from "../layout";
import type { Scope } from "../scope";

type Tenant = Omit<TenantRow, "token_hash">;

export const TenantsPage = (props: { scope: Scope; rows: Tenant[]; next: string | null }) => (
  <Page title="Tenants" scope={props.scope} current="/admin/tenants">
    <section>
      <h2>Create a tenant</h2>
      <form method="post" action="/admin/tenants" class="filters">
        <Csrf scope={props.scope} />
        <label>
          Id (a-z, 0-9, - and _)
          <input name="id" required pattern="[a-z0-9][a-z0-9_\-]{0,62}" />
        </label>
        <label>
          Name
          <input name="name" />
        </label>
        <button type="submit">Create tenant</button>
      </form>
    </section>
    <DataTable
      headers={["Id", "Name", "Created"]}
      rows={props.rows}
      empty={<p>No tenant yet.</p>}
      row={(t) => (
        <tr>
          <td>
            <a href={`/admin/tenants/${t.id}`}>{t.id}</a>
          </td>
          <td>{t.name}</td>
          <td>{time(t.created_at)}</td>
        </tr>
      )}
    />
    <Pager path="/admin/tenants" next={props.next} />
  </Page>
);

export const TenantActions = (props: { scope: Scope; tenant: Tenant }) => (
  <section>
    <dl class="facts">
      <Fact term="Id">{props.tenant.id}</Fact>
      <Fact term="Name">{props.tenant.name}</Fact>
      <Fact term="Created">{time(props.tenant.created_at)}</Fact>
    </dl>
    <p>
      <a href={`/admin/events?tenant=${props.tenant.id}`}>Its events</a> · <a href={`/admin/deliveries?tenant=${props.tenant.id}`}>Its deliveries</a>
    </p>
    <form method="post" action={`/admin/tenants/${props.tenant.id}/rotate-token`} class="filters">
      <Csrf scope={props.scope} />
      <label>
        The old token keeps working for (seconds)
        <input type="number" name="grace_seconds" min={0} max={2592000} value="86400" />
      </label>
      <button type="submit" class="secondary">
        Rotate ingest token
      </button>
    </form>
    <form method="post" action={`/admin/tenants/${props.tenant.id}/portal-link`} class="filters">
      <Csrf scope={props.scope} />
      <label>
        Portal link valid for (days)
        <input type="number" name="days" min={1} max={30} value="3" />
      </label>
      <label class="check">
        <input type="checkbox" name="read_only" /> Read-only
      </label>
      <button type="submit" class="secondary">
        Create portal link
      </button>
    </form>
  </section>
);
