-- CreateTable
CREATE TABLE "replay_keys" (
    "key" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "replay_keys_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "replay_keys_expires_at_idx" ON "replay_keys"("expires_at");
