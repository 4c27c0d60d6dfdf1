//! Referrers (OCI distribution spec 1.1): listed through the referrers API
//! where the registry serves it, else through the referrers tag schema,
//! which a push of a manifest with a subject keeps up to date.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use paragon_core::model::oci::{
    to_canonical_json, Descriptor, Digest, ImageIndex, MEDIA_TYPE_INDEX,
};
use paragon_core::plugin::registry::referrers::{of_type, parse_list};
use paragon_core::plugin::registry::referrers_tag;
use paragon_core::{CallContext, ErrorKind, Result};
use reqwest::header::HeaderMap;

use super::manifests::ACCEPT_MANIFESTS;
use super::tags::next_link;
use super::DistributionRegistry;

/// The most pages of a referrers list followed.
const MAX_PAGES: usize = 1_000;
/// How many times a referrers list is written again after another
/// writer's list replaced it.
const MAX_REWRITES: usize = 8;

impl DistributionRegistry {
    /// See [`Registry::referrers`](paragon_core::plugin::registry::Registry::referrers):
    /// the referrers API, page by page; on its 404, the referrers tag.
    pub(super) async fn list_referrers(
        &self,
        repository: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
        ctx: &CallContext,
    ) -> Result<Vec<Descriptor>> {
        let op = format!("list referrers of {repository}@{digest}");
        let mut url = format!("{}/v2/{repository}/referrers/{digest}", self.base());
        if let Some(t) = artifact_type {
            let t = percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC);
            url = format!("{url}?artifactType={t}");
        }
        let mut listed = Vec::new();
        for page in 0.. {
            if page == MAX_PAGES {
                return Err(self.registry_error(
                    &op,
                    None,
                    format!("the referrers list did not end after {MAX_PAGES} pages"),
                    false,
                ));
            }
            let found = self
                .get_document(&op, &url, MEDIA_TYPE_INDEX, repository, ctx)
                .await?;
            let Some(doc) = found else {
                if page == 0 {
                    return self
                        .referrers_from_tag(repository, digest, artifact_type, ctx)
                        .await;
                }
                return Err(self.registry_error(
                    &op,
                    Some(404),
                    format!("page {} of the referrers list is gone", page + 1),
                    false,
                ));
            };
            let index = parse_list(&doc.bytes, doc.content_type.as_deref()).map_err(|what| {
                self.registry_error(
                    &op,
                    Some(200),
                    format!("the referrers API answered {what}"),
                    false,
                )
            })?;
            // Whether the registry filtered (`OCI-Filters-Applied`) or
            // not, the list is filtered here.
            listed.extend(index.manifests);
            match doc.link.as_deref().and_then(next_link) {
                None => break,
                Some(next) if next.starts_with('/') => url = format!("{}{next}", self.base()),
                Some(next) if next.starts_with(&format!("{}/", self.base())) => url = next,
                Some(next) => {
                    return Err(self.registry_error(
                        &op,
                        Some(200),
                        format!("the next page of the referrers list is on another host: {next}"),
                        false,
                    ))
                }
            }
        }
        Ok(of_type(listed, artifact_type))
    }

    /// The referrers list kept under the referrers tag; empty when there is
    /// none, or (as the distribution spec says) when the tag holds
    /// something other than an index, which is logged.
    async fn referrers_from_tag(
        &self,
        repository: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
        ctx: &CallContext,
    ) -> Result<Vec<Descriptor>> {
        match self.referrers_list(repository, digest, ctx).await? {
            Listed::Absent => Ok(Vec::new()),
            Listed::Index { index, .. } => Ok(of_type(index.manifests, artifact_type)),
            Listed::NotAnIndex(what) => {
                tracing::warn!(
                    registry = %self.host, %repository, tag = %referrers_tag(digest), holds = %what,
                    "the referrers tag holds no image index; no referrers listed"
                );
                Ok(Vec::new())
            }
        }
    }

    /// What the referrers tag of `digest` holds.
    async fn referrers_list(
        &self,
        repository: &str,
        digest: &Digest,
        ctx: &CallContext,
    ) -> Result<Listed> {
        let tag = referrers_tag(digest);
        let op = format!("get referrers list {repository}:{tag}");
        let url = format!("{}/v2/{repository}/manifests/{tag}", self.base());
        // Every manifest type is accepted, so that a tag holding an image
        // is seen as one (distribution answers 404 to a GET whose Accept
        // leaves out the manifest's type).
        let found = self
            .get_document(&op, &url, ACCEPT_MANIFESTS, repository, ctx)
            .await?;
        let Some(doc) = found else {
            return Ok(Listed::Absent);
        };
        Ok(match parse_list(&doc.bytes, doc.content_type.as_deref()) {
            Ok(index) => Listed::Index {
                index: Box::new(index),
                etag: doc.etag,
            },
            Err(what) => Listed::NotAnIndex(what),
        })
    }

    /// Adds `referrer` to the list kept under `subject`'s referrers tag,
    /// for a registry that did not take the subject itself: the tag.
    ///
    /// The list is read, extended and written back, with `If-Match` where
    /// the registry gave an `ETag` (a registry that honours it refuses a
    /// write over a list that changed since). For those that ignore it,
    /// the list is read again after the tag-settle wait and written again
    /// while another writer's list has replaced this one: of writers that
    /// each write within the wait after their read, none loses its entry.
    ///
    /// Calls on one list through this value take turns, and each turn
    /// writes every entry waiting then: entries added at once share one
    /// write and one wait, and a call whose entry an earlier turn wrote
    /// and read back returns without a request. A turn first waits, up to
    /// the tag-settle wait, for the entries announced ([`Lease::expect`])
    /// by pushes still uploading, so that artifacts pushed at once are
    /// written in one turn.
    pub(super) async fn add_referrer(
        &self,
        repository: &str,
        subject: &Digest,
        referrer: &Descriptor,
        coming: Coming,
        ctx: &CallContext,
    ) -> Result<String> {
        let tag = referrers_tag(subject);
        let writer = self.list_writer(repository, tag.as_str());
        coming.arrive(referrer);
        let turn = tokio::select! {
            turn = writer.turn.lock() => turn,
            _ = ctx.cancel.cancelled() => {
                writer.forget(&referrer.digest);
                return Err(self.cancelled());
            }
        };
        if !writer.is_listed(&referrer.digest) {
            tokio::select! {
                () = writer.gather(self.settle) => {}
                _ = ctx.cancel.cancelled() => {
                    writer.forget(&referrer.digest);
                    return Err(self.cancelled());
                }
            }
        }
        if writer.is_listed(&referrer.digest) {
            return Ok(tag.to_string());
        }
        let written = self
            .write_waiting(repository, subject, &writer, &referrer.digest, ctx)
            .await;
        drop(turn);
        if written.is_err() {
            writer.forget(&referrer.digest);
        }
        written.map(|()| tag.to_string())
    }

    /// A hold on the writer of the list `repository:tag`.
    pub(super) fn list_writer(&self, repository: &str, tag: &str) -> Lease {
        self.lists.lease(format!("{repository}:{tag}"))
    }

    /// One turn of [`add_referrer`](Self::add_referrer): adds every entry
    /// waiting to the list until `mine` is read back in it.
    async fn write_waiting(
        &self,
        repository: &str,
        subject: &Digest,
        writer: &ListWriter,
        mine: &Digest,
        ctx: &CallContext,
    ) -> Result<()> {
        let tag = referrers_tag(subject);
        let op = format!("update referrers list {repository}:{tag}");
        for _ in 0..MAX_REWRITES {
            let (mut index, etag) = match self.referrers_list(repository, subject, ctx).await? {
                Listed::Absent => (ImageIndex::default(), None),
                Listed::Index { index, etag } => (*index, etag),
                Listed::NotAnIndex(what) => {
                    return Err(self.protocol_error(
                        op,
                        format!(
                            "the tag {tag} holds {what}, not a referrers list; it is left as it is and {mine} is not listed"
                        ),
                        ErrorKind::InvalidInput,
                    ))
                }
            };
            let batch = writer.waiting();
            let mut added = false;
            for entry in &batch {
                added |= index.add_manifest(entry);
            }
            if !added {
                // Every waiting entry is listed already.
                writer.listed(&batch);
                return Ok(());
            }
            let body = Bytes::from(to_canonical_json(&index));
            let put = self.put_manifest_if(
                repository,
                tag.as_str(),
                &body,
                MEDIA_TYPE_INDEX,
                etag.as_deref(),
                ctx,
            );
            if put.await?.is_none() {
                // The list changed since it was read: read it again.
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settle) => {}
                _ = ctx.cancel.cancelled() => return Err(self.cancelled()),
            }
            if let Listed::Index { index, .. } =
                self.referrers_list(repository, subject, ctx).await?
            {
                let kept: Vec<Descriptor> = batch
                    .into_iter()
                    .filter(|b| index.manifests.iter().any(|d| d.digest == b.digest))
                    .collect();
                writer.listed(&kept);
                if writer.is_listed(mine) {
                    return Ok(());
                }
            }
            tracing::info!(
                registry = %self.host, %repository, tag = %tag,
                "another writer replaced the referrers list; adding again"
            );
        }
        Err(self.protocol_error(
            op,
            format!(
                "other writers replaced the referrers list {MAX_REWRITES} times; {mine} is not listed"
            ),
            ErrorKind::Conflict,
        ))
    }
}

