# ProPsy's image for those who build with a container registry at hand:
#   version=$(sed -n 's/^project(propsy VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
#   docker build --build-arg VERSION=$version -t propsy:$version .
# It is the image scripts/build-image.sh makes from Debian packages alone
# (SPEC §6), built the same way: the build stage compiles propsy, and
# scripts/image-rootfs.sh derives the runtime packages from the binary
# (ldd -> dpkg -S) and extracts them, the CA certificates and user 65532
# into /rootfs with mmdebstrap; the final stage is that root and the binary.
# Only the base of the build stage comes from a registry.

FROM debian:bookworm AS build
# propsy's version (CMake's project VERSION); checked against the binary.
ARG VERSION
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/install-deps.sh scripts/
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends mmdebstrap binutils \
 && scripts/install-deps.sh --build-only
ENV PATH=/root/.cache/propsy/bin:$PATH
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
      -DPROPSY_BUILD_BENCH=OFF \
 && ninja -C build propsy \
 && { [ "$(build/src/main/propsy -version)" = "propsy $VERSION" ] \
      || { echo "--build-arg VERSION=$VERSION is not $(build/src/main/propsy -version)"; exit 1; }; } \
 && objcopy --strip-debug build/src/main/propsy /propsy \
 && PROPSY_MMDEBSTRAP_MODE=chrootless SOURCE_DATE_EPOCH=0 scripts/image-rootfs.sh /propsy /rootfs

FROM scratch
COPY --from=build /rootfs/ /
COPY --from=build /propsy /usr/local/bin/propsy
USER 65532:65532
WORKDIR /
EXPOSE 8888 8889
ENTRYPOINT ["/usr/local/bin/propsy"]
ARG VERSION
LABEL org.opencontainers.image.title="propsy" \
      org.opencontainers.image.description="ProPsy, an Envoy control plane (xDS v3) for ProPsyService objects in several Kubernetes clusters" \
      org.opencontainers.image.version="$VERSION"
