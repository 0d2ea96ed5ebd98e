//! `SmtpCatcher`: an SMTP server on loopback that keeps what it receives, for tests that send
//! real mail over a real socket.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// Largest message the catcher accepts (larger ones get `552`).
const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

/// Longest command line the catcher reads; longer input ends the session.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// One message as the catcher received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaughtMail {
    /// Envelope sender (`MAIL FROM`), without the angle brackets.
    pub from: String,
    /// Envelope recipients (`RCPT TO`), without the angle brackets, in order.
    pub to: Vec<String>,
    /// The `Subject` header, decoded (RFC 2047), or empty.
    pub subject: String,
    /// The first `text/plain` part, transfer-decoded, line endings as `\n`; empty if none.
    pub text: String,
    /// The first `text/html` part, transfer-decoded, line endings as `\n`; empty if none.
    pub html: String,
    /// The message exactly as received after `DATA` (dot-unstuffed, CRLF line endings).
    pub raw: Vec<u8>,
}

impl CaughtMail {
    fn parse(from: String, to: Vec<String>, raw: Vec<u8>) -> Self {
        let mut subject = String::new();
        let mut text = None;
        let mut html = None;
        if let Some(message) = mail_parser::MessageParser::default().parse(&raw) {
            subject = message.subject().unwrap_or_default().to_owned();
            for part in &message.parts {
                match &part.body {
                    mail_parser::PartType::Html(body) if html.is_none() => {
                        html = Some(body.replace("\r\n", "\n"));
                    }
                    mail_parser::PartType::Text(body) if text.is_none() => {
                        text = Some(body.replace("\r\n", "\n"));
                    }
                    _ => {}
                }
            }
        }
        CaughtMail {
            from,
            to,
            subject,
            text: text.unwrap_or_default(),
            html: html.unwrap_or_default(),
            raw,
        }
    }
}

/// An SMTP server on `127.0.0.1`, on a port the system picks, that accepts every message
/// and keeps it in memory.
///
/// It speaks the part of SMTP clients such as lettre use (`EHLO`/`HELO`, `MAIL FROM`,
/// `RCPT TO`, `DATA` with dot-unstuffing, `RSET`, `NOOP`, `QUIT`), without AUTH or TLS, so
/// point a mailer at it with plain SMTP and no credentials. It can be stopped and restarted
/// on the same port, to test what happens while the mail server is down.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use referral_core::testing::SmtpCatcher;
/// let catcher = SmtpCatcher::start().await;
/// let port = catcher.port(); // MAIL_SERVER=127.0.0.1, MAIL_PORT=port
/// // … send mail …
/// let mails = catcher.wait_for(0, Duration::from_secs(5)).await;
/// assert!(mails.is_empty());
/// catcher.stop().await;
/// # });
/// ```
#[derive(Debug)]
pub struct SmtpCatcher {
    port: u16,
    shared: Arc<Shared>,
    server: Mutex<Option<JoinSet<()>>>,
}

#[derive(Debug, Default)]
struct Shared {
    mails: Mutex<Vec<CaughtMail>>,
    arrived: Notify,
    refuse_recipients: Mutex<Option<u16>>,
}

impl Shared {
    fn mails(&self) -> MutexGuard<'_, Vec<CaughtMail>> {
        self.mails
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn refusal(&self) -> Option<u16> {
        *self
            .refuse_recipients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SmtpCatcher {
    /// Starts a catcher on a free loopback port.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound (a broken test environment).
    pub async fn start() -> SmtpCatcher {
        let shared = Arc::new(Shared::default());
        let (port, server) = serve(0, shared.clone())
            .await
            .unwrap_or_else(|error| panic!("SmtpCatcher cannot bind 127.0.0.1: {error}"));
        SmtpCatcher {
            port,
            shared,
            server: Mutex::new(Some(server)),
        }
    }

    /// The port it listens on (the same across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message received so far, oldest first (kept across stop and restart).
    pub fn messages(&self) -> Vec<CaughtMail> {
        self.shared.mails().clone()
    }

    /// Waits until at least `count` messages have arrived or `timeout` passes, and returns
    /// every message received by then (check the length: it may be short on timeout).
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<CaughtMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            let mails = self.messages();
            if mails.len() >= count {
                return mails;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.messages();
            }
        }
    }

    /// Waits until a message for envelope recipient `to` has arrived or `timeout` passes;
    /// returns the latest such message. Handy when several tests share one catcher.
    pub async fn wait_for_mail_to(&self, to: &str, timeout: Duration) -> Option<CaughtMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            let latest = self
                .messages()
                .into_iter()
                .rev()
                .find(|mail| mail.to.iter().any(|rcpt| rcpt.eq_ignore_ascii_case(to)));
            if latest.is_some() {
                return latest;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }

