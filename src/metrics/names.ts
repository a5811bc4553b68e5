/** Every metric name, once: the code and the dashboards both import it, so a rename cannot go unseen. */
export const metricNames = {
  // src/metrics/registry.ts
  httpRequestDuration: 'hookline_http_request_duration_seconds',
  httpRequests: 'hookline_http_requests_total',
  scrapeDuration: 'hookline_metrics_scrape_duration_seconds',
  scrapeCpu: 'hookline_metrics_scrape_cpu_seconds_total',
  // prom-client's process defaults, prefixed `hookline_` by createMetrics (the ones dashboards read)
  processCpu: 'hookline_process_cpu_seconds_total',
  eventLoopLagP99: 'hookline_nodejs_eventloop_lag_p99_seconds',
  heapUsed: 'hookline_nodejs_heap_size_used_bytes',

  // src/auth/metrics.ts
  authFailedLogins: 'hookline_auth_failed_logins_total',
  authLogins: 'hookline_auth_logins_total',
  authRegistrations: 'hookline_auth_registrations_total',
  authTokenRefreshes: 'hookline_auth_token_refreshes_total',
  authSessionRevocations: 'hookline_auth_session_revocations_total',
  authRateLimited: 'hookline_auth_rate_limited_total',
  authPasswordHashDuration: 'hookline_auth_password_hash_duration_seconds',
  authActiveSessions: 'hookline_auth_active_sessions',

  // src/audit/detector.ts, src/audit/worker.ts
  auditSecurityAlerts: 'hookline_audit_security_alerts_total',
  auditInvalidEvents: 'hookline_audit_invalid_events_total',
  auditRowsInserted: 'hookline_audit_rows_inserted_total',
  auditInsertErrors: 'hookline_audit_insert_errors_total',
  auditBufferedRows: 'hookline_audit_buffered_rows',

  // src/events/metrics.ts
  eventsPublished: 'hookline_events_published_total',
  eventsPublishErrors: 'hookline_events_publish_errors_total',
  outboxDeadRows: 'hookline_outbox_dead_rows_total',
  outboxPending: 'hookline_outbox_pending',
  outboxOldestPendingAge: 'hookline_outbox_oldest_pending_age_seconds',

  // src/kafka/lag.ts
  kafkaConsumerLag: 'hookline_kafka_consumer_lag',
  // src/events/consume.ts
  kafkaConsumerRestarts: 'hookline_kafka_consumer_restarts_total',

  // src/webhooks/metrics.ts
  webhookEventsConsumed: 'hookline_webhook_events_consumed_total',
  webhookDeliveriesCreated: 'hookline_webhook_deliveries_created_total',
  webhookDeliveries: 'hookline_webhook_deliveries_total',
  webhookAttempts: 'hookline_webhook_attempts_total',
  webhookAttemptDuration: 'hookline_webhook_attempt_duration_seconds',
  webhookE2eLatency: 'hookline_webhook_e2e_latency_seconds',
  webhookSubscriptionsDisabled: 'hookline_webhook_subscriptions_disabled_total',
  webhookDuplicateSends: 'hookline_webhook_duplicate_sends_total',
  webhookDeferred: 'hookline_webhook_deferred_total',
  webhookCircuitTransitions: 'hookline_webhook_circuit_transitions_total',
  webhookAttemptsRefused: 'hookline_webhook_attempts_refused_total',
  webhookSsrfRefusals: 'hookline_webhook_ssrf_refusals_total',
  webhookInvalidEvents: 'hookline_webhook_invalid_events_total',
  webhookQueueJobs: 'hookline_webhook_queue_jobs',
  webhookIndexedSubscriptions: 'hookline_webhook_indexed_subscriptions',
  webhookCircuitsOpen: 'hookline_webhook_circuits_open',
  webhookSubscriptionCircuitState: 'hookline_webhook_subscription_circuit_state',
  webhookFailingDeliveries: 'hookline_webhook_failing_deliveries',
  webhookSubscriptionFailingDeliveries: 'hookline_webhook_subscription_failing_deliveries',
} as const;
