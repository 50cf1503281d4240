# closesink image from a binary built on the host: what CI builds, where no
# build stage can download Go modules and no golang image can be pulled.
# The Dockerfile at the repository root (a multi-stage build from a public Go
# image) gives the same final image for everyone else.
#
#   scripts/docker-images.sh closesink    # make build, then this file on a context of
#                                         # bin/closesink + the host's CA bundle
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY closesink /closesink
# 65532 is the conventional "nonroot" uid/gid of minimal images.
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/closesink"]
CMD ["run"]
