-- CreateTable
CREATE TABLE "webhooks" (
    "id" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "events" TEXT[] NOT NULL,
    "description" TEXT,
    "secret_sealed" TEXT NOT NULL,
    "previous_secret_sealed" TEXT,
    "previous_secret_expires_at" TIMESTAMPTZ(3),
    "max_attempts" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "webhooks_pkey" PRIMARY KEY ("id")
);

-- AlterTable: a webhook delivery is an outbox row of kind 'webhook' naming its webhook
ALTER TABLE "outbox" ADD COLUMN "webhook_id" TEXT;
ALTER TABLE "outbox" ADD COLUMN "last_status" INTEGER;

-- CreateIndex
CREATE INDEX "outbox_webhook_id_created_at_idx" ON "outbox"("webhook_id", "created_at");

-- AddForeignKey
ALTER TABLE "outbox" ADD CONSTRAINT "outbox_webhook_id_fkey" FOREIGN KEY ("webhook_id") REFERENCES "webhooks"("id") ON DELETE CASCADE ON UPDATE CASCADE;
