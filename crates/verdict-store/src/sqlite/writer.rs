//! The one connection that writes to the SQLite file, and the thread that
//! drives it. Jobs queued while a transaction commits are written together in
//! the next one (group commit), each inside its own savepoint so that one
//! failing job does not undo the others. A job's caller hears back only after
//! COMMIT: "Ok" means durable. Between jobs the thread does background work in
//! bounded steps (moving pytest-monitor samples out of their inbox), each its
//! own transaction.
//!
//! A small write that finds the connection idle is committed on the caller's
//! own thread instead (`write_small`): a pytest-monitor client sends one
//! sample at a time and waits, and skipping the two hand-overs between threads
//! gave it about a third more requests per second (bench/RESULTS.md).

use crate::error::StoreError;
use rusqlite::Connection;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::Duration;
use tokio::sync::oneshot;

/// At most this many jobs share one transaction.
const MAX_GROUP: usize = 64;

/// Background work waits until no write (a job, or one on a caller's thread) has come for this long.
const IDLE: Duration = Duration::from_millis(10);

#[derive(PartialEq)]
pub(crate) enum Want {
    Nothing,
    /// When no write has come for `IDLE`.
    WhenIdle,
    /// Between groups of jobs as well.
    Now,
}

/// Work the writer does in its own transactions when the jobs let it.
pub(crate) trait Background: Send {
    fn wanted(&self) -> Want;
    /// One bounded step, inside an open transaction.
    fn step(&mut self, conn: &Connection) -> Result<(), StoreError>;
    /// The step's transaction did not commit.
    fn failed(&mut self);
}

pub(crate) trait Job: Send {
    /// Run the job's statements inside the open transaction.
    fn apply(&mut self, conn: &Connection) -> Result<(), StoreError>;
    /// Tell the caller how it ended, once the transaction has.
    fn finish(self: Box<Self>, outcome: Result<(), StoreError>);
}

struct FnJob<T, F> {
    f: Option<F>,
    value: Option<T>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send, F: FnOnce(&Connection) -> Result<T, StoreError> + Send> Job for FnJob<T, F> {
    fn apply(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let f = self.f.take().expect("a job is applied once");
        self.value = Some(f(conn)?);
        Ok(())
    }

    fn finish(self: Box<Self>, outcome: Result<(), StoreError>) {
        let this = *self;
        let result = outcome.and_then(|()| this.value.ok_or(StoreError::Closed));
        let _ = this.reply.send(result);
    }
}

enum Message {
    Job(Box<dyn Job>),
    /// A write on a caller's thread may have given the background work to do.
    Look,
}

/// What the callers and the thread share.
struct Shared {
    conn: Mutex<Connection>,
    /// Jobs sent and not yet finished: a small write goes through the thread
    /// while any wait, so that it neither overtakes them nor splits a group.
    queued: AtomicUsize,
    /// The thread waits for a message with no timeout: a write on a
    /// caller's thread must send it a `Look`.
    parked: AtomicBool,
    /// Writes committed on callers' threads since the thread last looked:
    /// they are not idle time, although the thread saw no message.
    written_here: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|poisoned| self.recover(poisoned.into_inner()))
    }

    fn try_lock(&self) -> Option<MutexGuard<'_, Connection>> {
        match self.conn.try_lock() {
            Ok(conn) => Some(conn),
            Err(TryLockError::Poisoned(poisoned)) => Some(self.recover(poisoned.into_inner())),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// A caller panicked while it held the connection: its transaction may be open.
    fn recover<'a>(&self, conn: MutexGuard<'a, Connection>) -> MutexGuard<'a, Connection> {
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        self.conn.clear_poison();
        conn
    }
}

#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Message>,
    shared: Arc<Shared>,
}

impl Writer {
    pub fn start(conn: Connection, background: Box<dyn Background>) -> Self {
        let (tx, rx) = mpsc::channel::<Message>();
        let shared = Arc::new(Shared {
            conn: Mutex::new(conn),
            queued: AtomicUsize::new(0),
            parked: AtomicBool::new(false),
            written_here: AtomicUsize::new(0),
        });
        let on_thread = shared.clone();
        std::thread::Builder::new()
            .name("verdict-sqlite-writer".into())
            .spawn(move || run(&on_thread, rx, background))
            .expect("spawn the SQLite writer thread");
        Writer { tx, shared }
    }

