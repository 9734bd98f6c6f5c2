-- CreateTable
CREATE TABLE "security_events" (
    "id" BIGSERIAL NOT NULL,
    "type" TEXT NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "actor" TEXT,
    "subject" TEXT,
    "client_id" TEXT,
    "ip" TEXT,
    "user_agent" TEXT,
    "outcome" TEXT NOT NULL,
    "details" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "security_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "security_events_occurred_at_id_idx" ON "security_events"("occurred_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "security_events_type_occurred_at_idx" ON "security_events"("type", "occurred_at" DESC);

-- CreateIndex
CREATE INDEX "security_events_subject_occurred_at_idx" ON "security_events"("subject", "occurred_at" DESC);

-- CreateIndex
CREATE INDEX "security_events_client_id_occurred_at_idx" ON "security_events"("client_id", "occurred_at" DESC);
