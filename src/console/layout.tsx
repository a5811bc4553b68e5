import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';

/** What every signed-in page knows: who is there, and the CSRF token its forms carry. */
export interface PageContext {
  /** The admin's email, or the API key's name. */
  who: string;
  /** Whether the caller may see users and sessions (an admin, not an API key). */
  admin: boolean;
  csrf: string;
}

const nav = [
  { href: '/console', label: 'Overview' },
  { href: '/console/subscriptions', label: 'Subscriptions' },
  { href: '/console/deliveries', label: 'Deliveries' },
  { href: '/console/replays', label: 'Replays' },
  { href: '/console/events', label: 'Event catalogue' },
  { href: '/console/users', label: 'Users', admin: true },
] as const;

/**
 * The page every console screen is drawn in: no inline script or style (the Content-Security-Policy
 * allows only the console's own files), a skip link, one main landmark, a navigation with the
 * current page marked.
 */
export function Page(props: {
  title: string;
  path: string;
  ctx?: PageContext;
  /** Scripts of the page besides the console's own (the chart library), from the console's assets. */
  scripts?: string[];
  children?: Child;
}) {
  const { ctx } = props;
  return (
    <>
      {raw('<!doctype html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{`${props.title} · hookline console`}</title>
          <link rel="stylesheet" href="/console/assets/console.css" />
          {(props.scripts ?? []).map((src) => (
            <script src={src} defer />
          ))}
          <script type="module" src="/console/assets/console.js" />
        </head>
        <body>
          <a class="skip" href="#main">
            Skip to content
          </a>
          <TopBar path={props.path} ctx={ctx} />
          <main id="main">
            <h1>{props.title}</h1>
            {props.children}
          </main>
        </body>
      </html>
    </>
  );
}

/** The bar at the top: the name, and for a signed-in caller the navigation and the sign-out. */
function TopBar(props: { path: string; ctx: PageContext | undefined }) {
  const { ctx, path } = props;
  const current = (href: string) =>
    path === href || (href !== '/console' && path.startsWith(href)) ? 'page' : undefined;
  return (
    <header class="top">
      <span class="brand">hookline</span>
      {ctx && (
        <nav aria-label="Console">
          <ul>
            {nav
              .filter((item) => !('admin' in item) || ctx.admin)
              .map((item) => (
                <li>
                  <a href={item.href} aria-current={current(item.href)}>
                    {item.label}
                  </a>
                </li>
              ))}
          </ul>
        </nav>
      )}
      {ctx && (
        <form method="post" action="/console/sign-out" class="signout">
          <Csrf ctx={ctx} />
          <span class="who">{ctx.who}</span> <button type="submit">Sign out</button>
        </form>
      )}
    </header>
  );
}

/** A form's hidden CSRF field. */
export const Csrf = (props: { ctx: PageContext }) => (
  <input type="hidden" name="_csrf" value={props.ctx.csrf} />
);

/** A message after an action (from the `notice` query parameter), announced to screen readers. */
export const Notice = (props: { text: string | undefined; kind?: 'ok' | 'error' }) =>
  props.text ? (
    <p class={`notice ${props.kind ?? 'ok'}`} role="status">
      {props.text}
    </p>
  ) : null;

/** A labelled input with its error (from the API's problem details) next to it. */
export function Field(props: {
  name: string;
  label: string;
  value?: string | undefined;
  error?: string | undefined;
  type?: string;
  required?: boolean;
  hint?: string;
  autocomplete?: string;
}) {
  const id = `f-${props.name}`;
  const described = [props.hint ? `${id}-hint` : '', props.error ? `${id}-error` : '']
    .filter(Boolean)
    .join(' ');
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        type={props.type ?? 'text'}
        value={props.value ?? ''}
        required={props.required}
        autocomplete={props.autocomplete}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={described || undefined}
      />
      {props.hint && (
        <small id={`${id}-hint`} class="hint">
          {props.hint}
        </small>
      )}
      {props.error && (
        <small id={`${id}-error`} class="error">
          {props.error}
        </small>
      )}
    </div>
  );
}

/** A time as UTC text, or a dash. */
export const when = (date: Date | string | null | undefined) =>
  date ? new Date(date).toISOString().replace('T', ' ').slice(0, 19) : '—';

/** A table with its column headings, in a box that scrolls sideways on a narrow screen. */
export const Table = (props: { head: string[]; children?: Child }) => (
  <div class="scroll">
    <table>
      <thead>
        <tr>
          {props.head.map((heading) => (
            <th scope="col">{heading}</th>
          ))}
        </tr>
      </thead>
      <tbody>{props.children}</tbody>
    </table>
  </div>
);
