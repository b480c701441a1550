# lifeboat's container image: Node.js 24, the PostgreSQL, MariaDB and Redis client tools
# (pg_dump, mariadb-dump, redis-cli...) and lifeboat, running `lifeboat daemon` by default.
#
#   docker build -t lifeboat .                                        # base: local/debian:bookworm
#   docker build --build-arg BASE=node:24-bookworm-slim -t lifeboat .  # with a registry
#
# BASE is any Debian bookworm image; without a registry, make one with mmdebstrap (see
# docs/install.md). Node.js 24 comes from the "node" npm package the lockfile pins, so the
# base needs no Node.js of its own. The build stage needs the npm registry (--network host
# where the default bridge is off). The image runs as the user "lifeboat" (uid 10001); to
# back up containers through the Docker socket, run it with --user root (docs/install.md).
ARG BASE=local/debian:bookworm

FROM ${BASE} AS build
ARG DEBIAN_FRONTEND=noninteractive
# PEM certificates of a TLS-inspecting proxy between the build and the npm registry, if any
# (--build-arg EXTRA_CA_CERTS="$(cat /usr/local/share/ca-certificates/*.crt)"); used by
# this stage only, never part of the image.
ARG EXTRA_CA_CERTS=""
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
# g++, make and python3 build the native modules (zstd-napi, fs-xattr); Debian's npm only
# installs the lockfile's packages when the base has no npm (Node.js 24 runs everything else).
RUN echo force-unsafe-io > /etc/dpkg/dpkg.cfg.d/unsafe-io \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates g++ make python3 $(command -v npm >/dev/null || echo npm) \
 && rm -rf /var/lib/apt/lists/* \
 && if [ -n "$EXTRA_CA_CERTS" ]; then printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/build-extra.crt; fi \
 && update-ca-certificates
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild node \
 && mkdir -p /opt/node/bin && cp "$(readlink -f node_modules/node/bin/node)" /opt/node/bin/node \
 && /opt/node/bin/node --version | grep -q '^v24\.'
ENV PATH=/opt/node/bin:$PATH
COPY tsconfig.json tsconfig.build.json README.md ./
COPY bin bin
COPY scripts/build.ts scripts/build.ts
COPY src src
COPY docs docs
COPY deploy deploy
# The package as npm publishes it (prepack compiles dist/), installed with its runtime
# dependencies only; node-gyp gets the pinned Node's headers, never a download.
RUN npm pack --pack-destination /tmp \
 && headers="$(find /src/node_modules/node /usr/local/include /usr/include -path '*include/node/node_api.h' 2>/dev/null | head -n 1)" \
 && test -n "$headers" \
 && npm install -g --prefix /opt/lifeboat --omit=dev --no-audit --no-fund \
      --nodedir="${headers%/include/node/node_api.h}" --allow-scripts=fs-xattr,koffi,zstd-napi /tmp/lifeboat-*.tgz \
 && test -f /opt/lifeboat/lib/node_modules/lifeboat/node_modules/zstd-napi/build/Release/binding.node \
 && test -f /opt/lifeboat/lib/node_modules/lifeboat/node_modules/fs-xattr/build/Release/xattr.node

# Node.js without its debug symbols (18 MB less; stack traces keep their JavaScript frames).
RUN strip /opt/node/bin/node

FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
# No documentation, manual pages or translations of the client tools in the image.
RUN printf 'path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\npath-exclude=/usr/share/man/*\npath-exclude=/usr/share/locale/*\npath-exclude=/usr/share/info/*\n' > /etc/dpkg/dpkg.cfg.d/lifeboat-slim \
 && echo force-unsafe-io > /etc/dpkg/dpkg.cfg.d/unsafe-io \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-client mariadb-client redis-tools sqlite3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /etc/dpkg/dpkg.cfg.d/unsafe-io \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/lifeboat --shell /usr/sbin/nologin lifeboat
COPY --from=build /opt/node/bin/node /usr/local/bin/node
COPY --from=build /opt/lifeboat /opt/lifeboat
RUN ln -s /opt/lifeboat/bin/lifeboat /usr/local/bin/lifeboat && NODE_DISABLE_COMPILE_CACHE=1 lifeboat --version
USER lifeboat
WORKDIR /var/lib/lifeboat
# The state (reports, caches) lives under the home directory; lifeboat.yml is looked up in
# the working directory, or pass --config / LIFEBOAT_CONFIG.
ENV HOME=/var/lib/lifeboat
VOLUME ["/var/lib/lifeboat"]
ENTRYPOINT ["lifeboat"]
CMD ["daemon"]