    /// From now on, answer every `RCPT TO` with `code` (say 450 for a temporary failure,
    /// 550 for a permanent one), or accept again with `None`.
    pub fn refuse_recipients_with(&self, code: Option<u16>) {
        *self
            .shared
            .refuse_recipients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = code;
    }

    /// Stops listening and drops every open connection: clients now get "connection
    /// refused". Received messages are kept.
    pub async fn stop(&self) {
        let server = self
            .server
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(mut server) = server {
            server.shutdown().await;
        }
    }

    /// Listens again on the same port, after [`stop`](Self::stop). Does nothing if running.
    ///
    /// # Panics
    ///
    /// If the port was taken by someone else in between.
    pub async fn restart(&self) {
        if self.is_running() {
            return;
        }
        let (_, server) = serve(self.port, self.shared.clone())
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "SmtpCatcher cannot listen on port {} again: {error}",
                    self.port
                )
            });
        *self
            .server
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(server);
    }

    /// Whether it is listening.
    pub fn is_running(&self) -> bool {
        self.server
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some()
    }
}

/// Binds 127.0.0.1:`port` and serves connections in tasks of the returned set.
async fn serve(port: u16, shared: Arc<Shared>) -> std::io::Result<(u16, JoinSet<()>)> {
    let socket = TcpSocket::new_v4()?;
    // Restarting on the same port must not wait for old connections' TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(([127, 0, 0, 1], port).into())?;
    let listener = socket.listen(64)?;
    let port = listener.local_addr()?.port();
    let mut server = JoinSet::new();
    server.spawn(async move {
        let mut sessions = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    if let Ok((stream, _)) = accepted {
                        sessions.spawn(session(stream, shared.clone()));
                    }
                }
                // Reap finished sessions so the set does not grow without bound.
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            }
        }
    });
    Ok((port, server))
}

/// One SMTP session. I/O errors end it: the client sees a dropped connection.
async fn session(stream: TcpStream, shared: Arc<Shared>) {
    let _ = converse(stream, &shared).await;
}

#[derive(Default)]
struct Envelope {
    from: Option<String>,
    to: Vec<String>,
}

async fn converse(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut envelope = Envelope::default();
    write
        .write_all(b"220 localhost SmtpCatcher ready\r\n")
        .await?;
    let mut line = Vec::new();
    loop {
        if !read_line(&mut read, &mut line).await? {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line);
        let command = command.trim_end_matches(['\r', '\n']);
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let argument = command.get(verb.len()..).unwrap_or("").trim();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-localhost\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" => b"250 localhost\r\n",
            "MAIL" if envelope.from.is_some() => b"503 5.5.1 Nested MAIL command\r\n",
            "MAIL" => match path_after(argument, "FROM:") {
                Some(from) => {
                    envelope.from = Some(from);
                    b"250 2.1.0 OK\r\n"
                }
                None => b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" if envelope.from.is_none() => b"503 5.5.1 Need MAIL before RCPT\r\n",
            "RCPT" => match (path_after(argument, "TO:"), shared.refusal()) {
                (None, _) => b"501 5.5.4 Syntax: RCPT TO:<address>\r\n",
                (Some(_), Some(code)) => {
                    let reply = format!("{code} Recipient refused by SmtpCatcher\r\n");
                    write.write_all(reply.as_bytes()).await?;
                    continue;
                }
                (Some(to), None) => {
                    envelope.to.push(to);
                    b"250 2.1.5 OK\r\n"
                }
            },
            "DATA" if envelope.to.is_empty() => b"503 5.5.1 Need RCPT before DATA\r\n",
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let Some(raw) = read_data(&mut read, &mut line).await? else {
                    write.write_all(b"552 5.3.4 Message too big\r\n").await?;
                    envelope = Envelope::default();
                    continue;
                };
                let envelope = std::mem::take(&mut envelope);
                let mail = CaughtMail::parse(envelope.from.unwrap_or_default(), envelope.to, raw);
                shared.mails().push(mail);
                shared.arrived.notify_waiters();
                b"250 2.0.0 OK: queued\r\n"
            }
            "RSET" => {
                envelope = Envelope::default();
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 Command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Reads one line (up to and including `\n`) into `line`; `false` at end of input.
async fn read_line(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    line: &mut Vec<u8>,
) -> std::io::Result<bool> {
    line.clear();
    let mut limited = (&mut *read).take(MAX_LINE_BYTES as u64);
    let count = limited.read_until(b'\n', line).await?;
    if count == 0 {
        return Ok(false);
    }
    if !line.ends_with(b"\n") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "line too long or connection closed mid-line",
        ));
    }
    Ok(true)
}