/// The writers of the referrers lists being added to through one registry
/// value (and its clones), by `repository:tag`, each with the number of
/// holds on it: a list's writer lasts while a push or a call holds it.
#[derive(Debug, Default)]
pub(crate) struct Lists(std::sync::Mutex<HashMap<String, (Arc<ListWriter>, usize)>>);

impl Lists {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Arc<ListWriter>, usize)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A hold on the writer of the list `key`, made when there is none.
    fn lease(self: &Arc<Self>, key: String) -> Lease {
        let mut map = self.map();
        let (writer, holds) = map.entry(key.clone()).or_default();
        *holds += 1;
        Lease {
            writer: writer.clone(),
            lists: self.clone(),
            key,
        }
    }
}

/// A hold on one list's [`ListWriter`]; the last one dropped forgets the
/// writer.
#[derive(Debug)]
pub(crate) struct Lease {
    writer: Arc<ListWriter>,
    lists: Arc<Lists>,
    key: String,
}

impl std::ops::Deref for Lease {
    type Target = ListWriter;

    fn deref(&self) -> &ListWriter {
        &self.writer
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut map = self.lists.map();
        if let Some((_, holds)) = map.get_mut(&self.key) {
            *holds = holds.saturating_sub(1);
            if *holds == 0 {
                map.remove(&self.key);
            }
        }
    }
}

