CREATE TABLE "webhook_replays" (
	"id" uuid PRIMARY KEY NOT NULL,
	"filter" jsonb NOT NULL,
	"filter_key" text NOT NULL,
	"queue" text NOT NULL,
	"state" text DEFAULT 'running' NOT NULL,
	"total" integer NOT NULL,
	"requeued" integer DEFAULT 0 NOT NULL,
	"cursor" uuid,
	"created_by" text NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_replays_running_filter" ON "webhook_replays" USING btree ("queue","filter_key") WHERE "webhook_replays"."state" = 'running';