/// Reads message data up to the lone `.` line, undoing dot-stuffing. `None` when it was too
/// big (the data is still consumed up to the end marker).
async fn read_data(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut too_big = false;
    loop {
        if !read_line(read, line).await? {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok((!too_big).then_some(data));
        }
        let content = line.strip_prefix(b".").unwrap_or(line);
        if data.len() + content.len() > MAX_MESSAGE_BYTES {
            too_big = true;
        } else {
            data.extend_from_slice(content);
        }
    }
}

/// The address in `FROM:<addr> PARAMS` or `TO:<addr> PARAMS`, without brackets.
fn path_after(argument: &str, keyword: &str) -> Option<String> {
    let head = argument.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let path = argument[keyword.len()..].trim_start();
    let path = path.split_whitespace().next().unwrap_or("");
    let address = path.strip_prefix('<')?.strip_suffix('>')?;
    Some(address.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Speaks raw SMTP: sends each line, returns every reply line received. Lines between a
    /// `DATA` and the lone `.` get no reply of their own.
    async fn converse_raw(port: u16, lines: &[&str]) -> Vec<String> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let mut replies = Vec::new();
        let mut reply = String::new();
        read.read_line(&mut reply).await.unwrap();
        replies.push(reply.trim_end().to_owned());
        let mut in_data = false;
        for line in lines {
            write
                .write_all(format!("{line}\r\n").as_bytes())
                .await
                .unwrap();
            if in_data && *line != "." {
                continue;
            }
            loop {
                reply.clear();
                read.read_line(&mut reply).await.unwrap();
                replies.push(reply.trim_end().to_owned());
                // Multi-line replies have a '-' after the code until the last line.
                if reply.as_bytes().get(3) != Some(&b'-') {
                    break;
                }
            }
            in_data = reply.starts_with("354");
        }
        replies
    }

    #[tokio::test]
    async fn dot_stuffed_lines_are_unstuffed_and_rset_clears_the_envelope() {
        let catcher = SmtpCatcher::start().await;
        let replies = converse_raw(
            catcher.port(),
            &[
                "EHLO test",
                "MAIL FROM:<dropped@example.com>",
                "RSET",
                "RCPT TO:<early@example.com>",
                "MAIL FROM:<a@example.com> BODY=8BITMIME",
                "RCPT TO:<b@example.com>",
                "DATA",
                "Subject: dots",
                "",
                "body",
                "..leading dot",
                ".",
                "NOOP",
                "QUIT",
            ],
        )
        .await;
        let codes: Vec<&str> = replies.iter().map(|r| &r[..3]).collect();
        assert_eq!(
            codes,
            [
                "220", // greeting
                "250", "250", "250", // EHLO, three lines
                "250", // MAIL
                "250", // RSET
                "503", // RCPT without MAIL: the envelope was reset
                "250", "250", // MAIL, RCPT
                "354", "250", // DATA, end of data
                "250", "221", // NOOP, QUIT
            ]
        );
        let mails = catcher.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].from, "a@example.com");
        assert_eq!(mails[0].to, ["b@example.com"]);
        assert_eq!(mails[0].subject, "dots");
        assert_eq!(
            mails[0].raw,
            b"Subject: dots\r\n\r\nbody\r\n.leading dot\r\n"
        );
    }

    #[tokio::test]
    async fn a_stopped_catcher_refuses_connections_and_a_restarted_one_accepts_them() {
        let catcher = SmtpCatcher::start().await;
        let port = catcher.port();
        catcher.stop().await;
        assert!(!catcher.is_running());
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
        catcher.restart().await;
        assert_eq!(catcher.port(), port);
        let replies = converse_raw(port, &["HELO test", "QUIT"]).await;
        assert_eq!(replies[0].get(..3), Some("220"));
        assert_eq!(replies[1].get(..3), Some("250"));
    }

    #[tokio::test]
    async fn refused_recipients_get_the_chosen_code() {
        let catcher = SmtpCatcher::start().await;
        catcher.refuse_recipients_with(Some(450));
        let replies = converse_raw(
            catcher.port(),
            &[
                "HELO t",
                "MAIL FROM:<a@example.com>",
                "RCPT TO:<b@example.com>",
            ],
        )
        .await;
        assert_eq!(replies[3].get(..3), Some("450"));
    }

    #[test]
    fn paths_are_read_with_or_without_parameters() {
        assert_eq!(
            path_after("FROM:<a@example.com> SIZE=10", "FROM:").as_deref(),
            Some("a@example.com")
        );
        assert_eq!(
            path_after("to: <b@x.org>", "TO:").as_deref(),
            Some("b@x.org")
        );
        assert_eq!(path_after("FROM:<>", "FROM:").as_deref(), Some(""));
        assert_eq!(path_after("FROM:a@example.com", "FROM:"), None);
        assert_eq!(path_after("TO:<a@example.com>", "FROM:"), None);
    }
}