impl Lease {
    /// An entry is on its way: a push of a manifest with this list's
    /// subject has begun.
    pub(crate) fn expect(self) -> Coming {
        self.entries().coming += 1;
        Coming { lease: self }
    }
}

/// The additions to one referrers list through one registry value: the
/// entries announced and not yet arrived, those waiting to be written,
/// those written and read back, and the turn to write.
#[derive(Debug, Default)]
pub(crate) struct ListWriter {
    turn: tokio::sync::Mutex<()>,
    entries: std::sync::Mutex<Entries>,
    /// Told when an announced entry arrives or is given up.
    arrived: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Entries {
    /// Entries announced whose push has not reached the list yet.
    coming: usize,
    waiting: Vec<Descriptor>,
    listed: std::collections::HashSet<Digest>,
}

/// An entry announced to a [`ListWriter`]: it [`arrive`](Coming::arrive)s
/// to be written, or, dropped (the push failed, was cancelled, or the
/// registry listed the manifest itself), is no longer waited for.
#[derive(Debug)]
pub(crate) struct Coming {
    lease: Lease,
}

impl Coming {
    /// The announced entry is `entry`, and waits to be written.
    fn arrive(self, entry: &Descriptor) {
        let mut e = self.lease.entries();
        e.listed.remove(&entry.digest);
        e.waiting.push(entry.clone());
        // `drop` counts it off and tells the turn holder.
    }
}

impl Drop for Coming {
    fn drop(&mut self) {
        let mut e = self.lease.entries();
        e.coming = e.coming.saturating_sub(1);
        drop(e);
        self.lease.arrived.notify_waiters();
    }
}

impl ListWriter {
    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until no announced entry is still on its way, or `limit` has
    /// passed.
    async fn gather(&self, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            // Registered before the count is read, so no arrival is missed.
            arrived.as_mut().enable();
            if self.entries().coming == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return;
            }
        }
    }

    /// The entries waiting now.
    fn waiting(&self) -> Vec<Descriptor> {
        self.entries().waiting.clone()
    }

    /// These entries were read back in the list.
    fn listed(&self, entries: &[Descriptor]) {
        let mut e = self.entries();
        for entry in entries {
            e.waiting.retain(|w| w.digest != entry.digest);
            e.listed.insert(entry.digest.clone());
        }
    }

    fn is_listed(&self, digest: &Digest) -> bool {
        self.entries().listed.contains(digest)
    }

    /// A call gave up on `digest`: it waits no more.
    fn forget(&self, digest: &Digest) {
        self.entries().waiting.retain(|w| &w.digest != digest);
    }
}

/// What a referrers tag holds.
enum Listed {
    Absent,
    Index {
        index: Box<ImageIndex>,
        etag: Option<String>,
    },
    /// Something else, described.
    NotAnIndex(String),
}

/// Whether the registry answered a manifest PUT with `OCI-Subject` naming
/// `subject`: it serves the referrers API and listed the manifest itself.
pub(super) fn took_subject(headers: &HeaderMap, subject: &Digest) -> bool {
    headers
        .get("oci-subject")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == subject.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lists_writer_lasts_while_a_push_or_a_call_holds_it() {
        let lists = Arc::new(Lists::default());
        let key = || "shop/app:sha256-00".to_owned();
        let coming = lists.lease(key()).expect();
        let call = lists.lease(key());
        let other = lists.lease("shop/app:sha256-11".to_owned());
        assert!(Arc::ptr_eq(&coming.lease.writer, &call.writer));
        assert!(!Arc::ptr_eq(&call.writer, &other.writer));
        assert_eq!(call.entries().coming, 1);
        drop(other);
        assert_eq!(lists.map().len(), 1);
        drop(coming);
        assert_eq!(call.entries().coming, 0);
        assert_eq!(lists.map().len(), 1, "the call still holds it");
        drop(call);
        assert!(lists.map().is_empty());
        let again = lists.lease(key());
        assert_eq!(again.entries().coming, 0);
        assert_eq!(lists.map()[&key()].1, 1);
    }
}
