#!/usr/bin/env python3
"""Builds a large governed history for benchmarking `prgate audit`, with `git fast-import`.

usage: gen-audit-history.py REPO_DIR [N=100000]

The branch `main` gets N first-parent commits: a root commit with the policy, then mostly
ungoverned doc changes, and every 10th a merge commit of an agent branch that changes
`firewall/` (branched five commits earlier, so the merge is a real three-way merge), with the
trailers prgate writes and a note under refs/notes/prgate recording a successful execution.
Every record is correct, so the audit of this history is clean.

Object ids are needed inside later messages (Prgate-Head) and notes (merge, base); fast-import
answers `get-mark` on its output while the stream is still being written.
"""

import json
import os
import subprocess
import sys

POLICY = """version = 1
[[rules]]
name = "firewall"
paths = ["firewall/**"]
approvers = { users = ["alice"] }
executor = "firewall"

[[rules]]
name = "policy"
paths = [".github/prgate.toml"]
approvers = { users = ["alice", "bob"] }
min_approvals = 2
"""

T0 = 1_700_000_000
DOCS = 200
FIREWALL = 50


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    repo = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    if os.path.exists(repo):
        sys.exit(f"{repo} exists; remove it or pick another directory")
    subprocess.run(["git", "init", "-q", "--bare", repo], check=True)
    fi = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"],
        cwd=repo,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    out = fi.stdin

    def w(s):
        out.write(s.encode() if isinstance(s, str) else s)

    def data(s):
        b = s.encode()
        w(f"data {len(b)}\n")
        w(b)
        w("\n")

    def get_mark(mark):
        w(f"get-mark :{mark}\n")
        out.flush()
        return fi.stdout.readline().decode().strip()

    mark = 0

    def new_mark():
        nonlocal mark
        mark += 1
        return mark

    def commit(ref, msg, author, t, parent=None, merge=None, files=()):
        m = new_mark()
        w(f"commit {ref}\nmark :{m}\n")
        w(f"author {author} <{author.lower()}@example.com> {t} +0000\n")
        w(f"committer GitHub <noreply@github.com> {t} +0000\n")
        data(msg)
        if parent is not None:
            w(f"from :{parent}\n")
        if merge is not None:
            w(f"merge :{merge}\n")
        for path, content in files:
            w(f"M 100644 inline {path}\n")
            data(content)
        w("\n")
        return m

    policy_mark = new_mark()
    w(f"blob\nmark :{policy_mark}\n")
    data(POLICY)
    root_files = [("README", "hello\n")]
    root_files += [(f"docs/d{k}.md", f"doc {k}\n") for k in range(DOCS)]
    root_files += [(f"firewall/f{k}.rules", f"allow {k}\n") for k in range(FIREWALL)]
    root_files += [(f"src/m{k}.rs", f"// module {k}\n") for k in range(20)]
    root = commit("refs/heads/main", "initial", "Alice", T0, files=root_files)
    # The policy arrives in the second commit, so the root is "history before the policy".
    first_parent = [root]
    policy_blob = get_mark(policy_mark)
    policy_commit = commit(
        "refs/heads/main",
        "add the policy",
        "Alice",
        T0 + 1,
        parent=root,
        files=[(".github/prgate.toml", POLICY)],
    )
    first_parent.append(policy_commit)
    notes = []
    governed = 0
    for i in range(2, n):
        t = T0 + i * 60
        tip = first_parent[-1]
        if i % 10 == 0:
            k = (i // 10) % FIREWALL
            fork = first_parent[-5]
            content = f"allow {k}\nallow {i}\n"
            head = commit(
                "refs/heads/agent",
                f"open port {i}",
                "ops-agent",
                t - 30,
                parent=fork,
                files=[(f"firewall/f{k}.rules", content)],
            )
            head_sha = get_mark(head)
            base_sha = get_mark(tip)
            pull = i // 10
            msg = (
                f"Merge pull request #{pull} from acme/prgate/ops-agent/port-{i}\n\n"
                f"Open port {i}\n\n"
                f"Prgate-Pull: acme/infra#{pull}\n"
                f"Prgate-Head: {head_sha}\n"
                f"Prgate-Policy: {policy_blob}\n"
                f"Approved-by: alice <review {1000 + i} at 2026-11-21T10:00:00Z>\n"
            )
            m = commit(
                "refs/heads/main",
                msg,
                "prgate",
                t,
                parent=tip,
                merge=head,
                files=[(f"firewall/f{k}.rules", content)],
            )
            m_sha = get_mark(m)
            note = {
                "version": 1,
                "repo": "acme/infra",
                "pull": pull,
                "base": base_sha,
                "head": head_sha,
                "merge": m_sha,
                "policy_blob": policy_blob,
                "rules": ["firewall"],
                "approvals": [
                    {
                        "login": "alice",
                        "user_id": 7,
                        "review_id": 1000 + i,
                        "submitted_at": "2026-11-21T10:00:00Z",
                    }
                ],
                "decided_at": "2026-11-21T10:00:05Z",
                "execution": {
                    "executor": "firewall",
                    "started_at": "2026-11-21T10:01:00Z",
                    "finished_at": "2026-11-21T10:01:03Z",
                    "exit_code": 0,
                    "output_sha256": "00" * 32,
                    "outcome": "succeeded",
                },
            }
            notes.append((m, json.dumps(note, indent=2) + "\n"))
            governed += 1
        else:
            d = i % DOCS
            m = commit(
                "refs/heads/main",
                f"docs: update d{d} ({i})",
                ["Dev", "Writer", "Bot"][i % 3],
                t,
                parent=tip,
                files=[(f"docs/d{d}.md", f"doc {d}, revision {i}\n")],
            )
        first_parent.append(m)
    w("commit refs/notes/prgate\n")
    w(f"committer prgate <prgate@localhost> {T0 + n * 60} +0000\n")
    data("prgate notes")
    for m, text in notes:
        w(f"N inline :{m}\n")
        data(text)
    w("\ndone\n")
    out.close()
    if fi.wait() != 0:
        sys.exit("git fast-import failed")
    # A repository as a clone or a maintained checkout has it: packed, with a commit-graph.
    subprocess.run(["git", "gc", "--quiet"], cwd=repo, check=True)
    print(json.dumps({"repo": repo, "first_parent_commits": n, "governed_merges": governed}))


if __name__ == "__main__":
    main()
