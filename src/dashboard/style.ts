/**
 * The one stylesheet of the dashboard and the portal, served from the
 * Worker itself (no build step). The content security policy of those pages
 * allows styles from this origin only, so nothing here may be inline.
 */
export const STYLESHEET = `
:root { --fg:#1d2430; --muted:#5b6575; --bg:#f6f7f9; --card:#fff; --line:#d8dde5; --accent:#1f5fbf; --ok:#1a7f37; --warn:#9a6700; --bad:#c0262d; --dead:#6e2594; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
* { box-sizing: border-box; }
body { margin: 0; line-height: 1.45; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, summary:focus-visible { outline: 3px solid #f0b400; outline-offset: 2px; }
header.top { background: #14213d; color: #fff; padding: .5rem 1rem; display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; align-items: center; }
header.top a { color: #fff; text-decoration: none; padding: .25rem 0; }
header.top a[aria-current="page"] { border-bottom: 2px solid #f0b400; }
header.top .brand { font-weight: 700; margin-right: .5rem; }
header.top form { margin-left: auto; }
header.top button { background: transparent; color: #fff; border: 1px solid #8fa3c7; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.4rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
section, .card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; margin: 0 0 1rem; }
.notice { border-left: 4px solid var(--ok); background: #eef8f0; padding: .5rem .75rem; margin-bottom: 1rem; }
.error { border-left: 4px solid var(--bad); background: #fdf0f0; padding: .5rem .75rem; margin-bottom: 1rem; }
.secret { font-family: ui-monospace, monospace; background: #fff8e1; border: 1px dashed var(--warn); padding: .5rem; word-break: break-all; display: block; }
.muted { color: var(--muted); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; background: #eef1f5; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .88em; word-break: break-all; }
form.inline { display: inline; }
form.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: flex-end; }
form.stack { display: grid; gap: .6rem; max-width: 40rem; }
label { display: flex; flex-direction: column; gap: .2rem; font-size: .9rem; font-weight: 600; }
label.check { flex-direction: row; align-items: center; gap: .4rem; font-weight: 400; }
fieldset { border: 1px solid var(--line); border-radius: 6px; }
fieldset .types { display: grid; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); gap: .2rem .75rem; }
input, select, textarea { font: inherit; padding: .35rem .45rem; border: 1px solid #aab3c0; border-radius: 4px; background: #fff; min-width: 0; }
textarea { font-family: ui-monospace, monospace; min-height: 4.5rem; }
button { font: inherit; padding: .35rem .8rem; border-radius: 4px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .5rem 0; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .8rem; font-weight: 600; border: 1px solid currentColor; }
.s-delivered { color: var(--ok); } .s-failed { color: var(--warn); } .s-dead { color: var(--dead); } .s-held { color: var(--muted); } .s-pending { color: var(--accent); }
.stats { display: flex; flex-wrap: wrap; gap: 1rem; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .5rem 1rem; min-width: 9rem; }
.stat b { display: block; font-size: 1.6rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
dl.facts dt { font-weight: 600; color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-word; }
ol.chat { list-style: none; padding: 0; margin: 0; display: flex; flex-direction: column; gap: .4rem; }
ol.chat li { max-width: 85%; padding: .4rem .7rem; border-radius: 12px; white-space: pre-wrap; word-break: break-word; }
ol.chat li.robot { align-self: flex-start; background: #e8eefb; }
ol.chat li.human { align-self: flex-end; background: #e6f4ea; }
ol.chat li.other { align-self: center; background: #f1f1f1; }
ol.chat .who { display: block; font-size: .75rem; font-weight: 700; color: var(--muted); }
pre { background: #0f1726; color: #e4e9f2; padding: .75rem; border-radius: 6px; overflow-x: auto; font-size: .82rem; max-height: 32rem; }
details > summary { cursor: pointer; font-weight: 600; padding: .25rem 0; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart .axis { stroke: #9aa4b2; stroke-width: 1; }
svg.chart .grid { stroke: #e3e7ed; stroke-width: 1; }
svg.chart text { font-size: 11px; fill: #5b6575; }
.legend { display: flex; flex-wrap: wrap; gap: .25rem 1rem; font-size: .85rem; margin: .25rem 0; }
.legend span::before { content: ""; display: inline-block; width: 1.2rem; height: 3px; vertical-align: middle; margin-right: .3rem; background: currentColor; }
.c-received { color: #1f5fbf; } .c-delivered { color: #1a7f37; } .c-failed { color: #c77700; } .c-dead { color: #6e2594; }
.pager { margin-top: .75rem; }
@media (max-width: 40rem) { main { padding: .5rem; } th, td { padding: .3rem; } dl.facts { grid-template-columns: 1fr; } }
`;
