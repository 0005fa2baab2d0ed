//! A push over HTTP: reads its ref update commands, refuses the updates branch protection
//! forbids (with GitHub's GH006 messages and `protected branch hook declined`), runs
//! `git receive-pack` for the rest, and announces the moves with the authenticated pusher as
//! actor. All of it happens under the world lock, so the background scan cannot announce a
//! pushed move first, without its pusher.
//!
//! GitHub refuses a push to a protected branch unless the pusher may bypass protection or the
//! new tip already has every required status check passing ("Pull requests that are
//! up-to-date and pass required status checks can be merged locally and pushed to the
//! protected branch"):
//! https://docs.github.com/en/pull-requests/how-tos/merge-and-close-pull-requests/troubleshooting-required-status-checks
//! Force pushes and deletions of a protected branch are blocked by default:
//! https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/about-protected-branches
//! Stricter than GitHub: a merge commit pushed on top of a passing PR head needs the
//! statuses on itself, since the simulator does not model GitHub's test merge commits.

use git2::Oid;

use super::gitproc::{Service, run_git};
use super::pktline::{self, Packet};
use super::scan::{self, Cause};
use super::world::Repo;
use super::{Sim, gitstore, protection};
use crate::ids::UserId;

/// One ref update of a push: `<old> <new> <ref>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub refname: String,
}

impl RefUpdate {
    fn is_zero(sha: &str) -> bool {
        sha.bytes().all(|b| b == b'0')
    }
    pub fn is_deletion(&self) -> bool {
        Self::is_zero(&self.new)
    }
    pub fn is_creation(&self) -> bool {
        Self::is_zero(&self.old)
    }
}

/// The command section of a receive-pack request; the pack (and push options) follow it at
/// `rest`.
#[derive(Debug, Clone)]
pub struct PushRequest {
    shallow: Vec<Vec<u8>>,
    pub updates: Vec<RefUpdate>,
    /// The capabilities as sent after the NUL of the first command, unparsed.
    capabilities: String,
    rest: usize,
}

