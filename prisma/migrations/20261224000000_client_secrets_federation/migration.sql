-- Several secrets per client; the existing one becomes the first of them.
CREATE TABLE "client_secrets" (
    "id" TEXT NOT NULL,
    "client_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3),
    "last_used_at" TIMESTAMPTZ(3),
    CONSTRAINT "client_secrets_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "client_secrets_client_id_fkey" FOREIGN KEY ("client_id") REFERENCES "clients"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "client_secrets_client_id_secret_hash_key" ON "client_secrets"("client_id", "secret_hash");

INSERT INTO "client_secrets" ("id", "client_id", "name", "secret_hash", "created_at")
SELECT replace(gen_random_uuid()::text, '-', ''), "id", 'initial', "secret_hash", "updated_at"
FROM "clients" WHERE "secret_hash" IS NOT NULL;

-- Workload identity federation: trusted external issuers and the subjects bound to clients.
CREATE TABLE "federated_issuers" (
    "id" TEXT NOT NULL,
    "issuer" TEXT NOT NULL,
    "jwks_uri" TEXT,
    "jwks" JSONB,
    "jwks_ca" TEXT,
    "audience" TEXT NOT NULL,
    "allow_private_network" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "federated_issuers_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "federated_issuers_issuer_key" ON "federated_issuers"("issuer");

CREATE TABLE "federated_subjects" (
    "issuer" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "client_id" TEXT NOT NULL,
    CONSTRAINT "federated_subjects_pkey" PRIMARY KEY ("issuer", "subject"),
    CONSTRAINT "federated_subjects_issuer_fkey" FOREIGN KEY ("issuer") REFERENCES "federated_issuers"("issuer") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "federated_subjects_client_id_fkey" FOREIGN KEY ("client_id") REFERENCES "clients"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "federated_subjects_client_id_idx" ON "federated_subjects"("client_id");
