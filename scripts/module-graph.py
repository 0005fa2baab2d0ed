#!/usr/bin/env python3
"""Prints prgate's module graph (top-level modules of the library, from `crate::` paths in
the code) as Mermaid, and any cycle between modules. A module is `src/<name>.rs` or
`src/<name>/`. Then the same check one level down, file by file: within every folder of the
library and of the simulator (`sim/src`), sibling files (`<name>.rs` or `<name>/`, the
folder's `mod.rs` apart, which only gathers them) must not use each other in a circle.
Usage: scripts/module-graph.py [SRC_DIR] (default: src). Exit 1 on a cycle."""
import os
import re
import sys

sys.setrecursionlimit(10000)


def tarjan(graph):
    index, low, on, stack, found, counter = {}, {}, set(), [], [], [0]
    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            found.append(sorted(comp))
    for v in graph:
        if v not in index:
            visit(v)
    return found


src = sys.argv[1] if len(sys.argv) > 1 else "src"
modules = sorted(
    {f[:-3] for f in os.listdir(src) if f.endswith(".rs") and f not in ("lib.rs", "main.rs")}
    | {d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)) and d != "bin"}
)
edges = {m: set() for m in modules}
uses = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
for m in modules:
    paths = [os.path.join(src, m + ".rs")] if os.path.isfile(os.path.join(src, m + ".rs")) else []
    folder = os.path.join(src, m)
    if os.path.isdir(folder):
        for root, _, files in os.walk(folder):
            paths += [os.path.join(root, f) for f in files if f.endswith(".rs")]
    for p in paths:
        text = open(p, encoding="utf-8").read()
        # Unit tests may use anything; they are not part of the module's dependencies.
        text = text.split("#[cfg(test)]")[0]
        # Comments name modules too; only code is a dependency.
        text = "\n".join(l.split("//")[0] for l in text.splitlines())
        for target in uses.findall(text):
            if target in edges and target != m:
                edges[m].add(target)

print("```mermaid\ngraph LR")
for m in modules:
    for t in sorted(edges[m]):
        print(f"  {m} --> {t}")
print("```")

# Cycles: strongly connected components with more than one module.
out = [c for c in tarjan(edges) if len(c) > 1]
if out:
    for c in out:
        print("cycle: " + " <-> ".join(c), file=sys.stderr)
    sys.exit(1)
print("no cycle between top-level modules", file=sys.stderr)


def code_of(path):
    text = open(path, encoding="utf-8").read().split("#[cfg(test)]")[0]
    return "\n".join(l.split("//")[0] for l in text.splitlines())


def sibling_cycles(crate_root, folder):
    """Cycles between the sibling files of `folder` (a module folder of the crate rooted at
    `crate_root`)."""
    rel = os.path.relpath(folder, crate_root)
    modpath = "" if rel == "." else rel.replace(os.sep, "::")
    names = sorted(
        {f[:-3] for f in os.listdir(folder) if f.endswith(".rs") and f not in ("mod.rs", "lib.rs", "main.rs")}
        | {d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)) and d != "bin"}
    )
    graph = {n: set() for n in names}
    prefix = r"crate::" + (modpath + "::" if modpath else "")
    refs = re.compile(r"\bsuper::([a-z_][a-z0-9_]*)")
    # Inside a sibling folder, `super::super::X` names a sibling too.
    deep = re.compile(r"\bsuper::super::([a-z_][a-z0-9_]*)")
    for n in names:
        files = []
        if os.path.isfile(os.path.join(folder, n + ".rs")):
            files.append((os.path.join(folder, n + ".rs"), refs))
        sub = os.path.join(folder, n)
        if os.path.isdir(sub):
            for root, _, fs in os.walk(sub):
                for f in fs:
                    if f.endswith(".rs"):
                        top = root == sub
                        # In `n/mod.rs` `super::` is this folder; deeper files use super::super.
                        pattern = refs if (top and f == "mod.rs") else deep
                        files.append((os.path.join(root, f), pattern))
        for path, pattern in files:
            text = code_of(path)
            # `use super::{a, b::C}` names a and b.
            text = re.sub(
                r"\b((?:super::)+|" + re.escape(prefix) + r")\{([^}]*)\}",
                lambda m: " ".join(m.group(1) + part.strip() for part in m.group(2).split(",")),
                text,
            )
            for target in pattern.findall(text):
                if target in graph and target != n:
                    graph[n].add(target)
            for target in re.findall(r"\b" + re.escape(prefix) + r"([a-z_][a-z0-9_]*)", text):
                if target in graph and target != n:
                    graph[n].add(target)
    return [c for c in tarjan(graph) if len(c) > 1]


bad = []
sim_src = os.path.join(os.path.dirname(os.path.abspath(src)), "sim", "src")
for crate_root in [src] + ([sim_src] if os.path.isdir(sim_src) else []):
    for root, dirs, _ in os.walk(crate_root):
        if root == crate_root and crate_root == src:
            continue  # the top level is checked above
        for c in sibling_cycles(crate_root, root):
            bad.append(f"{os.path.relpath(root)}: " + " <-> ".join(c))
if bad:
    for b in bad:
        print("file cycle: " + b, file=sys.stderr)
    sys.exit(1)
print("no cycle between the files of a folder", file=sys.stderr)
