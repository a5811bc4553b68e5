import { describeEventTypes, exampleOf } from '../../events/docs.js';
import { webhookBody } from '../../webhooks/delivery/request.js';
import { Page, type PageContext } from '../layout.js';

/** Every event type: its topic, what it means, its JSON Schema and an example of the webhook body. */
export function EventsPage(props: { ctx: PageContext }) {
  const types = describeEventTypes();
  return (
    <Page title="Event catalogue" path="/console/events" ctx={props.ctx}>
      <p>
        A webhook's body is <code>{'{type, timestamp, user_id, actor, data}'}</code>; <code>data</code>{' '}
        follows the schema of its type. The event id is the <code>webhook-id</code> header.
      </p>
      <nav aria-label="Event types" class="card">
        <ul>
          {types.map((t) => (
            <li>
              <a href={`#${t.type.replaceAll('.', '-')}`}>{t.type}</a>
            </li>
          ))}
        </ul>
      </nav>
      {types.map((t) => {
        const example = webhookBody({
          type: t.type,
          occurred_at: '2026-12-01T12:00:00.000Z',
          user_id: '01939a3e-7c1d-7b2a-9f4e-2d8c5b6a1e0f',
          actor: { type: 'user', id: '01939a3e-7c1d-7b2a-9f4e-2d8c5b6a1e0f' },
          data: exampleOf(t.schema) as never,
        });
        return (
          <section class="card" id={t.type.replaceAll('.', '-')} aria-labelledby={`h-${t.type}`}>
            <h2 id={`h-${t.type}`}>{t.type}</h2>
            <p>{t.description}</p>
            <p>
              Topic: <code>{t.topic}</code>
            </p>
            <details>
              <summary>JSON Schema of data</summary>
              <pre>{JSON.stringify(t.schema, null, 2)}</pre>
            </details>
            <details>
              <summary>Example webhook body</summary>
              <pre>{JSON.stringify(JSON.parse(example), null, 2)}</pre>
            </details>
          </section>
        );
      })}
    </Page>
  );
}
