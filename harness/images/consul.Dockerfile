# incident/consul: a static Consul binary on the base image, so fixtures can
# exec a shell (curl, nc) next to the agent. WORKDIR /tmp: `/v1/snapshot`
# writes its temp file there. Used like the official image:
# `docker run incident/consul:<v> agent -server ...`.
FROM incident/base:bookworm
COPY consul /usr/local/bin/consul
RUN mkdir -p /consul/data /consul/config
WORKDIR /tmp
EXPOSE 8300 8301 8301/udp 8302 8302/udp 8500 8600 8600/udp
ENTRYPOINT ["/usr/local/bin/consul"]
CMD ["agent", "-dev", "-client=0.0.0.0"]
