//! The import graph: module-level edges from the paths each module names, the file-level
//! graph they make, its cycles (strongly connected components), and the import table.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::refs::{self, Alias, Collected};
use crate::resolve::Resolver;
use crate::tree::{Crate, ModId};

/// A module naming something inside another module, with where it does so.
#[derive(Clone, Debug)]
pub struct Edge {
    pub from: ModId,
    pub to: ModId,
    pub line: usize,
    /// The path as written.
    pub text: String,
}

/// Every edge between two different modules, in module and then line order.
pub fn edges(krate: &Crate) -> Vec<Edge> {
    let collected: Vec<Collected> = krate
        .modules
        .iter()
        .map(|module| refs::collect(&module.items))
        .collect();
    let aliases: Vec<Vec<Alias>> = collected.iter().map(|c| c.aliases.clone()).collect();
    let resolver = Resolver::new(krate, &aliases);
    let mut edges = Vec::new();
    for (from, c) in collected.iter().enumerate() {
        for path in &c.refs {
            match resolver.resolve(from, path) {
                Some(to) if to != from => edges.push(Edge {
                    from,
                    to,
                    line: path.line,
                    text: path.text(),
                }),
                _ => {}
            }
        }
    }
    edges
}

/// The file-level graph: a node per file (inline modules belong to their file, except those
/// with `#[path]`, which are folders of their own). An edge into the importer's own
/// descendants is left out (a parent composing its children is no layering problem), and so
/// is an edge within one node.
pub struct FileGraph<'a> {
    /// The node modules, ordered by name.
    pub nodes: Vec<ModId>,
    pub names: Vec<String>,
    /// `succ[a][b]`: the first edge from node `a` to node `b`.
    pub succ: Vec<BTreeMap<usize, &'a Edge>>,
}

impl<'a> FileGraph<'a> {
    pub fn new(krate: &Crate, edges: &'a [Edge]) -> Self {
        let mut by_name: BTreeMap<String, ModId> = BTreeMap::new();
        for id in 0..krate.modules.len() {
            let node = krate.node(id);
            by_name.insert(krate.node_name(node), node);
        }
        let names: Vec<String> = by_name.keys().cloned().collect();
        let nodes: Vec<ModId> = by_name.values().copied().collect();
        let index: BTreeMap<ModId, usize> =
            nodes.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let mut succ: Vec<BTreeMap<usize, &Edge>> = vec![BTreeMap::new(); nodes.len()];
        for edge in edges {
            let from = krate.node(edge.from);
            let to = krate.node(edge.to);
            if from == to || krate.is_within(edge.to, from) {
                continue;
            }
            let slot = succ[index[&from]].entry(index[&to]).or_insert(edge);
            if edge.line < slot.line {
                *slot = edge;
            }
        }
        FileGraph { nodes, names, succ }
    }

    /// The strongly connected components with more than one node (Tarjan), each sorted, in
    /// order of their first node.
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        let mut tarjan = Tarjan {
            graph: self,
            next: 0,
            index: vec![None; self.nodes.len()],
            low: vec![0; self.nodes.len()],
            stack: Vec::new(),
            on_stack: vec![false; self.nodes.len()],
            sccs: Vec::new(),
        };
        for v in 0..self.nodes.len() {
            if tarjan.index[v].is_none() {
                tarjan.visit(v);
            }
        }
        let mut sccs: Vec<Vec<usize>> = tarjan
            .sccs
            .into_iter()
            .filter(|scc| scc.len() > 1)
            .map(|mut scc| {
                scc.sort_unstable();
                scc
            })
            .collect();
        sccs.sort();
        sccs
    }

    /// Chains that show a component's cycle: for each of its nodes, a shortest cycle
    /// through it, each cycle once. A chain lists its nodes from its smallest; the edge from
    /// the last goes back to the first.
    pub fn chains(&self, scc: &[usize]) -> Vec<Vec<usize>> {
        let inside: BTreeSet<usize> = scc.iter().copied().collect();
        let mut chains = BTreeSet::new();
        for &start in scc {
            if let Some(mut chain) = self.shortest_cycle(start, &inside) {
                let smallest = (0..chain.len()).min_by_key(|&i| chain[i]).unwrap_or(0);
                chain.rotate_left(smallest);
                chains.insert(chain);
            }
        }
        chains.into_iter().collect()
    }

    /// A shortest path from `start` back to itself within `inside` (breadth first).
    fn shortest_cycle(&self, start: usize, inside: &BTreeSet<usize>) -> Option<Vec<usize>> {
        let mut came_from: BTreeMap<usize, usize> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(v) = queue.pop_front() {
            for &w in self.succ[v].keys() {
                if !inside.contains(&w) {
                    continue;
                }
                if w == start {
                    let mut chain = vec![v];
                    let mut cur = v;
                    while cur != start {
                        cur = came_from[&cur];
                        chain.push(cur);
                    }
                    chain.reverse();
                    return Some(chain);
                }
                if let Entry::Vacant(slot) = came_from.entry(w) {
                    slot.insert(v);
                    queue.push_back(w);
                }
            }
        }
        None
    }
}

struct Tarjan<'g, 'a> {
    graph: &'g FileGraph<'a>,
    next: usize,
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    stack: Vec<usize>,
    on_stack: Vec<bool>,
    sccs: Vec<Vec<usize>>,
}

impl Tarjan<'_, '_> {
    fn visit(&mut self, v: usize) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        let graph = self.graph;
        for &w in graph.succ[v].keys() {
            match self.index[w] {
                None => {
                    self.visit(w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(index) if self.on_stack[w] => self.low[v] = self.low[v].min(index),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                scc.push(w);
                if w == v {
                    break;
                }
            }
            self.sccs.push(scc);
        }
    }
}

/// The import table: for each file in the crate's own folder, what it imports, by file, or
/// by the crate root's module for what lies outside the folder (`abi`, `policy`, ...).
/// Unlike the cycle check, imports of a file's own submodules are listed.
pub fn table(krate: &Crate, edges: &[Edge]) -> BTreeMap<String, BTreeSet<String>> {
    let mut rows: BTreeMap<String, BTreeSet<String>> = krate
        .files
        .keys()
        .filter(|file| file.starts_with(&krate.dir))
        .map(|file| (krate.show(file), BTreeSet::new()))
        .collect();
    for edge in edges {
        let source = &krate.modules[edge.from].file;
        if !source.starts_with(&krate.dir) {
            continue;
        }
        let node = krate.node(edge.to);
        let target = if krate.home(node).starts_with(&krate.dir) {
            krate.node_name(node)
        } else {
            krate.module_path(krate.top(edge.to))
        };
        let source = krate.show(source);
        if target != source {
            rows.entry(source).or_default().insert(target);
        }
    }
    rows
}
