#!/usr/bin/env python3
"""Prints prgate's module graph (top-level modules of the library, from `crate::` paths in
the code) as Mermaid, and any cycle between modules. A module is `src/<name>.rs` or
`src/<name>/`. Usage: scripts/module-graph.py [SRC_DIR] (default: src). Exit 1 on a cycle."""
import os
import re
import sys

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

# Cycles: strongly connected components with more than one module (Tarjan).
index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges[v]:
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
        if len(comp) > 1:
            out.append(sorted(comp))
sys.setrecursionlimit(10000)
for v in modules:
    if v not in index:
        visit(v)
if out:
    for c in out:
        print("cycle: " + " <-> ".join(c), file=sys.stderr)
    sys.exit(1)
print("no cycle between top-level modules", file=sys.stderr)
