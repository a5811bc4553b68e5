import { deliveryStatuses } from '../../db/schema/webhooks.js';
import type { MinuteCounts, WindowFigures } from '../../webhooks/deliveries/stats.js';
import type { SubscriptionState } from '../../webhooks/subscriptions/schema.js';
import { Page, type PageContext, Table, when } from '../layout.js';

export interface OverviewData {
  perMinute: MinuteCounts[];
  hour: WindowFigures;
  day: WindowFigures;
  failing: SubscriptionState[];
  deadLetters: number;
}

const percent = (ratio: number | null) => (ratio === null ? '—' : `${(ratio * 100).toFixed(1)} %`);
const ms = (value: number | null) => (value === null ? '—' : `${value.toLocaleString('en')} ms`);

/** The on-call view: volume by outcome, success and latency, who fails now, what waits in dead letters. */
export function OverviewPage(props: { ctx: PageContext; data: OverviewData }) {
  const { data } = props;
  const series = {
    labels: data.perMinute.map((m) => m.minute.slice(11, 16)),
    datasets: deliveryStatuses.map((status) => ({
      label: status,
      data: data.perMinute.map((m) => m.counts[status]),
    })),
  };
  return (
    <Page title="Overview" path="/console" ctx={props.ctx} scripts={['/console/assets/chart.umd.js']}>
      <section aria-labelledby="figures" class="figures">
        <h2 id="figures" class="visually-hidden">
          Figures
        </h2>
        <Figure label="Success ratio, last hour" value={percent(data.hour.successRatio)} />
        <Figure label="Success ratio, last day" value={percent(data.day.successRatio)} />
        <Figure label="End-to-end p95, last hour" value={ms(data.hour.endToEndP95Ms)} />
        <Figure label="End-to-end p95, last day" value={ms(data.day.endToEndP95Ms)} />
        <Figure label="Deliveries, last hour" value={data.hour.deliveries.toLocaleString('en')} />
        <Figure
          label="Dead letters waiting"
          value={data.deadLetters.toLocaleString('en')}
          href="/console/deliveries?status=dead"
        />
      </section>
      <section aria-labelledby="per-minute" class="card">
        <h2 id="per-minute">Deliveries per minute, last hour, by status</h2>
        <canvas
          id="per-minute-chart"
          data-chart={JSON.stringify(series)}
          role="img"
          aria-label="Deliveries per minute of their event over the last hour, stacked by their status now"
        />
      </section>
      <Failing failing={data.failing} />
    </Page>
  );
}

const Figure = (props: { label: string; value: string; href?: string }) => (
  <div class="figure">
    <span class="label">{props.label}</span>
    <span class="value">{props.href ? <a href={props.href}>{props.value}</a> : props.value}</span>
  </div>
);

/** The subscriptions failing now, with their breaker. */
function Failing(props: { failing: SubscriptionState[] }) {
  return (
    <section aria-labelledby="failing" class="card">
      <h2 id="failing">Subscriptions failing now</h2>
      {props.failing.length === 0 ? (
        <p>None: every subscription's last attempts succeeded and every breaker is closed.</p>
      ) : (
        <Table head={['Endpoint', 'Breaker', 'Failing since', 'Next probe', 'Enabled']}>
          {props.failing.map(({ subscription, circuit }) => (
            <tr>
              <td>
                <a href={`/console/subscriptions/${subscription.id}`}>{subscription.url}</a>
              </td>
              <td>
                <span class={`state ${circuit.state}`}>{circuit.state.replace('_', '-')}</span>
              </td>
              <td>{when(subscription.failingSince)}</td>
              <td>{circuit.nextProbeAt ? when(new Date(circuit.nextProbeAt)) : '—'}</td>
              <td>
                {subscription.enabled ? 'yes' : `no (${subscription.disabledReason ?? 'by an operator'})`}
              </td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}
