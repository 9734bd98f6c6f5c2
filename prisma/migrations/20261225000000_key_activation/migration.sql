-- A signing key is published from `created_at`, signs from `activates_at` (later than `created_at`
-- for a key rotated in ahead of time), stops signing at `retired_at` and leaves the JWKS at `expires_at`.
ALTER TABLE "signing_keys" ADD COLUMN "activates_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;
UPDATE "signing_keys" SET "activates_at" = "created_at";
