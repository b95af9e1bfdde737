//! Reading a container's listening sockets from the host's `/proc`: the
//! readiness probe behind [`WaitFor::Tcp`](super::WaitFor::Tcp).

/// Whether a process's network namespace has a TCP socket listening on
/// `port`. Read from the host's `/proc/<pid>/net/tcp{,6}`: a connect to the
/// published port is no proof, since Docker's userland proxy accepts it
/// before the server listens.
pub fn listening(pid: u32, port: u16) -> bool {
    ["tcp", "tcp6"].iter().any(|f| {
        std::fs::read_to_string(format!("/proc/{pid}/net/{f}"))
            .map(|t| tcp_table_has_listener(&t, port))
            .unwrap_or(false)
    })
}

/// Parses a `/proc/net/tcp` table for a LISTEN (state `0A`) entry on `port`.
pub fn tcp_table_has_listener(table: &str, port: u16) -> bool {
    table.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1).unwrap_or("");
        let state = fields.nth(1).unwrap_or("");
        let lport = local
            .rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok());
        state == "0A" && lport == Some(port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_listeners_in_proc_tables() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0\n";
        assert!(tcp_table_has_listener(table, 8080));
        assert!(
            !tcp_table_has_listener(table, 80),
            "an established socket is not a listener"
        );
        assert!(!tcp_table_has_listener(table, 9999));
    }
}
