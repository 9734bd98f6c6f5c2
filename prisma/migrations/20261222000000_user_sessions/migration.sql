-- The browser sessions people see on /account and admins under /admin/users/{id}/sessions:
-- one row per oidc-provider Session (`id` is its `uid`, stable for the session's life), with
-- what the Session payload does not keep: when it started, when it was last seen, from where.
CREATE TABLE "user_sessions" (
    "id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "ip" TEXT,
    "user_agent" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "user_sessions_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "user_sessions_user_id_idx" ON "user_sessions"("user_id");

ALTER TABLE "user_sessions" ADD CONSTRAINT "user_sessions_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A person's grants (connected applications) by account. Partial: only Grant rows carry it, so
-- session and token writes (the sign-in path) pay nothing for it.
CREATE INDEX "oidc_payloads_grant_account_idx" ON "oidc_payloads" (("payload"->>'accountId')) WHERE "model" = 'Grant';