    /// Run `f` in a write transaction and wait until it is committed.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(Message::Job(Box::new(FnJob { f: Some(f), value: None, reply }))).is_err() {
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(StoreError::Closed);
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// As `write`, for a job of a few statements: when no job waits and the
    /// connection is free, it is committed right here. This blocks the
    /// calling thread (an async worker) for one commit: about 0.1 ms, most
    /// of it fsync, and a few ms for the one commit in a thousand or so that
    /// checkpoints the WAL. Only one caller at a time can, so the other
    /// workers stay free. Large jobs (uploads) must use `write`.
    /// Jobs handed to the writer thread and not yet taken into a transaction.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::SeqCst)
    }

    pub async fn write_small<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match self.try_here(f) {
            Ok(out) => out,
            Err(f) => self.write(f).await,
        }
    }

    /// `f`'s outcome if it could be committed on this thread, else `f` back.
    fn try_here<T, F: FnOnce(&Connection) -> Result<T, StoreError>>(&self, f: F) -> Result<Result<T, StoreError>, F> {
        if self.shared.queued.load(Ordering::SeqCst) != 0 {
            return Err(f);
        }
        let Some(conn) = self.shared.try_lock() else { return Err(f) };
        let out = write_one(&conn, f);
        drop(conn);
        self.shared.written_here.fetch_add(1, Ordering::SeqCst);
        // Pairs with the fence in `run`: either the thread sees what this
        // write left for the background, or this sees that it parked.
        fence(Ordering::SeqCst);
        if self.shared.parked.load(Ordering::SeqCst) {
            let _ = self.tx.send(Message::Look);
        }
        Ok(out)
    }
}

fn write_one<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let out = f(conn).and_then(|value| conn.execute_batch("COMMIT").map(|()| value).map_err(StoreError::from));
    if out.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    out
}

fn run(shared: &Shared, rx: mpsc::Receiver<Message>, mut background: Box<dyn Background>) {
    loop {
        // Parked before asking what the background wants: a write that ends
        // on a caller's thread after this sees it and sends a Look.
        shared.parked.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let message = match background.wanted() {
            Want::Nothing => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            _ => {
                shared.parked.store(false, Ordering::SeqCst);
                rx.recv_timeout(IDLE)
            }
        };
        shared.parked.store(false, Ordering::SeqCst);
        let first = match message {
            Ok(Message::Job(job)) => job,
            Ok(Message::Look) => continue,
            Err(RecvTimeoutError::Timeout) => {
                let idle = shared.written_here.swap(0, Ordering::SeqCst) == 0;
                if idle || background.wanted() == Want::Now {
                    background_step(&shared.lock(), background.as_mut());
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(Message::Job(job)) => group.push(job),
                Ok(Message::Look) => {}
                Err(_) => break,
            }
        }
        let jobs = group.len();
        let conn = shared.lock();
        write_group(&conn, group);
        shared.queued.fetch_sub(jobs, Ordering::SeqCst);
        if background.wanted() == Want::Now {
            background_step(&conn, background.as_mut());
        }
    }
}

fn background_step(conn: &Connection, background: &mut dyn Background) {
    let done = conn
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(StoreError::from)
        .and_then(|()| background.step(conn))
        .and_then(|()| conn.execute_batch("COMMIT").map_err(StoreError::from));
    if let Err(e) = done {
        let _ = conn.execute_batch("ROLLBACK");
        background.failed();
        tracing::warn!(error = %e, "the SQLite writer's background step failed; it will be tried again");
    }
}

fn write_group(conn: &Connection, group: Vec<Box<dyn Job>>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let msg = e.to_string();
        group.into_iter().for_each(|j| j.finish(Err(StoreError::Database(msg.clone()))));
        return;
    }
    let mut applied = Vec::with_capacity(group.len());
    for mut job in group {
        let step = conn.execute_batch("SAVEPOINT job").map_err(StoreError::from).and_then(|()| job.apply(conn));
        match step {
            Ok(()) => match conn.execute_batch("RELEASE job") {
                Ok(()) => applied.push(job),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
                    job.finish(Err(e.into()));
                }
            },
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
                job.finish(Err(e));
            }
        }
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => applied.into_iter().for_each(|j| j.finish(Ok(()))),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            let msg = e.to_string();
            applied.into_iter().for_each(|j| j.finish(Err(StoreError::Database(msg.clone()))));
        }
    }
}
