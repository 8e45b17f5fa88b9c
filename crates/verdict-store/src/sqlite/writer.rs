//! The one thread that writes to the SQLite file. Jobs queued while a
//! transaction commits are written together in the next one (group commit),
//! each inside its own savepoint so that one failing job does not undo the
//! others. A job's caller hears back only after COMMIT: "Ok" means durable.
//! Between jobs the writer does background work in bounded steps (moving
//! pytest-monitor samples out of their inbox), each its own transaction.

use crate::error::StoreError;
use rusqlite::Connection;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;
use tokio::sync::oneshot;

/// At most this many jobs share one transaction.
const MAX_GROUP: usize = 64;

/// Background work waits until no job has come for this long.
const IDLE: Duration = Duration::from_millis(10);

#[derive(PartialEq)]
pub(crate) enum Want {
    Nothing,
    /// When no job has come for `IDLE`.
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

#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    pub fn start(conn: Connection, background: Box<dyn Background>) -> Self {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("verdict-sqlite-writer".into())
            .spawn(move || run(conn, rx, background))
            .expect("spawn the SQLite writer thread");
        Writer { tx }
    }

    /// Run `f` in a write transaction and wait until it is committed.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Box::new(FnJob { f: Some(f), value: None, reply })).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn run(conn: Connection, rx: mpsc::Receiver<Box<dyn Job>>, mut background: Box<dyn Background>) {
    loop {
        let first = match background.wanted() {
            Want::Nothing => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            _ => match rx.recv_timeout(IDLE) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    background_step(&conn, background.as_mut());
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            },
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        write_group(&conn, group);
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
