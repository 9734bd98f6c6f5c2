# The server runs the JavaScript that `npm run build` writes to dist/ (the sources with their
# types stripped, lines unchanged; decision 0011): the build stage installs dependencies,
# generates the Prisma client into src/db/generated and builds. The operator CLI runs its
# TypeScript sources directly with Node's type stripping.
#
#   docker build -t idp .
#   docker run -p 3000:3000 -v idp-data:/data \
#     -e SECRETS_KEY=... -e ISSUER=https://id.example.com idp
#
# Without DATABASE_URL the server uses the embedded database in /data (one container per
# volume); with DATABASE_URL it uses PostgreSQL and /data stays empty.

FROM node:24-slim AS build
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false

# prisma/ must be present before `npm ci`: its postinstall runs `prisma generate`,
# which writes the client to src/db/generated.
COPY package.json package-lock.json ./
COPY prisma ./prisma
RUN --mount=type=cache,target=/root/.npm npm ci
COPY src ./src
# the token checker's sources: the server imports them (and the build strips them with its own)
COPY packages/resource-server/src ./packages/resource-server/src
COPY views ./views
COPY scripts/build.mjs ./scripts/build.mjs
RUN node --disable-warning=ExperimentalWarning scripts/build.mjs

# `prisma` (the CLI) and `typescript` are devDependencies, but they are also optional peer
# dependencies of @prisma/client, so npm marks them "devOptional" and `--omit=dev` alone
# keeps them (npm/cli#5203). `--omit=optional` as well drops them; the only true optional
# runtime dependency today is pg-cloudflare, which Node does not use.
# The generated client lives in src/db/generated, outside node_modules, so pruning keeps it.
RUN npm prune --omit=dev --omit=optional \
 && test -f src/db/generated/client.ts \
 && test ! -e node_modules/prisma \
 && test ! -e node_modules/typescript


FROM node:24-slim
ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/data
WORKDIR /app

# Application files belong to root and are read-only for the `node` user that runs them;
# the only writable place is DATA_DIR.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY src ./src
# the token checker the server shares with the @idp/resource-server package
COPY packages/resource-server/src ./packages/resource-server/src
COPY --from=build /app/src/db/generated ./src/db/generated
COPY prisma/schema.prisma ./prisma/schema.prisma
COPY prisma/migrations ./prisma/migrations
COPY views ./views

# Ownership is set before VOLUME so that a new named volume starts out owned by `node`.
# A bind mount keeps the host's ownership: make it writable by uid 1000.
RUN mkdir -p /data && chown node:node /data
VOLUME /data

USER node
EXPOSE 3000

# The slim image has no curl. Plain HTTP unless TLS_CERT_FILE is set; the certificate is
# not verified because the check connects to 127.0.0.1, not to the certificate's name.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const h=require(process.env.TLS_CERT_FILE?'node:https':'node:http');h.get({host:'127.0.0.1',port:process.env.PORT||3000,path:'/healthz',rejectUnauthorized:false,timeout:4000},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))"]

# node runs as PID 1 and handles SIGTERM itself (graceful shutdown in src/main.ts).
CMD ["node", "--max-semi-space-size=2", "dist/src/main.js"]
