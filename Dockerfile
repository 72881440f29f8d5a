# cartcast: one image with every daemon (cartcast-origin, -edge, -overlay, -orders),
# built the way ./cartcast builds them: Debian 12, the packages of scripts/deps.sh, cmake.
# docker-compose.yml runs it once per service with a different command; docs/operations.md.
#   docker build -t cartcast .
FROM debian:12

ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /opt/cartcast

# Dependencies first (this layer is rebuilt only when the package list or the npm lock
# changes): scripts/deps.sh installs the Debian packages and the npm packages (hls.js,
# served by the overlay's viewer page).
COPY scripts/ scripts/
COPY package.json package-lock.json ./
RUN apt-get update -qq \
 && scripts/deps.sh \
 && rm -rf /var/lib/apt/lists/*

COPY . .
# Only the daemons: the tests run in the repository (./cartcast test), not in the image.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build -j"$(nproc)" --target cartcast-origin cartcast-edge cartcast-overlay cartcast-orders \
 && rm -rf build/CMakeFiles

ENV PATH=/opt/cartcast/build:$PATH
# RTMP, SRT (UDP), origin HTTP, edge HTTP, overlay, orders (docs/operations.md, "Ports").
EXPOSE 1935 9000/udp 8080 8081 8090 8091
# No default daemon: docker-compose.yml (or docker run ... cartcast-edge --origin URL) says which.
CMD ["cartcast-origin", "--help"]
