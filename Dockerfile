# harbor-gc in a container, to run beside registry:2 on its storage volume (README, "In a container"). The image is built from
# the published output, made first, from the repository's root, by:
#   dotnet publish Harbor.Gc.Runner -c Release -o artifacts/publish
# and then: docker build -t harbor-gc .
FROM mcr.microsoft.com/dotnet/runtime:10.0
COPY artifacts/publish/ /app/
# the non-root user of .NET's images (UID 1654)
USER $APP_UID
ENTRYPOINT ["/app/harbor-gc"]
