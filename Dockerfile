# The hookline platform image: one image, one process per container chosen by its command
# (`workers/all.ts` for everything in one process, or one of the other entries in workers/).
FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
# Fixes to dependencies, applied by npm ci's postinstall (patch-package): see patches/.
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY tsconfig.json ./
COPY src ./src
COPY workers ./workers
COPY drizzle ./drizzle
COPY scripts/reseal-secrets.ts ./scripts/
USER node
EXPOSE 3000
STOPSIGNAL SIGTERM
CMD ["node", "--import", "tsx", "workers/all.ts"]
