# incident/chat-gateway: the workspace's gateway, built with the host's cargo
# (glibc of Debian bookworm, like the base image).
FROM incident/base:bookworm
COPY chat-gateway /usr/local/bin/chat-gateway
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/chat-gateway"]
