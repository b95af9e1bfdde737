# incident/toxiproxy: the Toxiproxy server, a static Go binary (CGO_ENABLED=0).
FROM scratch
COPY toxiproxy /toxiproxy
EXPOSE 8474
ENTRYPOINT ["/toxiproxy", "-host=0.0.0.0"]