impl PushRequest {
    pub fn parse(body: &[u8]) -> Result<PushRequest, String> {
        let mut req = PushRequest {
            shallow: vec![],
            updates: vec![],
            capabilities: String::new(),
            rest: 0,
        };
        let mut at = 0;
        loop {
            let (packet, next) =
                pktline::read(body, at).ok_or("malformed receive-pack request: bad pkt-line")?;
            at = next;
            let line = match packet {
                Packet::Flush => break,
                Packet::Data(d) => d,
            };
            if line.starts_with(b"shallow ") {
                req.shallow.push(line.to_vec());
                continue;
            }
            if line.starts_with(b"push-cert") {
                return Err("signed pushes are not simulated".into());
            }
            let (command, caps) = match line.iter().position(|b| *b == 0) {
                Some(nul) => (&line[..nul], Some(&line[nul + 1..])),
                None => (line, None),
            };
            if let Some(c) = caps.filter(|_| req.updates.is_empty()) {
                req.capabilities = String::from_utf8_lossy(c).into_owned();
            }
            let command = std::str::from_utf8(command)
                .map_err(|_| "malformed receive-pack command: not UTF-8")?
                .trim_end_matches('\n');
            let mut parts = command.splitn(3, ' ');
            let (Some(old), Some(new), Some(refname)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(format!("malformed receive-pack command {command:?}"));
            };
            let is_oid = |s: &str| {
                (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
            };
            if !is_oid(old) || !is_oid(new) {
                return Err(format!("malformed receive-pack command {command:?}"));
            }
            req.updates.push(RefUpdate {
                old: old.to_string(),
                new: new.to_string(),
                refname: refname.to_string(),
            });
        }
        req.rest = at;
        Ok(req)
    }

    fn has_capability(&self, name: &str) -> bool {
        self.capabilities.split(' ').any(|c| c == name)
    }

    /// The same request with only `keep` of its updates (the pack is kept whole).
    fn with_updates(&self, body: &[u8], keep: &[&RefUpdate]) -> Vec<u8> {
        let mut out = Vec::new();
        for s in &self.shallow {
            pktline::write(&mut out, s);
        }
        for (i, u) in keep.iter().enumerate() {
            let mut line = format!("{} {} {}", u.old, u.new, u.refname).into_bytes();
            if i == 0 {
                line.push(0);
                line.extend_from_slice(self.capabilities.as_bytes());
            }
            pktline::write(&mut out, &line);
        }
        out.extend_from_slice(pktline::FLUSH);
        out.extend_from_slice(body.get(self.rest..).unwrap_or_default());
        out
    }
}

/// Why protection refuses `u` by `pusher`, as the `remote:` lines git prints; `None` when
/// it does not.
fn refusal(
    r: &Repo,
    repo: &git2::Repository,
    pusher: UserId,
    u: &RefUpdate,
) -> Option<Vec<String>> {
    // The merge queue's branches are GitHub's to write ("gh-readonly-queue"): a push to one
    // would change what the queue tested, so none is taken, from anyone.
    if protection::is_queue_branch(&u.refname) {
        return Some(vec![
            format!(
                "error: GH006: Protected branch update failed for {}.",
                u.refname
            ),
            "error: Cannot update a merge queue branch".to_string(),
        ]);
    }
    if !protection::is_protected(r, &u.refname) || protection::bypasses(r, pusher) {
        return None;
    }
    let reasons: Vec<String> = if u.is_deletion() {
        vec!["Cannot delete this protected branch".into()]
    } else if !u.is_creation() && is_force(repo, &u.old, &u.new) {
        vec!["Cannot force-push to this branch".into()]
    } else if protection::requires_queue(r, &u.refname) {
        // "Require merge queue": changes reach the branch through the queue only, whatever
        // checks the pushed commit has.
        vec![protection::THROUGH_THE_QUEUE.to_string()]
    } else {
        // A commit that is not in the repository yet has no statuses: it is "expected".
        protection::unmet_checks(r, &u.new)
            .into_iter()
            .map(|(ctx, state)| match state {
                None => format!("Required status check \"{ctx}\" is expected."),
                Some("pending") => format!("Required status check \"{ctx}\" is pending."),
                Some(_) => format!("Required status check \"{ctx}\" is failing."),
            })
            .collect()
    };
    if reasons.is_empty() {
        return None;
    }
    let mut lines = vec![format!(
        "error: GH006: Protected branch update failed for {}.",
        u.refname
    )];
    lines.extend(reasons.into_iter().map(|r| format!("error: {r}")));
    Some(lines)
}

/// Whether moving a ref from `old` to `new` drops commits. A `new` not in the repository
/// yet (it is in the pack) cannot be judged here, and needs no judging: it has no statuses,
/// so protection refuses it anyway.
fn is_force(repo: &git2::Repository, old: &str, new: &str) -> bool {
    let (Ok(o), Ok(n)) = (Oid::from_str(old), Oid::from_str(new)) else {
        return false;
    };
    if repo.find_commit(n).is_err() {
        return false;
    }
    !(o == n || repo.graph_descendant_of(n, o).unwrap_or(false))
}

/// Handles one receive-pack request of `pusher` to repo `idx` and returns the response body.
/// Blocking: call it off the async runtime.
pub fn serve(
    sim: &Sim,
    idx: usize,
    pusher: UserId,
    req: &PushRequest,
    body: &[u8],
    protocol: Option<&str>,
) -> Result<Vec<u8>, String> {
    let mut w = sim.world();
    // Moves made past the server since the last scan are not this pusher's.
    scan::scan_repo(sim, &mut w, idx, Cause::Unseen);
    let git_dir = w.repos[idx].git_dir.clone();
    let repo = gitstore::open(&git_dir).map_err(|e| format!("{}: {e}", git_dir.display()))?;
    let refusals: Vec<Option<Vec<String>>> = req
        .updates
        .iter()
        .map(|u| refusal(&w.repos[idx], &repo, pusher, u))
        .collect();
    drop(repo);
    let receive = |input: &[u8]| {
        run_git(
            Service::ReceivePack,
            &["--stateless-rpc"],
            &git_dir,
            protocol,
            input,
        )
    };
    let out = if refusals.iter().all(Option::is_none) {
        receive(body)?
    } else {
        let atomic = req.has_capability("atomic");
        let keep: Vec<&RefUpdate> = req
            .updates
            .iter()
            .zip(&refusals)
            .filter(|(_, r)| r.is_none() && !atomic)
            .map(|(u, _)| u)
            .collect();
        let ran = if keep.is_empty() {
            None
        } else {
            Some(receive(&req.with_updates(body, &keep))?)
        };
        refused_response(req, &refusals, atomic, ran)
    };
    scan::scan_repo(sim, &mut w, idx, Cause::Push(pusher));
    // A push to a queued PR's head takes it out of the queue; one to the base (an admin's)
    // moves every group's base.
    super::queue::tick(sim, &mut w, idx);
    Ok(out)
}

/// The response to a push some of whose updates were refused: receive-pack's answer for the
/// others (if it ran), with an `ng <ref> protected branch hook declined` for each refused
/// update in the report and the GH006 lines on the progress band, where git prints them.
fn refused_response(
    req: &PushRequest,
    refusals: &[Option<Vec<String>>],
    atomic: bool,
    ran: Option<Vec<u8>>,
) -> Vec<u8> {
    let sideband = req.has_capability("side-band-64k") || req.has_capability("side-band");
    let large = req.has_capability("side-band-64k");
    let report = req.has_capability("report-status") || req.has_capability("report-status-v2");
    let (mut status, passed) = match ran {
        None => {
            let mut s = Vec::new();
            pktline::write(&mut s, b"unpack ok\n");
            (s, vec![])
        }
        Some(out) if sideband => match pktline::demux(&out) {
            Some(d) => (d.data, d.messages),
            // Not the stream expected: pass it on as it is rather than lose it.
            None => return out,
        },
        Some(out) => (out, vec![]),
    };
    if status.ends_with(pktline::FLUSH) {
        status.truncate(status.len() - pktline::FLUSH.len());
    }
    for (u, why) in req.updates.iter().zip(refusals) {
        let reason = match why {
            Some(_) => "protected branch hook declined",
            None if atomic => "atomic push failure",
            None => continue,
        };
        pktline::write(
            &mut status,
            format!("ng {} {reason}\n", u.refname).as_bytes(),
        );
    }
    status.extend_from_slice(pktline::FLUSH);
    if !sideband {
        return if report { status } else { Vec::new() };
    }
    let mut out = Vec::new();
    let lines: Vec<&String> = refusals.iter().flatten().flatten().collect();
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    pktline::write_band(&mut out, 2, text.as_bytes(), large);
    for (band, m) in passed {
        pktline::write_band(&mut out, band, &m, large);
    }
    if report {
        pktline::write_band(&mut out, 1, &status, large);
    }
    out.extend_from_slice(pktline::FLUSH);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const Z: &str = "0000000000000000000000000000000000000000";

    fn request(lines: &[&str], pack: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        for l in lines {
            pktline::write(&mut body, l.as_bytes());
        }
        body.extend_from_slice(pktline::FLUSH);
        body.extend_from_slice(pack);
        body
    }

    #[test]
    fn commands_parse_and_a_subset_keeps_capabilities_and_pack() {
        let first = format!("{A} {B} refs/heads/main\0report-status side-band-64k atomic");
        let second = format!("{Z} {B} refs/heads/topic");
        let body = request(&[&first, &second], b"PACKdata");
        let req = PushRequest::parse(&body).unwrap();
        assert_eq!(req.updates.len(), 2);
        assert_eq!(req.updates[0].refname, "refs/heads/main");
        assert!(req.updates[1].is_creation() && !req.updates[1].is_deletion());
        assert!(req.has_capability("atomic") && !req.has_capability("quiet"));
        let kept = req.with_updates(&body, &[&req.updates[1]]);
        let again = PushRequest::parse(&kept).unwrap();
        assert_eq!(again.updates, vec![req.updates[1].clone()]);
        assert!(again.has_capability("side-band-64k"));
        assert!(kept.ends_with(b"0000PACKdata"));
        assert!(PushRequest::parse(b"0000").unwrap().updates.is_empty());
        assert!(PushRequest::parse(&request(&["nonsense"], b"")).is_err());
    }

    #[test]
    fn a_refusal_is_reported_on_the_bands_git_reads() {
        let first = format!("{A} {B} refs/heads/main\0report-status side-band-64k");
        let req = PushRequest::parse(&request(&[&first], b"")).unwrap();
        let why = vec![Some(vec!["error: GH006: no".to_string()])];
        let out = refused_response(&req, &why, false, None);
        let d = pktline::demux(&out).unwrap();
        assert_eq!(d.messages, vec![(2, b"error: GH006: no\n".to_vec())]);
        let mut want = Vec::new();
        pktline::write(&mut want, b"unpack ok\n");
        pktline::write(
            &mut want,
            b"ng refs/heads/main protected branch hook declined\n",
        );
        want.extend_from_slice(pktline::FLUSH);
        assert_eq!(d.data, want);
    }
}
