import { Field, Page } from '../layout.js';

/** The sign-in page: an admin's email and password, or an API key with `webhooks:manage`. */
export function SignInPage(props: { next: string; email?: string; error?: string }) {
  return (
    <Page title="Sign in" path="/console/sign-in">
      {props.error && (
        <p class="notice error" role="alert">
          {props.error}
        </p>
      )}
      <form method="post" action="/console/sign-in" class="card narrow">
        <input type="hidden" name="next" value={props.next} />
        <Field name="email" label="Email" type="email" value={props.email} autocomplete="username" required />
        <Field name="password" label="Password" type="password" autocomplete="current-password" required />
        <button type="submit">Sign in</button>
      </form>
      <form method="post" action="/console/sign-in" class="card narrow">
        <input type="hidden" name="next" value={props.next} />
        <Field
          name="api_key"
          label="API key"
          type="password"
          hint="Or sign in with an API key that holds webhooks:manage (users and sessions stay an admin's)."
          required
        />
        <button type="submit">Sign in with the key</button>
      </form>
    </Page>
  );
}
