-- the language of the pages a user last used, so mails to them are written in it
ALTER TABLE "users" ADD COLUMN "locale" TEXT;
